/**
 * The `Queue` port on BullMQ and Redis: units travel between processes and machines.
 *
 * **Design**
 * - One BullMQ queue (`queueName`) holds every unit; the unit id is the BullMQ job id, so enqueue is
 *   idempotent. Completed units are kept for `keepCompleted` (default 1 hour) so a redelivered
 *   duplicate enqueue stays deduplicated; removed jobs no longer deduplicate, so Storage stays the
 *   source of truth for "one result per unit".
 * - Per-region limits across every process: BullMQ's open-source limiter and global concurrency are
 *   per queue (per-group limits are BullMQ Pro), so `RegionLimiter` keeps a Redis lease set and a
 *   sliding-window start log per region (one Lua script, Redis time). A delivery that finds its
 *   region full is moved back to `delayed` without counting an attempt and without running the
 *   handler. One queue (rather than one per region) keeps one Worker and one blocking connection per
 *   process, keeps `concurrency` an exact per-process bound, and lets leases expire when a process dies.
 * - Delivery follows core's `RedeliveryPolicy` (the `redelivery` option), translated to BullMQ:
 *   counted failures are BullMQ attempts (`attemptsMade` is the failure count), every start is
 *   counted in a Redis key per unit (for `maxStarts`), and each delay is the policy's, handed to
 *   BullMQ's backoff strategy (capped at `maxDelay`, on this process's clock, see `delaysOf`).
 *   `Done` completes; an uncounted `Retry` or a
 *   `Postpone` moves the unit to `delayed` without a failed attempt (a `Postpone` also gives its start
 *   back); a handler failure, defect or counted `Retry` is a failed attempt. Once the policy is spent,
 *   `onDeadLetter` runs and the unit lands in BullMQ's failed set (the dead letters, see
 *   `BullMqQueueAdmin.deadLetters`) with its last error. The policy that decides is the
 *   **consuming** layer's: a unit is enqueued with an attempt limit BullMQ never reaches
 *   (`unboundedAttempts`), so a producer built with another `maxAttempts` (an API process on the
 *   default 3, workers on `CERTIFICATION_MAX_RETRIES=5`) cannot make BullMQ fail a unit the worker
 *   has just released for a retry — which stranded it until the reconciler ended it INCONCLUSIVE.
 * - A process that dies mid-delivery stops renewing its lock; after `lockDuration` the stalled check
 *   (every `stalledInterval`) moves the unit back to waiting and another process runs it.
 * - Closing `consume`'s scope interrupts in-flight handlers and moves their units back to the queue
 *   at once (not failed, no attempt spent), then closes the Worker.
 * - Cancel: a Redis set per job id (`<prefix>:<queue>:mc:job:<jobId>`) indexes its unit ids; cancel
 *   removes those still waiting or delayed and PUBLISHes the job id; each layer keeps one SUBSCRIBE
 *   connection that feeds `cancellations` and `events` in every process.
 *
 * @since 0.1.0
 */
import {
  type ConnectionOptions,
  DelayedError,
  type Job as BullJob,
  UnrecoverableError
} from "bullmq"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Redis, RedisOptions } from "ioredis"
import {
  Domain,
  GovernorStore as GovernorStorePort,
  Queue as QueuePort,
  RedeliveryPolicy,
  Region as RegionModule,
  RequestRateLimit as RequestRateLimitPort
} from "@myia/certification"
import * as RedisConnection from "./RedisConnection.ts"
import * as RedisGovernorStore from "./RedisGovernorStore.ts"
import * as RegionLimiter from "./RegionLimiter.ts"
import * as Scheduler from "./Scheduler.ts"
import { isDeferrable, UnitQueue, UnitWorker } from "./TolerantJob.ts"

