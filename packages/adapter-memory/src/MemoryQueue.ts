/**
 * The Queue port in process memory: for tests, demos and single-process embedding.
 *
 * Units wait in a FIFO list, move to `active` while a handler runs, to `delayed` while a retry waits
 * and to `failed` once their redelivery policy is spent (kept, with the last error). Deliveries run on
 * fibers forked into the consumer's scope, at most `concurrency` per consumer; per-region limits
 * (in-flight units and start rate) are shared by every consumer of one queue instance, which is
 * "all processes" for an in-process queue. A handler's failure, defect or interruption is a
 * redelivery, never a consumer failure. Redelivery follows core's `RedeliveryPolicy` (the `redelivery`
 * option): each entry counts its starts and failures, delays are timers on `Clock`, and a unit whose
 * policy is spent is dead-lettered. Cancellations and progress events go through `PubSub`.
 *
 * `consume` returns as soon as the consumer is started; it runs until its scope closes.
 *
 * @since 0.1.0
 */
import type { Domain } from "@myia/certification"
import { Queue, QueueSchedule, RedeliveryPolicy } from "@myia/certification"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** Options of the in-memory queue. */
export interface Options {
  /** The redelivery policy to obey (default: core's `RedeliveryPolicy.defaultPolicy`). */
  readonly redelivery?: RedeliveryPolicy.Options | undefined
  /** Shorthand for `redelivery.maxAttempts` (wins over it). */
  readonly maxAttempts?: number | undefined
  /** Per-region limits shared by every consumer of this queue instance. */
  readonly regionLimits?: Partial<Record<Domain.Region, Queue.RegionLimit>> | undefined
  /** The limit of regions absent from `regionLimits` (default: none). */
  readonly defaultRegionLimit?: Queue.RegionLimit | undefined
}

type State = "waiting" | "delayed" | "active" | "failed"

interface Entry {
  readonly message: Queue.UnitMessage
  state: State
  /** Every start, including retries that do not count as failures (not postponed ones). */
  starts: number
  failures: number
  lastError: string | null
}

interface RegionState {
  inFlight: number
  /** Earliest instant the next unit of this region may start (token bucket of capacity one). */
  nextStartAt: number
}

/** What a consumer picks deliveries from. */
interface Shelf {
  readonly entries: Map<Domain.UnitId, Entry>
  /** Unit ids in delivery order; entries no longer waiting are dropped as they are met. */
  readonly waiting: Array<Domain.UnitId>
  readonly limitOf: (region: Domain.Region) => Queue.RegionLimit | undefined
  readonly regionOf: (region: Domain.Region) => RegionState
}

/**
 * Take the first waiting unit whose region admits a start now and mark it active. Returns the
 * entry, or how long to wait before a rate-limited region admits one (Infinity: wait for a change).
 */
const pick = ({ entries, limitOf, regionOf, waiting }: Shelf, now: number): Entry | number => {
  let wait = Infinity
  for (let i = 0; i < waiting.length; i++) {
    const entry = entries.get(waiting[i]!)
    if (entry === undefined || entry.state !== "waiting") {
      waiting.splice(i--, 1)
      continue
    }
    const region = entry.message.region
    const limit = limitOf(region)
    const state = regionOf(region)
    if (limit !== undefined) {
      if (state.inFlight >= limit.concurrency) continue
      if (limit.ratePerSecond > 0) {
        if (state.nextStartAt > now) {
          wait = Math.min(wait, state.nextStartAt - now)
          continue
        }
        state.nextStartAt = Math.max(now, state.nextStartAt) + 1000 / limit.ratePerSecond
      }
    }
    state.inFlight++
    waiting.splice(i, 1)
    entry.state = "active"
    entry.starts++
    return entry
  }
  return wait
}

/** A readable one-line reason from a handler's failure or defect. */
const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (error instanceof Error) return error.message === "" ? error.name : `${error.name}: ${error.message}`
  if (typeof error === "string") return error
  const json = JSON.stringify(error)
  return json === undefined ? String(error) : json
}

/** What `consume` shares with the rest of one queue instance. */
interface Internals {
  readonly policy: RedeliveryPolicy.RedeliveryPolicy
  readonly shelf: Shelf
  /** The current change signal (`notify` completes it and installs a fresh one). */
  readonly changed: () => Deferred.Deferred<void>
  readonly notify: Effect.Effect<void>
  readonly toWaiting: (entry: Entry, front: boolean) => void
  /** Park the entry as `delayed` for `wait`, then put it back in line (a fiber in the queue's scope). */
  readonly delay: (entry: Entry, wait: Duration.Input) => Effect.Effect<unknown>
}

