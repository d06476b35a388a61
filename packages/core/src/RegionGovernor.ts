/**
 * Per-region adaptive concurrency and a circuit breaker per region, in one process.
 *
 * Each region has a concurrency limit that follows AIMD: it grows by one after `successesToGrow`
 * successes (up to `max`) and halves on a throttle (down to `min`), so a worker settles near what the
 * account's quota allows instead of hammering a throttled region. Environment failures (5xx, timeouts,
 * network) feed a breaker: after `failureThreshold` consecutive failures it opens for `openDuration`
 * (doubling on each repeated trip, capped at `maxOpenDuration`: the n-th trip since the breaker last
 * closed opens for step n of an Effect `Schedule`), then half-opens and admits exactly `halfOpenTrials`
 * trial calls; a trial success closes it, a trial failure re-opens it.
 *
 * **Details**: callers never fail because of the governor: `withPermit` waits while the region is at
 * its limit or its breaker is open, so a unit is deferred, not failed. Waiters are served first come,
 * first served. Outcomes are reported by the caller — `recordOutcome` with the call's error category,
 * whose signal `ErrorCategory.table` gives (or `recordSuccess`, `recordThrottle`, `recordFailure`
 * directly) — because only the caller knows how to classify a result. Time comes from `Clock`, so
 * `TestClock` drives it in tests. Regions never share state.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type { ErrorCategory as Category } from "./Domain.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import { delays } from "./internal/scheduleDelays.ts"
import type { Region } from "./Region.ts"

/** The state of a region's breaker. */
export type BreakerState = "closed" | "open" | "half-open"

/** A region's state, for metrics. */
export interface RegionSnapshot {
  readonly region: Region
  /** Current concurrency limit. */
  readonly limit: number
  /** Calls currently holding a permit. */
  readonly inFlight: number
  /** Callers waiting for a permit. */
  readonly waiting: number
  readonly breaker: BreakerState
  /** Throttles recorded since start. */
  readonly throttles: number
  /** Environment failures recorded since start. */
  readonly failures: number
  /** Successes recorded since start. */
  readonly successes: number
  /** How many times the breaker has opened since start. */
  readonly trips: number
}

/** What a call's outcome tells the governor; each error category's signal is in `ErrorCategory.table`. */
export type Signal = ErrorCategory.Signal

/** Tuning of the governor; every field has a default. */
export interface Options {
  /** Starting concurrency limit per region (default 4). */
  readonly initial?: number | undefined
  /** Lowest limit (default 1). */
  readonly min?: number | undefined
  /** Highest limit (default 32). */
  readonly max?: number | undefined
  /** Successes needed to grow the limit by one (default 5). */
  readonly successesToGrow?: number | undefined
  /**
   * After a cut, further throttles within this window do not cut again (default 1 second): calls
   * that were already in flight are throttled by the same congestion, and counting each of them
   * would collapse the limit far below what the quota allows.
   */
  readonly cutCooldown?: Duration.Input | undefined
  /** Consecutive environment failures that open the breaker (default 5). */
  readonly failureThreshold?: number | undefined
  /** Outcomes needed since the breaker last closed before it may open (default = `failureThreshold`). */
  readonly minimumVolume?: number | undefined
  /** How long the breaker stays open on its first trip (default 30 seconds). */
  readonly openDuration?: Duration.Input | undefined
  /** Cap of the doubling open duration on repeated trips (default 5 minutes). */
  readonly maxOpenDuration?: Duration.Input | undefined
  /** Trial calls admitted while half-open (default 1). */
  readonly halfOpenTrials?: number | undefined
}

/** Per-region adaptive concurrency (AIMD) and circuit breaker. */
export class RegionGovernor extends Context.Service<RegionGovernor, {
  /**
   * Runs the effect holding one of the region's slots. Waits — never fails — while the region is at
   * its limit or its breaker is open; interrupting a waiter gives nothing up.
   */
  readonly withPermit: (region: Region) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** A call in the region succeeded: grows the limit and closes a half-open breaker. */
  readonly recordSuccess: (region: Region) => Effect.Effect<void>
  /** A call in the region was throttled: halves the limit. Does not feed the breaker. */
  readonly recordThrottle: (region: Region) => Effect.Effect<void>
  /** An environment failure (5xx, timeout, network) in the region: feeds the breaker only. */
  readonly recordFailure: (region: Region) => Effect.Effect<void>
  /**
   * Records a call's outcome by its error category (`null`: success) through the category's signal
   * in `ErrorCategory.table` — the one way the Runner reports outcomes.
   */
  readonly recordOutcome: (region: Region, category: Category | null) => Effect.Effect<void>
  /** The state of one region. */
  readonly state: (region: Region) => Effect.Effect<RegionSnapshot>
  /** The state of every region seen so far. */
  readonly snapshot: Effect.Effect<ReadonlyArray<RegionSnapshot>>
}>()("@myia/certification/RegionGovernor") {}