type Region = Domain.Region
/** A region code as a literal (`"us-east-1"`), so option tables need no branding and typos fail to compile. */
export type RegionCode = keyof typeof RegionModule.regions
type RegionLimit = QueuePort.RegionLimit
type UnitMessage = QueuePort.UnitMessage
type QueueError = QueuePort.QueueError
type ProgressEvent = QueuePort.ProgressEvent
type DeliveryResult = QueuePort.DeliveryResult
const Queue = QueuePort.Queue

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** Options of {@link layer}. */
export interface Options {
  /** ioredis options, a `redis://` URL, or a host-owned ioredis instance (never closed by the layer). */
  readonly connection: RedisConnection.ConnectionInput
  /** BullMQ queue name (default `model-certification`). */
  readonly queueName?: string | undefined
  /** BullMQ key prefix (default `bull`). */
  readonly prefix?: string | undefined
  /** The redelivery policy to obey (default: core's `RedeliveryPolicy.defaultPolicy`). */
  readonly redelivery?: RedeliveryPolicy.Options | undefined
  /** Shorthand for `redelivery.maxAttempts` (wins over it; `CERTIFICATION_MAX_RETRIES` in `layerConfig`). */
  readonly maxAttempts?: number | undefined
  /** Shorthand for `redelivery.maxStarts` (wins over it). */
  readonly maxStarts?: number | undefined
  /** Per-region limits across every process. */
  readonly regionLimits?: Partial<Record<RegionCode, RegionLimit>> | undefined
  /** Limit for regions missing from `regionLimits` (default: none). */
  readonly defaultRegionLimit?: RegionLimit | undefined
  /**
   * Bedrock requests per second per region (`"*"` for the others), shared by every process: the
   * layer also provides core's `RequestRateLimit`, and the runner takes one token per request.
   */
  readonly requestRates?: RequestRateLimitPort.RequestRates | undefined
  /** How long a worker's lock on a unit lasts without renewal (default 30 seconds). */
  readonly lockDuration?: Duration.Input | undefined
  /** How often workers look for units whose worker died (default 30 seconds). */
  readonly stalledInterval?: Duration.Input | undefined
  /** Times a unit may be recovered from a dead worker before it fails (default 3). */
  readonly maxStalledCount?: number | undefined
  /** How long completed units stay (and keep deduplicating enqueues) (default 1 hour). */
  readonly keepCompleted?: Duration.Input | undefined
  /** How long dead letters stay in the failed set (default 7 days). */
  readonly keepFailed?: Duration.Input | undefined
  /** How long closing a consumer waits for the Worker to stop before forcing it (default 10 seconds). */
  readonly closeTimeout?: Duration.Input | undefined
  /**
   * Graceful drain when a consumer closes: stop fetching at once, let in-flight handlers finish for
   * up to this long, then release the rest (default 0: release in-flight units at once).
   */
  readonly drainGrace?: Duration.Input | undefined
  /**
   * Issue 15: the longest a unit is ever parked in BullMQ's delayed set (default 15 minutes). Delays
   * are placed on this process's clock (the one BullMQ promotes by); every consumer also promotes,
   * every few seconds, units due beyond `maxDelay` on its own clock, so a clock far ahead cannot park work.
   */
  readonly maxDelay?: Duration.Input | undefined
}

/** The default queue name (the original system's `CERTIFICATION_QUEUE_NAME`). */
export const defaultQueueName = "model-certification"

// ---------------------------------------------------------------------------------------------
// Admin service
// ---------------------------------------------------------------------------------------------

/** A unit that used all its attempts (or could not be decoded), as kept in BullMQ's failed set. */
export interface DeadLetter {
  /** The BullMQ job id (the unit id). */
  readonly id: string
  /** The decoded message, or null when the payload was invalid. */
  readonly message: UnitMessage | null
  readonly lastError: string
  /** Handler starts (deliveries) the unit had. */
  readonly attempts: number
  /** When it failed, in epoch milliseconds. */
  readonly failedAt: number | null
}

/** Extras of the BullMQ adapter beyond the `Queue` port. */
export class BullMqQueueAdmin extends Context.Service<BullMqQueueAdmin, {
  /** Dead letters, newest first. */
  readonly deadLetters: (options?: { readonly limit?: number }) => Effect.Effect<ReadonlyArray<DeadLetter>, QueueError>
  /** Units of a region in flight right now across every process (leases held). */
  readonly inFlight: (region: Region) => Effect.Effect<number, QueueError>
  /** The BullMQ queue name and key prefix in use. */
  readonly queueName: string
  readonly prefix: string
}>()("@myia/certification/BullMqQueueAdmin") {}

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

const decodeMessageOption = Schema.decodeUnknownOption(QueuePort.UnitMessage)
const decodeJobIdOption = Schema.decodeUnknownOption(Domain.JobId)
const ProgressEventJson = Schema.fromJsonString(QueuePort.ProgressEvent)
const decodeProgressEventJson = Schema.decodeUnknownOption(ProgressEventJson)
const encodeProgressEventJson = Schema.encodeSync(ProgressEventJson)

/** What the processor tells BullMQ once a delivery's Effect has run. */
type Decision =
  | { readonly _tag: "Complete" }
  | { readonly _tag: "Delayed" }
  | { readonly _tag: "Fail"; readonly error: string; readonly delayMillis: number }
  | { readonly _tag: "Reject"; readonly error: string }

/** An attempt failure that carries the policy's delay before the next attempt (read by the backoff strategy). */
class AttemptFailed extends Error {
  readonly delayMillis: number
  constructor(message: string, delayMillis: number) {
    super(message)
    this.name = "AttemptFailed"
    this.delayMillis = delayMillis
  }
}