/** `Queue.consume` over one queue instance's state: a fetch loop plus one fiber per delivery. */
const consumeOf = ({ changed, delay, notify, policy, shelf, toWaiting }: Internals) => {
  const { entries, regionOf } = shelf
  return Effect.fn("MemoryQueue.consume")(function*<R>(consumer: Queue.ConsumeOptions<R>) {
    const scope = yield* Scope.Scope
    // Deliveries live in a child scope registered before the fetch loop: closing runs finalizers in
    // reverse, so the loop stops first and cannot re-take a unit that an interrupted delivery released.
    const deliveries = yield* Scope.fork(scope)
    const concurrency = Math.max(1, consumer.concurrency)
    let inFlight = 0

    const counters = (entry: Entry): RedeliveryPolicy.Counters => ({ attempt: entry.starts, failures: entry.failures })

    const settle = (entry: Entry, exit: Exit.Exit<Queue.DeliveryResult, unknown>) =>
      Effect.gen(function*() {
        const id = entry.message.unitId
        if (entries.get(id) !== entry) return
        if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) {
          // Released, not failed: the next consumer gets it first.
          return toWaiting(entry, true)
        }
        if (Exit.isFailure(exit)) {
          // A failure or defect: counted, and backed off by the policy.
          const wait = yield* RedeliveryPolicy.retryDelay(policy, counters(entry), true)
          return yield* retry(entry, true, describe(exit.cause), wait)
        }
        const result = exit.value
        switch (result._tag) {
          case "Done":
            entries.delete(id)
            return
          case "Postpone":
            entry.starts-- // the unit did not run: the start is given back
            return yield* delay(entry, Duration.millis(Math.max(0, result.delayMillis)))
          case "Retry":
            return yield* retry(
              entry,
              result.countsAsFailure,
              result.reason,
              Duration.millis(Math.max(0, result.delayMillis))
            )
        }
      })

    /** Spend what the retry costs; redeliver after `wait`, or dead-letter once the policy is spent. */
    const retry = (entry: Entry, countsAsFailure: boolean, error: string, wait: Duration.Duration) =>
      Effect.suspend(() => {
        if (countsAsFailure) entry.failures++
        entry.lastError = error
        return RedeliveryPolicy.spent(policy, counters(entry)) === undefined ? delay(entry, wait) : deadLetter(entry)
      })

    const deadLetter = (entry: Entry, why?: string) =>
      Effect.sync(() => {
        entry.state = "failed"
      }).pipe(
        Effect.andThen(Effect.suspend(() =>
          consumer.onDeadLetter(entry.message, entry.lastError ?? why ?? "unknown error", entry.starts)
        )),
        Effect.catchCause((cause) => Effect.logWarning("MemoryQueue: onDeadLetter failed", cause))
      )

    const run = (entry: Entry) => {
      // Starts spent by interruptions: give up before running the handler once more.
      const exhausted = RedeliveryPolicy.spent(policy, { attempt: entry.starts - 1, failures: entry.failures })
      if (exhausted !== undefined) {
        entry.starts--
        return deadLetter(entry, exhausted)
      }
      return Effect.interruptible(Effect.suspend(() =>
        consumer.handler({ message: entry.message, attempt: entry.starts, failures: entry.failures })
      )).pipe(
        // onExit, not Effect.exit: an interruption is not a value, yet the unit must still be released.
        Effect.onExit((exit) => settle(entry, exit))
      )
    }

    const deliver = (entry: Entry) =>
      Effect.suspend(() => run(entry)).pipe(
        Effect.ensuring(Effect.sync(() => {
          inFlight--
          regionOf(entry.message.region).inFlight--
        }).pipe(Effect.andThen(notify))),
        Effect.uninterruptible
      )

    const loop = Effect.gen(function*() {
      while (true) {
        const wakeup = changed()
        const now = yield* Clock.currentTimeMillis
        const picked = inFlight < concurrency ? pick(shelf, now) : Infinity
        if (typeof picked !== "number") {
          inFlight++
          yield* Effect.forkIn(deliver(picked), deliveries)
          continue
        }
        const parked = Deferred.await(wakeup)
        yield* picked === Infinity ? parked : Effect.raceFirst(parked, Effect.sleep(Duration.millis(Math.ceil(picked))))
      }
    })

    yield* Effect.forkIn(loop, scope)
  })
}

/**
 * Build an in-memory Queue; its state lives as long as the returned service. Pending delayed
 * redeliveries are timers in the surrounding scope: closing it cancels them (nothing keeps the
 * process alive after `close()`).
 */