interface Settings {
  readonly initial: number
  readonly min: number
  readonly max: number
  readonly successesToGrow: number
  readonly cutCooldownMillis: number
  readonly failureThreshold: number
  readonly minimumVolume: number
  /** The breaker's open time per trip: doubling from `openDuration`, capped at `maxOpenDuration`. */
  readonly openBackoff: Schedule.Schedule<Duration.Duration>
  readonly halfOpenTrials: number
}

interface Grant {
  readonly trial: boolean
  /** The breaker generation the trial belongs to; a stale trial frees nothing. */
  readonly generation: number
}

interface Waiter {
  readonly deferred: Deferred.Deferred<void>
  grant: Grant | undefined
}

interface State {
  readonly region: Region
  limit: number
  inFlight: number
  breaker: BreakerState
  /** Bumped on every breaker transition. */
  generation: number
  openUntil: number
  /** Trips since the breaker last closed; drives the exponential open duration. */
  consecutiveTrips: number
  trialsAdmitted: number
  successStreak: number
  /** When the limit was last cut (ms), or -Infinity. */
  lastCutAt: number
  consecutiveFailures: number
  /** Outcomes since the breaker last closed (minimum volume). */
  volume: number
  throttles: number
  failures: number
  successes: number
  trips: number
  readonly waiters: Array<Waiter>
}

const settingsOf = (options: Options): Settings => {
  const min = Math.max(1, Math.floor(options.min ?? 1))
  const max = Math.max(min, Math.floor(options.max ?? 32))
  const failureThreshold = Math.max(1, Math.floor(options.failureThreshold ?? 5))
  return {
    initial: Math.min(max, Math.max(min, Math.floor(options.initial ?? 4))),
    min,
    max,
    successesToGrow: Math.max(1, Math.floor(options.successesToGrow ?? 5)),
    cutCooldownMillis: Duration.toMillis(options.cutCooldown ?? Duration.seconds(1)),
    failureThreshold,
    minimumVolume: Math.max(failureThreshold, Math.floor(options.minimumVolume ?? failureThreshold)),
    openBackoff: Schedule.min([
      Schedule.exponential(options.openDuration ?? Duration.seconds(30)),
      Schedule.spaced(options.maxOpenDuration ?? Duration.minutes(5))
    ]),
    halfOpenTrials: Math.max(1, Math.floor(options.halfOpenTrials ?? 1))
  }
}

/** Trips whose open time is read from the schedule; later trips keep the last one (long since capped). */
const steppedTrips = 32