const toBullMq = (decision: Decision): undefined => {
  switch (decision._tag) {
    case "Complete":
      return undefined
    case "Delayed":
      throw new DelayedError()
    case "Fail":
      throw new AttemptFailed(decision.error, decision.delayMillis)
    case "Reject":
      throw new UnrecoverableError(decision.error)
  }
}

const stalledLimit = /stalled more than allowable limit/

/**
 * The BullMQ `attempts` every unit is enqueued with: never reached, since the consuming layer's
 * policy dead-letters (rejects) a unit first. Stamping the producer's `maxAttempts` instead made
 * BullMQ fail a unit after the producer's count even when the consumer's policy allowed more.
 */
const unboundedAttempts = 1_000_000

/** Units per `addBulk` (and per SADD of the cancel index) when enqueueing (issue 16). */
const enqueueChunk = 1_000

const truncate = (s: string, max = 2000) => s.length > max ? `${s.slice(0, max)}…` : s

const toMillis = (input: Duration.Input | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

const wholeMillis = (duration: Duration.Duration): number => Math.max(0, Math.round(Duration.toMillis(duration)))

/** The policy of `options`: `redelivery` with the `maxAttempts` / `maxStarts` shorthands applied. */
const policyOf = (options: Options): RedeliveryPolicy.RedeliveryPolicy =>
  RedeliveryPolicy.make({
    ...options.redelivery,
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.maxStarts === undefined ? {} : { maxStarts: options.maxStarts })
  })

/** The Redis key counting a unit's starts (for `maxStarts`). */
const startsKeyOf = (keyBase: string, unitId: string) => `${keyBase}:starts:${unitId}`

/** What a consumer shares with the layer that built it. */
interface LayerSettings {
  readonly policy: RedeliveryPolicy.RedeliveryPolicy
  readonly queueName: string
  readonly prefix: string
  readonly keyBase: string
  readonly redis: Redis
  readonly bull: UnitQueue
  readonly baseOptions: RedisOptions
  readonly limitOf: (region: Region) => RegionLimit
  readonly lockDuration: number
  readonly stalledInterval: number
  readonly maxStalledCount: number
  readonly closeTimeout: number
  readonly drainGrace: number
  readonly keepFailedSeconds: number
  readonly maxDelay: number
}

/** How often each consumer sweeps the delayed set for units parked beyond `maxDelay` (and once at start). */
const delaySweepMillis = 5_000
/** Skew below this (NTP-synced hosts) never promotes a delay of exactly `maxDelay` early. */
const sweepToleranceMillis = 1_000
/** Delayed units promoted per sweep round (a round repeats while it finds a full batch). */
const delaySweepBatch = 500

/**
 * Issue 10 / 15: delays are bounded by `maxDelay` and placed on this process's clock — the clock
 * BullMQ promotes delayed units by (every worker passes its own `Date.now` to its scripts), so
 * workers sharing a clock honour each delay exactly, whatever Redis's clock says. A worker whose
 * clock is ahead of the others places its delays in their future: every consumer's sweep promotes
 * what is due beyond `now + maxDelay` on its own clock, so no unit waits much longer than the bound
 * while a worker with a normal (or slower) clock is running; a worker behind only makes its delays
 * end early; a lone worker is consistent with itself.
 */
const delaysOf = ({ bull, maxDelay, redis }: LayerSettings) => {
  const bounded = (delayMillis: number) => Math.min(maxDelay, Math.max(0, delayMillis))
  const defer = (job: BullJob, token: string | undefined, delayMillis: number) =>
    (isDeferrable(job)
      ? RedisConnection.call("defer", () => job.deferBy(bounded(delayMillis), token))
      : Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => RedisConnection.call("defer", () => job.moveToDelayed(now + bounded(delayMillis), token)))
      )).pipe(Effect.as<Decision>({ _tag: "Delayed" }))
  /** One sweep: promote batches of units due beyond the bound until a batch comes back short. */
  const sweepOnce: Effect.Effect<number, QueueError> = Effect.gen(function*() {
    let promoted = 0
    while (true) {
      const n = yield* RedisConnection.call(
        "sweepDelayed",
        () => bull.promoteBeyond(redis, maxDelay + sweepToleranceMillis, delaySweepBatch)
      )
      promoted += n
      if (n < delaySweepBatch) return promoted
    }
  })
  const sweep = sweepOnce.pipe(
    Effect.tap((n) =>
      n > 0
        ? Effect.logWarning("promoted delayed units parked beyond the delay bound (a worker's clock is ahead?)").pipe(
          Effect.annotateLogs({ units: n, maxDelayMillis: maxDelay })
        )
        : Effect.void
    ),
    Effect.catch((error) => Effect.logWarning("delayed-set sweep failed; the next one retries", error.message)),
    Effect.repeat(Schedule.spaced(Duration.millis(delaySweepMillis)))
  )
  return { defer, bounded, sweep }
}