export const make = (options: Options = {}): Effect.Effect<Queue.Queue["Service"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const policy = RedeliveryPolicy.make({
      ...options.redelivery,
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts })
    })
    const entries = new Map<Domain.UnitId, Entry>()
    const waiting: Array<Domain.UnitId> = []
    const regions = new Map<Domain.Region, RegionState>()
    const cancellations = yield* PubSub.unbounded<Domain.JobId>()
    const events = yield* PubSub.unbounded<Queue.ProgressEvent>()
    // Consumers park on `changed` when nothing is deliverable; every state change completes it.
    let changed = Deferred.makeUnsafe<void>()

    const notify = Effect.sync(() => {
      const previous = changed
      changed = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(previous, Exit.void)
    })

    const limitOf = (region: Domain.Region): Queue.RegionLimit | undefined =>
      options.regionLimits?.[region] ?? options.defaultRegionLimit

    const regionOf = (region: Domain.Region): RegionState => {
      let state = regions.get(region)
      if (state === undefined) {
        state = { inFlight: 0, nextStartAt: 0 }
        regions.set(region, state)
      }
      return state
    }

    const toWaiting = (entry: Entry, front: boolean) => {
      entry.state = "waiting"
      if (front) waiting.unshift(entry.message.unitId)
      else waiting.push(entry.message.unitId)
    }

    const delay = (entry: Entry, wait: Duration.Input) =>
      Effect.sync(() => {
        entry.state = "delayed"
      }).pipe(
        Effect.andThen(Effect.sleep(wait)),
        Effect.andThen(Effect.sync(() => {
          // A cancel may have removed it meanwhile.
          if (entries.get(entry.message.unitId) === entry && entry.state === "delayed") toWaiting(entry, false)
        })),
        Effect.andThen(notify),
        Effect.forkIn(scope)
      )

    const shelf: Shelf = { entries, waiting, limitOf, regionOf }

    const enqueue = Effect.fn("MemoryQueue.enqueue")(function*(messages: ReadonlyArray<Queue.UnitMessage>) {
      for (const message of messages) {
        if (entries.has(message.unitId)) continue
        const entry: Entry = { message, state: "waiting", starts: 0, failures: 0, lastError: null }
        entries.set(message.unitId, entry)
        toWaiting(entry, false)
      }
      yield* notify
    })

    const consume = consumeOf({ policy, shelf, changed: () => changed, notify, toWaiting, delay })

    const cancelJob = Effect.fn("MemoryQueue.cancelJob")(function*(jobId: Domain.JobId) {
      for (const [id, entry] of entries) {
        if (entry.message.jobId === jobId && (entry.state === "waiting" || entry.state === "delayed")) entries.delete(id)
      }
      yield* PubSub.publish(cancellations, jobId)
      yield* notify
    })

    const publish = Effect.fn("MemoryQueue.publish")(function*(event: Queue.ProgressEvent) {
      yield* PubSub.publish(events, event)
    })

    const counts = Effect.sync((): Queue.QueueCounts => {
      const counts = { waiting: 0, active: 0, delayed: 0, failed: 0 }
      for (const entry of entries.values()) counts[entry.state]++
      return counts
    })

    // Issue 15: the reconciler's queue checks. Acknowledged units are forgotten, so they are `missing`.
    const inspect = Effect.fn("MemoryQueue.inspect")(function*(unitIds: ReadonlyArray<Domain.UnitId>) {
      return unitIds.map((unitId): Queue.Entry => {
        const entry = entries.get(unitId)
        return entry === undefined
          ? { unitId, state: "missing", lastError: null }
          : { unitId, state: entry.state, lastError: entry.state === "failed" ? entry.lastError : null }
      })
    })

    const requeue = Effect.fn("MemoryQueue.requeue")(function*(messages: ReadonlyArray<Queue.UnitMessage>) {
      for (const message of messages) {
        if (entries.get(message.unitId)?.state === "failed") entries.delete(message.unitId)
      }
      yield* enqueue(messages)
    })

    // Schedules (issue 15): every call runs its own timer on the shared tick instants; the first to
    // reach a tick claims it here, so each tick runs once per queue instance ("all processes").
    const lastTick = new Map<string, number>()

    const schedule = Effect.fn("MemoryQueue.schedule")(function*<R>(
      options: Queue.ScheduleOptions,
      run: (tick: Queue.ScheduleTick) => Effect.Effect<void, unknown, R>
    ) {
      const parsed = yield* QueueSchedule.validate(options)
      const scope = yield* Scope.Scope
      const runTick = (at: number) =>
        Effect.suspend(() => run({ name: parsed.name, key: QueueSchedule.keyOf(parsed.name, at), at: DateTime.makeUnsafe(at) }))
          .pipe(Effect.catchCause((cause) => Effect.logWarning(`MemoryQueue: schedule ${parsed.name} failed`, cause)))
      const loop = Effect.gen(function*() {
        let after = yield* Clock.currentTimeMillis
        while (true) {
          // Ticks missed while a run was slow are skipped, not replayed back to back.
          const at = QueueSchedule.nextTick(parsed, Math.max(after, (yield* Clock.currentTimeMillis) - 1))
          const now = yield* Clock.currentTimeMillis
          if (at > now) yield* Effect.sleep(Duration.millis(at - now))
          after = at
          if ((lastTick.get(parsed.name) ?? -Infinity) >= at) continue
          lastTick.set(parsed.name, at)
          yield* runTick(at)
        }
      })
      yield* Effect.forkIn(loop, scope)
    })

    return Queue.Queue.of({
      redelivery: policy,
      enqueue,
      consume,
      cancelJob,
      cancellations: Stream.fromPubSub(cancellations),
      publish,
      events: Stream.fromPubSub(events),
      counts,
      inspect,
      requeue,
      schedule
    })
  })

/** An in-memory Queue; each build of the layer starts empty. */
export const layer = (options: Options = {}): Layer.Layer<Queue.Queue> => Layer.effect(Queue.Queue, make(options))