/** Builds a governor; its breaker timers live in the given scope. */
export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const settings = settingsOf(options)
  const scope = yield* Effect.scope
  // Read once, so opening a breaker stays one synchronous step (no other fiber sees half an update).
  const nextOpen = yield* delays(settings.openBackoff)
  const openMillis: Array<number> = []
  for (let trip = 1; trip <= steppedTrips; trip++) openMillis.push(Duration.toMillis(yield* nextOpen))
  const regions = new Map<Region, State>()

  const stateOf = (region: Region): State => {
    let state = regions.get(region)
    if (state === undefined) {
      state = {
        region,
        limit: settings.initial,
        inFlight: 0,
        breaker: "closed",
        generation: 0,
        openUntil: 0,
        consecutiveTrips: 0,
        trialsAdmitted: 0,
        successStreak: 0,
        lastCutAt: Number.NEGATIVE_INFINITY,
        consecutiveFailures: 0,
        volume: 0,
        throttles: 0,
        failures: 0,
        successes: 0,
        trips: 0,
        waiters: []
      }
      regions.set(region, state)
    }
    return state
  }

  // An open breaker whose time is up is half-open; checked lazily as well as by the timer, so a
  // late timer never keeps a region blocked.
  const refresh = (state: State, now: number): void => {
    if (state.breaker === "open" && now >= state.openUntil) {
      state.breaker = "half-open"
      state.generation++
      state.trialsAdmitted = 0
    }
  }

  const tryGrant = (state: State): Grant | undefined => {
    if (state.inFlight >= state.limit) return undefined
    switch (state.breaker) {
      case "open":
        return undefined
      case "half-open": {
        if (state.trialsAdmitted >= settings.halfOpenTrials) return undefined
        state.trialsAdmitted++
        state.inFlight++
        return { trial: true, generation: state.generation }
      }
      case "closed": {
        state.inFlight++
        return { trial: false, generation: state.generation }
      }
    }
  }

  // Hands free slots to waiters in arrival order.
  const drain = (state: State, now: number): void => {
    refresh(state, now)
    while (state.waiters.length > 0) {
      const grant = tryGrant(state)
      if (grant === undefined) return
      const waiter = state.waiters.shift()!
      waiter.grant = grant
      Deferred.doneUnsafe(waiter.deferred, Effect.void)
    }
  }

  const release = (state: State, grant: Grant, now: number): void => {
    state.inFlight--
    // A trial that ended without deciding the breaker (no outcome, or a throttle) frees its trial slot.
    if (grant.trial && state.breaker === "half-open" && state.generation === grant.generation) {
      state.trialsAdmitted--
    }
    drain(state, now)
  }

  const scheduleHalfOpen = (state: State, millis: number) =>
    Effect.forkIn(
      Effect.sleep(Duration.millis(millis)).pipe(
        Effect.andThen(Clock.currentTimeMillis),
        // Drain even if the generation moved on: a lazy `refresh` may already have made the breaker
        // half-open without handing the trial to a waiter, and nothing else would wake them.
        Effect.flatMap((now) => Effect.sync(() => drain(state, now)))
      ),
      scope
    )

  const open = (state: State, now: number) => {
    state.consecutiveTrips++
    state.trips++
    state.generation++
    state.breaker = "open"
    state.trialsAdmitted = 0
    state.consecutiveFailures = 0
    const millis = openMillis[Math.min(state.consecutiveTrips, steppedTrips) - 1]!
    state.openUntil = now + millis
    return scheduleHalfOpen(state, millis)
  }

  const close = (state: State): void => {
    state.breaker = "closed"
    state.generation++
    state.consecutiveTrips = 0
    state.trialsAdmitted = 0
    state.consecutiveFailures = 0
    state.volume = 0
  }

  const acquire = (
    region: Region,
    restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>
  ): Effect.Effect<readonly [State, Grant]> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const state = stateOf(region)
      // drain, not just refresh: a breaker that turned half-open here must hand its trial to the earlier waiters.
      drain(state, now)
      const immediate = state.waiters.length === 0 ? tryGrant(state) : undefined
      if (immediate !== undefined) return Effect.succeed([state, immediate] as const)
      const waiter: Waiter = { deferred: Deferred.makeUnsafe<void>(), grant: undefined }
      state.waiters.push(waiter)
      return restore(Deferred.await(waiter.deferred)).pipe(
        Effect.onInterrupt(() =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.sync(() => {
              if (waiter.grant !== undefined) return release(state, waiter.grant, now)
              const index = state.waiters.indexOf(waiter)
              if (index >= 0) state.waiters.splice(index, 1)
            }))
        ),
        Effect.map(() => [state, waiter.grant!] as const)
      )
    })

  const withPermit = (region: Region) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(acquire(region, restore), ([state, grant]) =>
        restore(effect).pipe(
          Effect.ensuring(
            Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => release(state, grant, now)))
          )
        ))
    )

  const recordSuccess = Effect.fn("RegionGovernor.recordSuccess")(function*(region: Region) {
    const now = yield* Clock.currentTimeMillis
    const state = stateOf(region)
    refresh(state, now)
    state.successes++
    state.volume++
    state.consecutiveFailures = 0
    state.successStreak++
    if (state.successStreak >= settings.successesToGrow) {
      state.successStreak = 0
      state.limit = Math.min(settings.max, state.limit + 1)
    }
    if (state.breaker === "half-open") close(state)
    drain(state, now)
  })

  const recordThrottle = Effect.fn("RegionGovernor.recordThrottle")(function*(region: Region) {
    const now = yield* Clock.currentTimeMillis
    const state = stateOf(region)
    refresh(state, now)
    state.throttles++
    state.volume++
    state.successStreak = 0
    if (now - state.lastCutAt >= settings.cutCooldownMillis) {
      state.lastCutAt = now
      state.limit = Math.max(settings.min, Math.floor(state.limit / 2))
    }
  })

  const recordFailure = Effect.fn("RegionGovernor.recordFailure")(function*(region: Region) {
    const now = yield* Clock.currentTimeMillis
    const state = stateOf(region)
    refresh(state, now)
    state.failures++
    switch (state.breaker) {
      case "half-open": {
        yield* open(state, now)
        return
      }
      case "open":
        return
      case "closed": {
        state.volume++
        state.consecutiveFailures++
        if (state.consecutiveFailures >= settings.failureThreshold && state.volume >= settings.minimumVolume) {
          yield* open(state, now)
        }
      }
    }
  })

  const bySignal: { readonly [S in Signal]: (region: Region) => Effect.Effect<void> } = {
    success: recordSuccess,
    throttle: recordThrottle,
    failure: recordFailure,
    none: () => Effect.void
  }
  const recordOutcome = (region: Region, category: Category | null) =>
    bySignal[ErrorCategory.signalOf(category)](region)

  const view = (state: State): RegionSnapshot => ({
    region: state.region,
    limit: state.limit,
    inFlight: state.inFlight,
    waiting: state.waiters.length,
    breaker: state.breaker,
    throttles: state.throttles,
    failures: state.failures,
    successes: state.successes,
    trips: state.trips
  })

  const state = (region: Region) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        const state = stateOf(region)
        drain(state, now)
        return view(state)
      }))

  const snapshot = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.sync(() =>
      Array.from(regions.values(), (state) => {
        drain(state, now)
        return view(state)
      })
    ))

  return RegionGovernor.of({
    withPermit,
    recordSuccess,
    recordThrottle,
    recordFailure,
    recordOutcome,
    state,
    snapshot
  })
})

/** The governor with the given tuning. */
export const layer = (options: Options = {}): Layer.Layer<RegionGovernor> => Layer.effect(RegionGovernor, make(options))