/**
 * `consume` of one layer: one BullMQ Worker and one limiter connection per consumer; each delivery
 * is translated from the handler's answer to BullMQ by the layer's redelivery policy.
 */
const makeConsume = (layer: LayerSettings) =>
  Effect.fn("BullMqQueue.consume")(function*<R>(consumeOptions: QueuePort.ConsumeOptions<R>) {
    const {
      baseOptions,
      closeTimeout,
      drainGrace,
      keepFailedSeconds,
      keyBase,
      limitOf,
      lockDuration,
      maxStalledCount,
      policy,
      prefix,
      queueName,
      redis,
      stalledInterval
    } = layer
    const startsKey = (unitId: string) => startsKeyOf(keyBase, unitId)
    const context = yield* Effect.context<R>()
    const runPromise = Effect.runPromiseWith(context)
    const runFork = Effect.runForkWith(context)
    const limiterRedis = yield* RedisConnection.blocking(baseOptions)
    const limiter = RegionLimiter.make({
      redis: limiterRedis,
      keyPrefix: `${keyBase}:limiter`,
      limitOf,
      leaseMillis: lockDuration
    })
    // Aborted when the consumer's scope closes: in-flight handlers are interrupted and released.
    const closing = new AbortController()

    const { bounded, defer, sweep } = delaysOf(layer)
    yield* Effect.forkScoped(sweep)

    const awaitClosing = Effect.callback<void>((resume) => {
      if (closing.signal.aborted) return resume(Effect.void)
      const onAbort = () => resume(Effect.void)
      closing.signal.addEventListener("abort", onAbort, { once: true })
      return Effect.sync(() => closing.signal.removeEventListener("abort", onAbort))
    })

    const deliver = (job: BullJob, token: string | undefined): Effect.Effect<Decision, QueueError, R> =>
      Effect.gen(function*() {
        const unitId = job.id ?? ""
        const decoded = decodeMessageOption(job.data)
        if (Option.isNone(decoded)) {
          // Poison (issue 15): dead-lettered at once; core hears of it so the unit can still end.
          const error = `invalid unit payload: ${truncate(JSON.stringify(job.data) ?? "undefined", 500)}`
          if (consumeOptions.onUndecodable !== undefined) {
            yield* consumeOptions.onUndecodable(unitId, error).pipe(
              Effect.catchCause((cause) => Effect.logWarning("onUndecodable failed", Cause.pretty(cause)))
            )
          }
          return { _tag: "Reject", error }
        }
        const message = decoded.value
        if (closing.signal.aborted) return yield* defer(job, token, 0)

        const leaseId = crypto.randomUUID()
        const acquired = yield* limiter.acquire(message.region, leaseId)
        if (acquired._tag === "Wait") {
          // A full region frees a slot when some handler ends, which the limiter cannot predict: come
          // back after the policy's first (jittered) delay. Nothing is spent: the unit did not start.
          const wait = acquired.full ? wholeMillis(yield* RedeliveryPolicy.delay(policy, 1)) : acquired.millis
          return yield* defer(job, token, wait)
        }
        return yield* Effect.gen(function*() {
          const starts = yield* RedisConnection.call("starts", () =>
            redis.multi().incr(startsKey(unitId)).expire(startsKey(unitId), keepFailedSeconds).exec()
          ).pipe(Effect.map((results) => Number(results?.[0]?.[1] ?? 1)))
          // BullMQ counts failed attempts; the Redis key counts every start, this one included.
          const counters: RedeliveryPolicy.Counters = { attempt: starts, failures: job.attemptsMade }

          const deadLetter = (error: string, attempts: number) =>
            consumeOptions.onDeadLetter(message, error, attempts).pipe(
              Effect.catchCause((cause) => Effect.logWarning("onDeadLetter failed", Cause.pretty(cause))),
              Effect.as<Decision>({ _tag: "Reject", error })
            )
          // Starts spent by interruptions or dead processes: give up before running the handler again.
          const exhausted = RedeliveryPolicy.spent(policy, { attempt: starts - 1, failures: job.attemptsMade })
          if (exhausted !== undefined) return yield* deadLetter(job.failedReason || exhausted, starts - 1)

          /** Spend what the retry costs; redeliver after `delayMillis`, or dead-letter once the policy is spent. */
          const retry = (
            countsAsFailure: boolean,
            error: string,
            delayMillis: number
          ): Effect.Effect<Decision, QueueError, R> => {
            if (RedeliveryPolicy.spent(policy, RedeliveryPolicy.afterRetry(counters, countsAsFailure)) !== undefined) {
              return deadLetter(error, starts)
            }
            return countsAsFailure ? Effect.succeed({ _tag: "Fail", error, delayMillis }) : defer(job, token, delayMillis)
          }

          const renew = limiter.renew(message.region, leaseId).pipe(
            Effect.ignore,
            Effect.repeat(Schedule.spaced(Duration.millis(Math.max(100, Math.floor(lockDuration / 3))))),
            Effect.andThen(Effect.never)
          )
          const run = consumeOptions.handler({ message, ...counters }).pipe(
            Effect.exit,
            Effect.map((exit) => Option.some(exit))
          )
          const outcome = yield* Effect.raceFirst(
            run,
            Effect.raceFirst(awaitClosing.pipe(Effect.as(Option.none<Exit.Exit<DeliveryResult, unknown>>())), renew)
          )
          if (Option.isNone(outcome)) return yield* defer(job, token, 0)
          const exit = outcome.value
          if (Exit.isFailure(exit)) {
            if (Cause.hasInterruptsOnly(exit.cause) && closing.signal.aborted) return yield* defer(job, token, 0)
            const wait = yield* RedeliveryPolicy.retryDelay(policy, counters, true)
            return yield* retry(true, truncate(Cause.pretty(exit.cause)), wholeMillis(wait))
          }
          const result = exit.value
          switch (result._tag) {
            case "Done":
              yield* RedisConnection.call("starts", () => redis.del(startsKey(unitId))).pipe(Effect.ignore)
              return { _tag: "Complete" } as const
            case "Postpone":
              // The unit did not run: its start is given back.
              yield* RedisConnection.call("starts", () => redis.decr(startsKey(unitId)))
              return yield* defer(job, token, Math.max(0, result.delayMillis))
            case "Retry":
              return yield* retry(result.countsAsFailure, result.reason, Math.max(0, result.delayMillis))
          }
        }).pipe(Effect.ensuring(limiter.release(message.region, leaseId).pipe(Effect.ignore)))
      })

    const worker = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const worker = new UnitWorker(
          queueName,
          (job: BullJob, token?: string) => runPromise(deliver(job, token)).then(toBullMq),
          {
            connection: RedisConnection.blockingOptions(baseOptions) as ConnectionOptions,
            prefix,
            concurrency: Math.max(1, consumeOptions.concurrency),
            lockDuration,
            stalledInterval,
            maxStalledCount,
            autorun: true,
            settings: {
              // The processor computed the policy's delay; a failure it did not decide (a Redis error)
              // backs off by the policy's schedule for that attempt.
              backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
                runPromise(
                  (err instanceof AttemptFailed
                    ? Effect.succeed(err.delayMillis)
                    : Effect.map(RedeliveryPolicy.delay(policy, attemptsMade), wholeMillis)).pipe(Effect.map(bounded))
                )
            }
          }
        )
        worker.on("error", (error) => {
          runFork(Effect.logWarning("BullMQ worker error", error.message))
        })
        // A unit whose workers kept dying is failed by BullMQ's stalled check, outside any processor:
        // dead-letter it here so core still writes a terminal verdict (best effort: this process only).
        worker.on("failed", (job, error) => {
          if (job === undefined || !stalledLimit.test(error.message)) return
          Option.map(decodeMessageOption(job.data), (message) =>
            runFork(
              consumeOptions.onDeadLetter(message, error.message, job.attemptsStarted).pipe(
                Effect.catchCause((cause) => Effect.logWarning("onDeadLetter failed", Cause.pretty(cause)))
              )
            ))
        })
        return worker
      }),
      (worker) =>
        // With a drain grace, `close()` first stops fetching and waits for in-flight handlers; the abort
        // that releases whatever is still running comes only when the grace ends.
        (drainGrace > 0
          ? Effect.promise(() => worker.close()).pipe(Effect.timeoutOption(Duration.millis(drainGrace)), Effect.asVoid)
          : Effect.void).pipe(
          Effect.andThen(Effect.sync(() => closing.abort())),
          Effect.andThen(
            Effect.promise(() => worker.close()).pipe(
              Effect.timeoutOption(Duration.millis(closeTimeout)),
              Effect.flatMap((done) =>
                Option.isSome(done) ? Effect.void : Effect.promise(() => worker.close(true)).pipe(Effect.ignore)
              )
            )
          ),
          Effect.ignore
        )
    )
    yield* RedisConnection.call("consume", () => worker.waitUntilReady())
  })

// Issue 15: BullMQ's own job states as the reconciler's entry states (read per unit id).
const entryStateOf = (state: string): QueuePort.EntryState => {
  switch (state) {
    case "waiting":
    case "prioritized":
    case "waiting-children":
      return "waiting"
    case "delayed":
    case "active":
    case "completed":
    case "failed":
      return state
    default:
      return "missing"
  }
}

/** Issue 15: the reconciler's queue checks (`inspect`, `requeue`) over one layer's BullMQ queue. */
const reconciliationOf = (
  bull: UnitQueue,
  redis: Redis,
  keyBase: string,
  enqueue: (messages: ReadonlyArray<UnitMessage>) => Effect.Effect<void, QueueError>
) => {
  const startsKey = (unitId: string) => startsKeyOf(keyBase, unitId)
  const inspectOne = (unitId: Domain.UnitId): Effect.Effect<QueuePort.Entry, QueueError> =>
    RedisConnection.call("inspect", () => bull.getJobState(unitId)).pipe(
      Effect.map(entryStateOf),
      Effect.flatMap((state): Effect.Effect<QueuePort.Entry, QueueError> =>
        state !== "failed"
          ? Effect.succeed({ unitId, state, lastError: null })
          : RedisConnection.call("inspect", () => bull.getJob(unitId)).pipe(
            Effect.map((job) => ({ unitId, state, lastError: job?.failedReason ?? null }))
          )
      )
    )

  const inspect = Effect.fn("BullMqQueue.inspect")((unitIds: ReadonlyArray<Domain.UnitId>) =>
    Effect.forEach(unitIds, inspectOne, { concurrency: 32 })
  )

  const requeue = Effect.fn("BullMqQueue.requeue")(function*(messages: ReadonlyArray<UnitMessage>) {
    const entries = yield* inspect(messages.map((m) => m.unitId))
    const again = messages.filter((_, i) => {
      const state = entries[i]!.state
      return state === "missing" || state === "completed" || state === "failed"
    })
    // A finished entry still holds the id (and would deduplicate the add): drop it and its start count.
    yield* Effect.forEach(again, (m) =>
      RedisConnection.call("requeue", () => bull.remove(m.unitId)).pipe(
        Effect.andThen(RedisConnection.call("requeue", () => redis.del(startsKey(m.unitId))))
      ), { concurrency: 16, discard: true })
    yield* enqueue(again)
  })
  return { inspect, requeue }
}

/** The services {@link make} builds. */
export interface Services {
  readonly queue: QueuePort.Queue["Service"]
  readonly admin: BullMqQueueAdmin["Service"]
  readonly requestRateLimit: RequestRateLimitPort.RequestRateLimit["Service"]
  readonly governorStore: GovernorStorePort.GovernorStore["Service"]
}

/** Build the queue and its admin service; connections it creates close with the scope. */
export const make = Effect.fnUntraced(function*(options: Options): Effect.fn.Return<Services, QueueError, Scope.Scope> {
  const queueName = options.queueName ?? defaultQueueName
  const prefix = options.prefix ?? "bull"
  const policy = policyOf(options)
  const lockDuration = toMillis(options.lockDuration, 30_000)
  const stalledInterval = toMillis(options.stalledInterval, 30_000)
  const keepCompletedSeconds = Math.ceil(toMillis(options.keepCompleted, 3_600_000) / 1000)
  const keepFailedSeconds = Math.ceil(toMillis(options.keepFailed, 7 * 86_400_000) / 1000)
  const closeTimeout = toMillis(options.closeTimeout, 10_000)
  const drainGrace = toMillis(options.drainGrace, 0)
  const baseOptions = RedisConnection.optionsOf(options.connection)
  const limitOf = (region: Region): RegionLimit =>
    options.regionLimits?.[region as RegionCode] ?? options.defaultRegionLimit ?? RegionLimiter.unlimited

  const keyBase = `${prefix}:${queueName}:mc`
  const indexKey = (jobId: string) => `${keyBase}:job:${jobId}`
  const startsKey = (unitId: string) => startsKeyOf(keyBase, unitId)
  const cancelChannel = `${keyBase}:cancellations`
  const eventsChannel = `${keyBase}:events`
  const indexTtlSeconds = Math.max(keepFailedSeconds, 86_400)

  const redis = yield* RedisConnection.producer(options.connection)
  const bull = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const queue = new UnitQueue(queueName, { connection: redis, prefix })
      queue.on("error", () => {})
      return queue
    }),
    (queue) => Effect.promise(() => queue.close()).pipe(Effect.timeoutOption(Duration.seconds(5)), Effect.ignore)
  )
  yield* RedisConnection.call("connect", () => bull.waitUntilReady())

  // One SUBSCRIBE connection per layer feeds both broadcast streams.
  const cancellationsHub = yield* Effect.acquireRelease(PubSub.unbounded<Domain.JobId>(), PubSub.shutdown)
  const eventsHub = yield* Effect.acquireRelease(PubSub.unbounded<ProgressEvent>(), PubSub.shutdown)
  const subscriber = yield* RedisConnection.blocking(baseOptions)
  subscriber.on("message", (channel: string, payload: string) => {
    if (channel === cancelChannel) {
      Option.map(decodeJobIdOption(payload), (jobId) => PubSub.publishUnsafe(cancellationsHub, jobId))
    } else if (channel === eventsChannel) {
      Option.map(decodeProgressEventJson(payload), (event) => PubSub.publishUnsafe(eventsHub, event))
    }
  })
  yield* RedisConnection.call("subscribe", () => subscriber.subscribe(cancelChannel, eventsChannel))

  const enqueue = Effect.fn("BullMqQueue.enqueue")(function*(messages: ReadonlyArray<UnitMessage>) {
    if (messages.length === 0) return
    // Index first, so a cancel racing this enqueue still finds every unit it may have to remove.
    const byJob = new Map<string, Array<string>>()
    for (const m of messages) {
      const ids = byJob.get(m.jobId)
      if (ids === undefined) byJob.set(m.jobId, [m.unitId])
      else ids.push(m.unitId)
    }
    yield* RedisConnection.call("enqueue", () => {
      const pipeline = redis.multi()
      for (const [jobId, unitIds] of byJob) {
        for (let i = 0; i < unitIds.length; i += enqueueChunk) {
          pipeline.sadd(indexKey(jobId), ...unitIds.slice(i, i + enqueueChunk))
        }
        pipeline.expire(indexKey(jobId), indexTtlSeconds)
      }
      return pipeline.exec()
    })
    // Issue 16: a 10,000-unit job goes out in chunks, so no command buffer holds every unit at once.
    // Adding is idempotent (the BullMQ job id is the unit id) and the job counts as enqueued only
    // once `markEnqueued` ran, so a failure between chunks is resumed by the reconciler (issue 15).
    for (let i = 0; i < messages.length; i += enqueueChunk) {
      yield* addChunk(messages.slice(i, i + enqueueChunk))
    }
  })

  const addChunk = (messages: ReadonlyArray<UnitMessage>) =>
    RedisConnection.call("enqueue", () =>
      bull.addBulk(messages.map((m) => ({
        name: "unit",
        // Issue 18: the creating request's trace context travels with the unit.
        data: {
          unitId: m.unitId,
          jobId: m.jobId,
          modelId: m.modelId,
          region: m.region,
          ...(m.traceparent === undefined ? {} : { traceparent: m.traceparent })
        },
        opts: {
          jobId: m.unitId,
          // The consumer's policy alone decides (see the module doc): BullMQ must never fail a unit on its own count.
          attempts: unboundedAttempts,
          backoff: { type: "certification" },
          removeOnComplete: { age: keepCompletedSeconds },
          removeOnFail: { age: keepFailedSeconds }
        }
      }))))

  const { inspect, requeue } = reconciliationOf(bull, redis, keyBase, enqueue)

  const cancelJob = Effect.fn("BullMqQueue.cancelJob")(function*(jobId: Domain.JobId) {
    const unitIds = yield* RedisConnection.call("cancelJob", () => redis.smembers(indexKey(jobId)))
    yield* Effect.forEach(unitIds, (unitId) =>
      RedisConnection.call("cancelJob", () => bull.getJobState(unitId)).pipe(
        Effect.flatMap((state) =>
          state === "waiting" || state === "delayed" || state === "prioritized"
            // A unit that became active in between is locked and stays; the cancellation reaches its worker.
            ? RedisConnection.call("cancelJob", () => bull.remove(unitId)).pipe(Effect.ignore)
            : Effect.void
        )
      ), { concurrency: 16, discard: true })
    yield* RedisConnection.call("cancelJob", () => redis.publish(cancelChannel, jobId))
  })

  const publish = Effect.fn("BullMqQueue.publish")(function*(event: ProgressEvent) {
    yield* RedisConnection.call("publish", () => redis.publish(eventsChannel, encodeProgressEventJson(event)))
  })

  const counts: Effect.Effect<QueuePort.QueueCounts, QueueError> = RedisConnection.call(
    "counts",
    () => bull.getJobCounts("waiting", "prioritized", "active", "delayed", "failed")
  ).pipe(
    Effect.map((c) => ({
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0
    })),
    Effect.withSpan("BullMqQueue.counts")
  )

  const consume = makeConsume({
    policy,
    queueName,
    prefix,
    keyBase,
    redis,
    bull,
    baseOptions,
    limitOf,
    lockDuration,
    stalledInterval,
    maxStalledCount: options.maxStalledCount ?? 3,
    closeTimeout,
    drainGrace,
    keepFailedSeconds,
    maxDelay: toMillis(options.maxDelay, 15 * 60_000)
  })

  const deadLetters = Effect.fn("BullMqQueue.deadLetters")(function*(listOptions?: { readonly limit?: number }) {
    const limit = Math.max(1, listOptions?.limit ?? 100)
    const jobs = yield* RedisConnection.call("deadLetters", () => bull.getFailed(0, limit - 1))
    return yield* Effect.forEach(jobs, (job) =>
      RedisConnection.call("deadLetters", () => redis.get(startsKey(job.id ?? ""))).pipe(
        Effect.map((starts): DeadLetter => ({
          id: job.id ?? "",
          message: Option.getOrNull(decodeMessageOption(job.data)),
          lastError: job.failedReason ?? "",
          attempts: Math.max(Number(starts ?? 0), job.attemptsMade),
          failedAt: job.finishedOn ?? null
        }))
      ))
  })

  const queue = Queue.of({
    redelivery: policy,
    enqueue,
    consume,
    cancelJob,
    cancellations: Stream.fromPubSub(cancellationsHub),
    publish,
    events: Stream.fromPubSub(eventsHub),
    counts,
    inspect,
    requeue,
    // Issue 15: periodic tasks on BullMQ's job scheduler (see Scheduler.ts).
    schedule: Scheduler.make({ queueName, prefix, redis, baseOptions })
  })
  const inFlight = RegionLimiter.make({ redis, keyPrefix: `${keyBase}:limiter`, limitOf, leaseMillis: lockDuration }).inFlight
  const admin = BullMqQueueAdmin.of({ deadLetters, inFlight, queueName, prefix })

  // The request budget: one reservation on the region's next start per Bedrock request.
  const requestRates = options.requestRates ?? {}
  const pacer = RegionLimiter.makePacer({ redis, keyPrefix: `${keyBase}:requests` })
  const take = (region: Domain.Region): Effect.Effect<void> => {
    const rate = RequestRateLimitPort.rateOf(requestRates, region)
    if (rate === undefined) return Effect.void
    return pacer.reserve(region, rate).pipe(
      Effect.flatMap((wait) => (wait > 0 ? Effect.sleep(wait) : Effect.void)),
      // Redis unreachable: let the request through; Bedrock's own throttling still protects the account.
      Effect.catch((error) => Effect.logWarning("request rate limiter unavailable; not pacing", error.message))
    )
  }
  const requestRateLimit = RequestRateLimitPort.RequestRateLimit.of({ take })
  // Issue 16: the region governor's lanes, shared by every process on this Redis.
  const governorStore = RedisGovernorStore.make({ redis, keyPrefix: `${keyBase}:governor` })
  return { queue, admin, requestRateLimit, governorStore }
})

/** The BullMQ queue, its admin service, the shared per-region request budget and governor store. */
export const layer = (
  options: Options
): Layer.Layer<
  QueuePort.Queue | BullMqQueueAdmin | RequestRateLimitPort.RequestRateLimit | GovernorStorePort.GovernorStore,
  QueueError
> =>
  Layer.effectContext(
    make(options).pipe(
      Effect.map(({ admin, governorStore, queue, requestRateLimit }) =>
        Context.make(Queue, queue).pipe(
          Context.add(BullMqQueueAdmin, admin),
          Context.add(RequestRateLimitPort.RequestRateLimit, requestRateLimit),
          Context.add(GovernorStorePort.GovernorStore, governorStore)
        )
      )
    )
  )

/** `CERTIFICATION_MAX_RETRIES`: counted failures before a unit is dead-lettered, a whole number ≥ 1 (default 3). */
export const maxRetriesConfig: Config.Config<number> = Config.schema(
  Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  "CERTIFICATION_MAX_RETRIES"
).pipe(Config.withDefault(RedeliveryPolicy.defaultPolicy.maxAttempts))

/**
 * The layer from the environment: `REDIS_URL` (or `REDIS_HOST` / `REDIS_PORT`),
 * `CERTIFICATION_QUEUE_NAME`, `CERTIFICATION_MAX_RETRIES`; other options as given.
 */
export const layerConfig = (
  options: Omit<Options, "connection" | "queueName" | "maxAttempts"> = {}
): Layer.Layer<
  QueuePort.Queue | BullMqQueueAdmin | RequestRateLimitPort.RequestRateLimit | GovernorStorePort.GovernorStore,
  QueueError | Config.ConfigError
> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const url = yield* Config.option(Config.Redacted("REDIS_URL"))
      const host = yield* Config.String("REDIS_HOST").pipe(Config.withDefault("127.0.0.1"))
      const port = yield* Config.Port("REDIS_PORT").pipe(Config.withDefault(6379))
      const queueName = yield* Config.String("CERTIFICATION_QUEUE_NAME").pipe(Config.withDefault(defaultQueueName))
      const maxAttempts = yield* maxRetriesConfig
      return layer({
        ...options,
        connection: Option.isSome(url) ? Redacted.value(url.value) : { host, port },
        queueName,
        maxAttempts
      })
    })
  )
