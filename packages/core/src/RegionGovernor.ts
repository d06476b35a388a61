/**
 * Adaptive concurrency and circuit breakers per (region, model) lane, under a per-region cap, in one
 * process.
 *
 * Bedrock quotas are per model per region, so each lane — one model in one region — has its own
 * concurrency limit that follows AIMD: it grows by one after `successesToGrow` successes (up to
 * `max`) and halves on a throttle (down to `min`), so a worker settles near what the quota allows
 * instead of hammering a throttled model. Environment failures (5xx, timeouts, network) feed the
 * lane's breaker: after `failureThreshold` consecutive failures it opens for `openDuration` (doubling
 * on each repeated trip, capped at `maxOpenDuration`: the n-th trip since the breaker last closed
 * opens for step n of an Effect `Schedule`), then half-opens and admits exactly `halfOpenTrials`
 * trial calls; a trial success closes it, a trial failure re-opens it. A throttled or failing model
 * slows or stops only itself. Over its lanes, a region has a cap on calls in flight (`regionCap`)
 * and a regional breaker: while most of its recently active models (`regionOutageShare`, at least
 * `regionOutageModels`) have an open breaker at once — a regional outage — every lane of the region
 * waits; it closes as soon as those breakers half-open. Request starts are paced (issue 16, on by
 * default): a lane's pacer learns its model's quota when that model is throttled clearly more than
 * the others, the region's pacer a regional quota otherwise, each just under the rate it measured
 * (`internal/pacer.ts`); `laneWait` says how long a model's own pace would hold its next request,
 * so the Runner can park a unit instead of holding a worker slot. With a `GovernorStore`, lanes
 * that were throttled share one limit across processes.
 *
 * **Details**: callers never fail because of the governor: `withPermit` waits while the lane is at
 * its limit or its breaker is open, or the region is at its cap or in an outage, so a unit is
 * deferred, not failed. Waiters are served first come, first served over the region (a lane at its
 * limit or open is skipped, not waited for). Outcomes are reported by the caller — `recordOutcome` with the call's
 * error category, whose signal `ErrorCategory.table` gives (or `recordSuccess`, `recordThrottle`,
 * `recordFailure` directly) — because only the caller knows how to classify a result. Calls that
 * name no model use the region's own lane (the region-only governor of 0.1). Time comes from
 * `Clock`, so `TestClock` drives it in tests. Regions never share state.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { ErrorCategory as Category } from "./Domain.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import { GovernorStore, type LaneUpdate, type SharedLane } from "./GovernorStore.ts"
import * as Pacer from "./internal/pacer.ts"
import { delays } from "./internal/scheduleDelays.ts"
import type { Region } from "./Region.ts"

/** The state of a region's breaker. */
export type BreakerState = "closed" | "open" | "half-open"

/** A lane's state — one model in one region, or a region alone when calls name no model — for metrics. */
export interface RegionSnapshot {
  readonly region: Region
  /** The model of the lane; null (or absent) for the region-only lane. */
  readonly modelId?: string | null | undefined
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

/** A region's shared state: the cap over all its model lanes and the regional-outage breaker. */
export interface RegionCapSnapshot {
  readonly region: Region
  /** Calls in flight over every lane of the region. */
  readonly inFlight: number
  readonly cap: number
  /** "open" while most of the region's active model lanes have an open breaker at once. */
  readonly breaker: "closed" | "open"
  /** How many times the regional breaker has opened since start. */
  readonly outages: number
  /** Model lanes whose breaker is open now. */
  readonly openModels: number
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
  /** Calls in flight per region over all its model lanes (default 64). */
  readonly regionCap?: number | undefined
  /** Open model breakers needed at least for a regional outage (default 3). */
  readonly regionOutageModels?: number | undefined
  /** Share of the region's active model lanes that must be open for a regional outage (default 0.5: most). */
  readonly regionOutageShare?: number | undefined
  /** A lane counts as active for `regionOutageShare` this long after its last call (default 60 seconds). */
  readonly regionWindow?: Duration.Input | undefined
  /**
   * With a `GovernorStore`: a process counts toward a lane's share this long after its last sync
   * there (default 10 seconds; a process using a lane syncs it at least once a second).
   */
  readonly sharedWindow?: Duration.Input | undefined
  /**
   * Pace requests at the observed admitted rate after throttles (default true since issue 16;
   * `false`: AIMD concurrency alone). Unpaced until a throttle. A model throttled clearly more
   * than the other models of its region (its own quota) paces only its lane; otherwise (a regional
   * quota) the region is paced. After a first guess, the pacer measures the quota between
   * throttles and stays just under it, probing above it rarely where the rate is low (each probe
   * costs about one throttle), so in a storm the calls sent stay close to the calls needed.
   */
  readonly pacing?: boolean | undefined
}

/**
 * Adaptive concurrency (AIMD) and a circuit breaker per (region, model) lane under a per-region cap,
 * with a regional breaker for outages. Every member takes an optional `modelId`; without one, the
 * call uses the region's own lane (the region-only behaviour of 0.1).
 */
export class RegionGovernor extends Context.Service<RegionGovernor, {
  /**
   * Runs the effect holding one of the lane's slots and one of the region's. Waits — never fails —
   * while the lane is at its limit or its breaker is open, the region is at its cap, or the region
   * is in an outage; interrupting a waiter gives nothing up.
   */
  readonly withPermit: (
    region: Region,
    modelId?: string
  ) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /**
   * A call in the lane succeeded: grows its limit and closes its half-open breaker. `sentAt` (epoch
   * ms, the `Clock`'s), when the caller knows it: an answer to a request sent at the pacer's pace
   * is evidence for it; one sent before says nothing about that pace.
   */
  readonly recordSuccess: (region: Region, modelId?: string, sentAt?: number) => Effect.Effect<void>
  /**
   * A call in the lane was throttled: halves its limit. Does not feed the breaker. `sentAt` (epoch
   * ms, the `Clock`'s) is when the throttled request was sent, when the caller knows: a request sent
   * at the pacer's pace tells it more than one already in flight when pacing began.
   */
  readonly recordThrottle: (region: Region, modelId?: string, sentAt?: number) => Effect.Effect<void>
  /** An environment failure (5xx, timeout, network) in the lane: feeds its breaker only. */
  readonly recordFailure: (region: Region, modelId?: string) => Effect.Effect<void>
  /**
   * Records a call's outcome by its error category (`null`: success) through the category's signal
   * in `ErrorCategory.table` — the one way the Runner reports outcomes.
   */
  readonly recordOutcome: (region: Region, category: Category | null, modelId?: string, sentAt?: number) => Effect.Effect<void>
  /**
   * Waits until one Bedrock request may start for the model in the region (issue 16; at once with
   * `pacing: false`): unpaced until a throttle, then spaced by the lane's pacer (a model throttled
   * alone) and the region's (several models throttled at once) — at 95 % of the admitted rate each
   * measured, creeping upward slowly (see `internal/pacer.ts`).
   */
  readonly pace: (region: Region, modelId?: string) => Effect.Effect<void>
  /**
   * How long a request of the model started now would wait for the model's own pacer (its lane's,
   * engaged when the model alone is throttled), in ms; 0 when the lane is not paced. The Runner
   * parks a unit instead of holding a worker slot through a long wait (`RunnerSettings.parkAfterMillis`).
   */
  readonly laneWait: (region: Region, modelId?: string) => Effect.Effect<number>
  /** The state of one lane. */
  readonly state: (region: Region, modelId?: string) => Effect.Effect<RegionSnapshot>
  /** The cap and regional breaker of one region. */
  readonly regionState: (region: Region) => Effect.Effect<RegionCapSnapshot>
  /** The state of every lane seen so far. */
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
  readonly regionCap: number
  readonly regionOutageModels: number
  readonly regionOutageShare: number
  readonly regionWindowMillis: number
  readonly sharedWindowMillis: number
  readonly pacing: Pacer.PacerSettings | null
}

/** What the lanes of one region share. */
interface RegionState {
  readonly region: Region
  inFlight: number
  readonly lanes: Array<State>
  /** Whether the region is in an outage (refreshed on every drain) and how often it entered one. */
  outage: boolean
  outages: number
  /** The region's request pacer, engaged by throttles of several of its lanes at once (a regional quota). */
  readonly pacer: Pacer.Pacer
  /**
   * The region's own AIMD cap over its lanes: halved (from what is in flight) when several lanes are
   * throttled within `cutCooldown` — a regional quota — and grown by one per `successesToGrow`
   * successes in the region, up to `regionCap`. One model's throttles (its own quota) leave it alone.
   */
  cap: number
  capStreak: number
  lastCapCutAt: number
  /** Lane → when it was last throttled. */
  readonly throttledLanes: Map<State, number>
  /** Lane → when its last throttle was taken for the regional quota's (for the pacers, kept `classifyMillis`). */
  readonly regionalThrottles: Map<State, number>
}

interface Grant {
  readonly trial: boolean
  /** The breaker generation the trial belongs to; a stale trial frees nothing. */
  readonly generation: number
}

interface Waiter {
  /** Arrival order over every lane of the governor. */
  readonly seq: number
  readonly deferred: Deferred.Deferred<void>
  grant: Grant | undefined
}

/** One lane: a model in a region (or the region alone). */
interface State {
  readonly region: Region
  readonly modelId: string | null
  readonly home: RegionState
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
  /** When the lane last asked for a permit or reported an outcome (ms). */
  lastActivity: number
  readonly waiters: Array<Waiter>
  /** The lane's own request pacer, engaged by throttles of this model alone (its own quota). */
  readonly pacer: Pacer.Pacer
  /** Request starts and throttles of the lane within `classifyMillis`, to tell its own quota from the region's. */
  readonly recentStarts: Array<number>
  readonly recentThrottles: Array<number>
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
    halfOpenTrials: Math.max(1, Math.floor(options.halfOpenTrials ?? 1)),
    regionCap: Math.max(1, Math.floor(options.regionCap ?? 64)),
    regionOutageModels: Math.max(1, Math.floor(options.regionOutageModels ?? 3)),
    regionOutageShare: Math.min(1, Math.max(0, options.regionOutageShare ?? 0.5)),
    regionWindowMillis: Duration.toMillis(options.regionWindow ?? Duration.seconds(60)),
    sharedWindowMillis: Duration.toMillis(options.sharedWindow ?? Duration.seconds(10)),
    pacing: options.pacing === false ? null : {
      windowMillis: 2_000,
      cooldownMillis: Duration.toMillis(options.cutCooldown ?? Duration.seconds(1)),
      aim: 0.95,
      growth: 0.4,
      minRate: 0.2
    }
  }
}

/** Trips whose open time is read from the schedule; later trips keep the last one (long since capped). */
const steppedTrips = 32

/** The lane of a model in a region (a region alone when no model is given). */
const laneKey = (region: Region, modelId: string | undefined): string => `${region}\u0000${modelId ?? ""}`

const freshLane = (home: RegionState, modelId: string | null, initial: number): State => ({
  region: home.region,
  modelId,
  home,
  limit: initial,
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
  lastActivity: Number.NEGATIVE_INFINITY,
  waiters: [],
  pacer: Pacer.make(),
  recentStarts: [],
  recentThrottles: []
})

/**
 * Whether most active model lanes of a region have an open breaker at once (a regional outage):
 * at least `regionOutageModels` open, and more than `regionOutageShare` of the lanes active within
 * `regionWindowMillis` (or not closed).
 */
const isOutage = (settings: Settings, home: RegionState, now: number): boolean => {
  let active = 0
  let open = 0
  for (const lane of home.lanes) {
    if (lane.modelId === null) continue
    if (lane.breaker !== "closed" || now - lane.lastActivity <= settings.regionWindowMillis) active++
    if (lane.breaker === "open") open++
  }
  return open >= settings.regionOutageModels && open > active * settings.regionOutageShare
}

/** The permit machinery of the lanes: grants, waiters, breaker transitions. Synchronous steps only. */
const makeLanes = (settings: Settings, scope: Scope.Scope, openMillis: ReadonlyArray<number>) => {
  const regions = new Map<Region, RegionState>()
  const lanes = new Map<string, State>()

  const laneOf = (region: Region, modelId?: string): State => {
    const key = laneKey(region, modelId)
    let lane = lanes.get(key)
    if (lane === undefined) {
      let home = regions.get(region)
      if (home === undefined) {
        home = {
          region,
          inFlight: 0,
          lanes: [],
          outages: 0,
          outage: false,
          pacer: Pacer.make(),
          cap: settings.regionCap,
          capStreak: 0,
          lastCapCutAt: Number.NEGATIVE_INFINITY,
          throttledLanes: new Map(),
          regionalThrottles: new Map()
        }
        regions.set(region, home)
      }
      lane = freshLane(home, modelId ?? null, settings.initial)
      home.lanes.push(lane)
      lanes.set(key, lane)
    }
    return lane
  }

  // An open breaker whose time is up is half-open; checked lazily as well as by the timer, so a
  // late timer never keeps a lane blocked.
  const refresh = (lane: State, now: number): void => {
    if (lane.breaker === "open" && now >= lane.openUntil) {
      lane.breaker = "half-open"
      lane.generation++
      lane.trialsAdmitted = 0
    }
  }

  /** Refresh every lane of the region and its outage flag (counting each outage once). */
  const refreshRegion = (home: RegionState, now: number): void => {
    for (const lane of home.lanes) refresh(lane, now)
    const outage = isOutage(settings, home, now)
    if (outage && !home.outage) home.outages++
    home.outage = outage
  }

  const tryGrant = (lane: State): Grant | undefined => {
    if (lane.inFlight >= lane.limit || lane.home.inFlight >= lane.home.cap || lane.home.outage) return undefined
    switch (lane.breaker) {
      case "open":
        return undefined
      case "half-open": {
        if (lane.trialsAdmitted >= settings.halfOpenTrials) return undefined
        lane.trialsAdmitted++
        lane.inFlight++
        lane.home.inFlight++
        return { trial: true, generation: lane.generation }
      }
      case "closed": {
        lane.inFlight++
        lane.home.inFlight++
        return { trial: false, generation: lane.generation }
      }
    }
  }

  /** Whether `tryGrant` would grant now (no change). */
  const canGrant = (lane: State): boolean =>
    lane.inFlight < lane.limit && lane.home.inFlight < lane.home.cap && !lane.home.outage &&
    (lane.breaker === "closed" || (lane.breaker === "half-open" && lane.trialsAdmitted < settings.halfOpenTrials))

  // Hands free slots to waiters in arrival order over the region's lanes, skipping a lane that is at
  // its limit or open: the oldest waiter that can run runs first.
  const drain = (home: RegionState, now: number): void => {
    refreshRegion(home, now)
    while (true) {
      let next: State | undefined
      for (const lane of home.lanes) {
        if (lane.waiters.length === 0 || !canGrant(lane)) continue
        if (next === undefined || lane.waiters[0]!.seq < next.waiters[0]!.seq) next = lane
      }
      if (next === undefined) return
      const waiter = next.waiters.shift()!
      waiter.grant = tryGrant(next)
      Deferred.doneUnsafe(waiter.deferred, Effect.void)
    }
  }

  let arrivals = 0
  const newWaiter = (): Waiter => ({ seq: arrivals++, deferred: Deferred.makeUnsafe<void>(), grant: undefined })

  const release = (lane: State, grant: Grant, now: number): void => {
    lane.inFlight--
    lane.home.inFlight--
    // A trial that ended without deciding the breaker (no outcome, or a throttle) frees its trial slot.
    if (grant.trial && lane.breaker === "half-open" && lane.generation === grant.generation) {
      lane.trialsAdmitted--
    }
    drain(lane.home, now)
  }

  const scheduleHalfOpen = (lane: State, millis: number) => {
    const generation = lane.generation
    // Issue 15: a timer can fire before the clock reads `openUntil` (Node starts a timer from the
    // event loop's cached time, a busy tick makes it stale; `Date.now()` is not): then the drain below
    // finds the breaker still open, and nothing would ever wake its waiters. Sleep the rest first.
    const whenDue = (): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        lane.generation === generation && lane.breaker === "open" && now < lane.openUntil
          ? Effect.andThen(Effect.sleep(Duration.millis(lane.openUntil - now)), Effect.suspend(whenDue))
          // Drain even if the generation moved on: a lazy `refresh` may already have made the breaker
          // half-open without handing the trial to a waiter, and nothing else would wake them.
          : Effect.sync(() => drain(lane.home, now)))
    return Effect.forkIn(Effect.andThen(Effect.sleep(Duration.millis(millis)), Effect.suspend(whenDue)), scope)
  }

  const open = (lane: State, now: number) => {
    lane.consecutiveTrips++
    lane.trips++
    lane.generation++
    lane.breaker = "open"
    lane.trialsAdmitted = 0
    lane.consecutiveFailures = 0
    const millis = openMillis[Math.min(lane.consecutiveTrips, steppedTrips) - 1]!
    lane.openUntil = now + millis
    refreshRegion(lane.home, now)
    return scheduleHalfOpen(lane, millis)
  }

  const close = (lane: State, now: number): void => {
    lane.breaker = "closed"
    lane.generation++
    lane.consecutiveTrips = 0
    lane.trialsAdmitted = 0
    lane.consecutiveFailures = 0
    lane.volume = 0
    drain(lane.home, now)
  }

  /** Open a closed lane because another process opened it (shared state): no trip of its own. */
  const openShared = (lane: State, now: number, millis: number) => {
    lane.generation++
    lane.breaker = "open"
    lane.trialsAdmitted = 0
    lane.openUntil = now + millis
    refreshRegion(lane.home, now)
    return scheduleHalfOpen(lane, millis)
  }

  return { regions, lanes, laneOf, refresh, refreshRegion, tryGrant, drain, release, open, openShared, close, newWaiter }
}

/** A lane syncs with the store on every change it makes, else at most this often (ms). */
const heartbeatMillis = 1_000

/**
 * Sharing lanes through a `GovernorStore` (issue 16): an outcome that changes the lane (a growth,
 * a cut, a breaker opening or closing) sends that change to the store in the background and takes
 * back the merged state — once the lane was ever cut (a quota binds), this process's share of the
 * lane's limit (`ceil(limit / processes)`), and a breaker another process opened. Other outcomes
 * sync at most once per `heartbeatMillis` per lane, to keep the process counted and learn others'
 * changes: one Redis round trip per Bedrock call would cost more than the call's own bookkeeping.
 * Without a store, nothing.
 */
const makeSharing = (
  settings: Settings,
  scope: Scope.Scope,
  store: GovernorStore["Service"] | undefined,
  { drain, openShared }: Pick<Machine, "drain" | "openShared">
) => {
  const processId = crypto.randomUUID()
  const lastSync = new WeakMap<State, number>()
  const apply = (lane: State, shared: SharedLane, now: number) => {
    if (shared.cut) {
      lane.limit = Math.min(settings.max, Math.max(settings.min, Math.ceil(shared.limit / Math.max(1, shared.processes))))
    }
    const opened = shared.openForMillis > 0 && lane.breaker === "closed" ? openShared(lane, now, shared.openForMillis) : Effect.void
    drain(lane.home, now)
    return Effect.asVoid(opened)
  }
  return (lane: State, update: Omit<LaneUpdate, "initialLimit" | "activeWindowMillis">, now: number): Effect.Effect<void> => {
    if (store === undefined) return Effect.void
    const changes = update.grow !== undefined || update.cut !== undefined || update.close === true ||
      (update.openForMillis !== undefined && update.openForMillis > 0)
    if (!changes && now - (lastSync.get(lane) ?? Number.NEGATIVE_INFINITY) < heartbeatMillis) return Effect.void
    lastSync.set(lane, now)
    return Effect.asVoid(Effect.forkIn(
      store.sync(laneKey(lane.region, lane.modelId ?? undefined), processId, {
        ...update,
        initialLimit: settings.initial,
        activeWindowMillis: settings.sharedWindowMillis
      }).pipe(
        Effect.flatMap((shared) =>
          shared === undefined ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) => apply(lane, shared, now))
        )
      ),
      scope
    ))
  }
}

/** Builds a governor; its breaker timers live in the given scope. */
export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const settings = settingsOf(options)
  const scope = yield* Effect.scope
  // Read once, so opening a breaker stays one synchronous step (no other fiber sees half an update).
  const nextOpen = yield* delays(settings.openBackoff)
  const openMillis: Array<number> = []
  for (let trip = 1; trip <= steppedTrips; trip++) openMillis.push(Duration.toMillis(yield* nextOpen))
  const machine = makeLanes(settings, scope, openMillis)
  const { drain, laneOf, newWaiter, release, tryGrant } = machine
  const store = yield* Effect.serviceOption(GovernorStore)
  const share = makeSharing(settings, scope, Option.getOrUndefined(store), machine)

  const acquire = (
    lane: State,
    restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>
  ): Effect.Effect<Grant> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      lane.lastActivity = now
      // drain, not just refresh: a breaker that turned half-open here must hand its trial to the earlier waiters.
      drain(lane.home, now)
      const immediate = lane.waiters.length === 0 ? tryGrant(lane) : undefined
      if (immediate !== undefined) return Effect.succeed(immediate)
      const waiter = newWaiter()
      lane.waiters.push(waiter)
      return restore(Deferred.await(waiter.deferred)).pipe(
        Effect.onInterrupt(() =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.sync(() => {
              if (waiter.grant !== undefined) return release(lane, waiter.grant, now)
              const index = lane.waiters.indexOf(waiter)
              if (index >= 0) lane.waiters.splice(index, 1)
            }))
        ),
        Effect.map(() => waiter.grant!)
      )
    })

  const withPermit = (region: Region, modelId?: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) => {
      const lane = laneOf(region, modelId)
      return Effect.flatMap(acquire(lane, restore), (grant) =>
        restore(effect).pipe(
          Effect.ensuring(Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => release(lane, grant, now))))
        ))
    })

  return RegionGovernor.of({ withPermit, ...makeRecorders(settings, machine, share), ...makeViews(settings, machine) })
})

type Machine = ReturnType<typeof makeLanes>

/** The outcome side: AIMD on throttles, the breaker on environment failures. */
const makeRecorders = (
  settings: Settings,
  { close, drain, laneOf, open, refresh }: Machine,
  share: ReturnType<typeof makeSharing>
) => {
  const touched = (region: Region, modelId: string | undefined, now: number): State => {
    const lane = laneOf(region, modelId)
    lane.lastActivity = now
    refresh(lane, now)
    return lane
  }

  const recordSuccess = Effect.fn("RegionGovernor.recordSuccess")(function*(region: Region, modelId?: string, sentAt?: number) {
    const now = yield* Clock.currentTimeMillis
    const lane = touched(region, modelId, now)
    lane.successes++
    lane.volume++
    lane.consecutiveFailures = 0
    lane.successStreak++
    if (++lane.home.capStreak >= settings.successesToGrow) {
      lane.home.capStreak = 0
      lane.home.cap = Math.min(settings.regionCap, lane.home.cap + 1)
    }
    const grow = lane.successStreak >= settings.successesToGrow
    if (grow) {
      lane.successStreak = 0
      lane.limit = Math.min(settings.max, lane.limit + 1)
    }
    if (settings.pacing !== null) {
      Pacer.succeeded(lane.pacer, settings.pacing, now, sentAt)
      Pacer.succeeded(lane.home.pacer, settings.pacing, now, sentAt)
    }
    const closing = lane.breaker === "half-open"
    if (closing) close(lane, now)
    else drain(lane.home, now)
    yield* share(lane, { grow: grow ? { by: 1, max: settings.max } : undefined, close: closing }, now)
  })

  const recordThrottle = Effect.fn("RegionGovernor.recordThrottle")(function*(region: Region, modelId?: string, sentAt?: number) {
    const now = yield* Clock.currentTimeMillis
    const lane = touched(region, modelId, now)
    lane.throttles++
    lane.volume++
    lane.successStreak = 0
    if (now - lane.lastCutAt >= settings.cutCooldownMillis) {
      lane.lastCutAt = now
      lane.limit = Math.max(settings.min, Math.floor(lane.limit / 2))
    }
    if (settings.pacing !== null) paceThrottle(settings.pacing, lane, now, sentAt)
    cutRegionOnRegionalThrottle(settings, lane, now)
    yield* share(lane, { cut: { factor: 0.5, min: settings.min, cooldownMillis: settings.cutCooldownMillis } }, now)
  })

  const recordFailure = Effect.fn("RegionGovernor.recordFailure")(function*(region: Region, modelId?: string) {
    const now = yield* Clock.currentTimeMillis
    const lane = touched(region, modelId, now)
    lane.failures++
    // Half-open: the trial failed. Open: nothing to add. Closed: count it toward the threshold.
    let opens = lane.breaker === "half-open"
    if (lane.breaker === "closed") {
      lane.volume++
      lane.consecutiveFailures++
      opens = lane.consecutiveFailures >= settings.failureThreshold && lane.volume >= settings.minimumVolume
    }
    if (opens) yield* open(lane, now)
    yield* share(lane, { openForMillis: opens ? lane.openUntil - now : undefined }, now)
  })

  const bySignal: { readonly [S in Signal]: (region: Region, modelId?: string, sentAt?: number) => Effect.Effect<void> } = {
    success: recordSuccess,
    throttle: recordThrottle,
    failure: recordFailure,
    none: () => Effect.void
  }
  const recordOutcome = (region: Region, category: Category | null, modelId?: string, sentAt?: number) =>
    bySignal[ErrorCategory.signalOf(category)](region, modelId, sentAt)

  // First the lane's pacer (its model's quota), then the region's (a regional quota): a lane paced
  // on its own reserves a region slot only once its own slot came, so it never holds the region's
  // pace for the others. A caller whose pacer was cut while it slept (its `cuts` moved) gives its
  // slot back and takes one at the new pace (slots reserved at a pace just found too fast would all
  // be throttled); at the region (`late`), so does a caller that wakes more than a slot late (a busy
  // event loop), so a stall's backlog goes out spaced instead of in one burst.
  const paceOn = (pacer: Pacer.Pacer, pacing: Pacer.PacerSettings, late: boolean): Effect.Effect<void> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const start = Pacer.earliest(pacer, now)
      Pacer.commit(pacer, pacing, start, start > now)
      if (start <= now) return Effect.void
      const slot = 1000 / Math.max(pacer.rate ?? 0, pacing.minRate)
      const cuts = pacer.cuts
      return Effect.sleep(Duration.millis(start - now)).pipe(
        Effect.andThen(Clock.currentTimeMillis),
        Effect.flatMap((woke) => {
          if (pacer.cuts === cuts && (!late || woke - start <= slot)) return Effect.void
          Pacer.abandon(pacer, start)
          return paceOn(pacer, pacing, late)
        })
      )
    })

  const pace = (region: Region, modelId?: string): Effect.Effect<void> =>
    settings.pacing === null ? Effect.void : Effect.suspend(() => {
      const lane = laneOf(region, modelId)
      const pacing = settings.pacing!
      return Effect.andThen(paceOn(lane.pacer, pacing, false), Effect.flatMap(Clock.currentTimeMillis, (now) => {
        Pacer.trim(lane.recentStarts, now - classifyMillis)
        lane.recentStarts.push(now)
        return paceOn(lane.home.pacer, pacing, true)
      }))
    })

  const laneWait = (region: Region, modelId?: string): Effect.Effect<number> =>
    settings.pacing === null ? Effect.succeed(0) : Effect.map(Clock.currentTimeMillis, (now) => {
      const lane = laneOf(region, modelId)
      return Math.max(0, Pacer.earliest(lane.pacer, now) - now)
    })

  return { recordSuccess, recordThrottle, recordFailure, recordOutcome, pace, laneWait }
}


/** How far back `paceThrottle` compares a lane's throttles with the other lanes' (ms). */
const classifyMillis = 10_000

/**
 * A lane's throttles are its own quota's when a regional quota would throttle that many of its
 * requests (at the rate it throttles the region's other lanes) less often than this.
 */
const ownQuotaSignificance = 0.01

/** Requests the region's other lanes sent within `classifyMillis` before their throttle rate is a yardstick. */
const othersEvidence = 10

/**
 * Which pacer a throttle teaches: the lane's own (its model's quota) or the region's (a regional
 * quota). A regional quota throttles whichever model asks when the region's bucket is empty, so
 * every busy model of the region loses about the same share of its requests; a model's own quota
 * throttles that model alone. Over the last `classifyMillis`, the throttle is the lane's own when
 * the region's other lanes sent enough to be a yardstick (`othersEvidence`) and a regional quota,
 * throttling at their (smoothed) rate, would throttle that many of the lane's requests with
 * probability under `ownQuotaSignificance` — or when the lane already has its own pace. It is
 * doubtful (recorded, no pacer cut) when the lane was throttled more than once and loses more than
 * twice the others' share, but not yet clearly; otherwise the region's (one throttle of a lane
 * that sent a few requests while the others were not throttled says nothing of its own quota:
 * under a slow regional quota, the busiest lane's share of a lone throttle is often large). A lane
 * found to be its own quota undoes the region's pace when only its throttles engaged it. Only a
 * regional throttle holds the region's guess from stepping up.
 */
const paceThrottle = (pacing: Pacer.PacerSettings, lane: State, now: number, sentAt: number | undefined): void => {
  const home = lane.home
  const since = now - classifyMillis
  Pacer.trim(lane.recentThrottles, since)
  lane.recentThrottles.push(now)
  let otherStarts = 0
  let otherThrottles = 0
  for (const other of home.lanes) {
    if (other === lane) continue
    Pacer.trim(other.recentStarts, since)
    Pacer.trim(other.recentThrottles, since)
    otherStarts += other.recentStarts.length
    otherThrottles += other.recentThrottles.length
  }
  Pacer.trim(lane.recentStarts, since)
  // Under a regional quota the lane loses requests at the others' rate (Laplace-smoothed: a region
  // where little ran says little); its own quota shows as more throttles than that rate explains.
  const othersRate = (otherThrottles + 1) / (otherStarts + 2)
  const throttles = lane.recentThrottles.length
  const starts = Math.max(throttles, lane.recentStarts.length)
  // The others must have sent enough to know their rate: where little else ran, a lane's run of
  // throttles is as likely the region's quota.
  const known = otherStarts >= othersEvidence
  const own = lane.pacer.rate !== null || (known && binomialTail(starts, throttles, othersRate) < ownQuotaSignificance)
  // Not yet its own for sure, but losing clearly more than the others while both sent enough to
  // tell: the region's pace is left alone (the lane's concurrency limit was halved all the same).
  const doubtful = !own && known && throttles >= 2 && starts >= 3 && throttles / starts > 2 * othersRate
  if (own) {
    Pacer.throttled(home.pacer, pacing, now, false)
    Pacer.throttled(lane.pacer, pacing, now, true, sentAt)
    // The region's pacer engaged by this lane's throttles alone, before they told its own quota apart: undone.
    let othersRegional = false
    for (const [other, at] of home.regionalThrottles) {
      if (now - at > classifyMillis) home.regionalThrottles.delete(other)
      else if (other !== lane) othersRegional = true
    }
    if (home.regionalThrottles.delete(lane) && !othersRegional) Pacer.disengage(home.pacer)
    return
  }
  if (doubtful) return Pacer.throttled(home.pacer, pacing, now, false)
  home.regionalThrottles.set(lane, now)
  Pacer.throttled(home.pacer, pacing, now, true, sentAt)
}

/** P(X ≥ k) for X ~ Binomial(n, p). */
const binomialTail = (n: number, k: number, p: number): number => {
  if (k <= 0) return 1
  let term = (1 - p) ** n // P(X = 0)
  let below = 0
  for (let x = 0; x < k; x++) {
    below += term
    term = term * ((n - x) / (x + 1)) * (p / (1 - p))
  }
  return Math.max(0, 1 - below)
}

/** Several lanes of a region throttled within the cooldown: a regional quota halves the region's cap. */
const cutRegionOnRegionalThrottle = (settings: Settings, lane: State, now: number): void => {
  const home = lane.home
  home.throttledLanes.set(lane, now)
  let recent = 0
  for (const [other, at] of home.throttledLanes) {
    if (now - at > settings.cutCooldownMillis) home.throttledLanes.delete(other)
    else recent++
  }
  if (recent < 2 || now - home.lastCapCutAt < settings.cutCooldownMillis) return
  home.lastCapCutAt = now
  home.capStreak = 0
  home.cap = Math.max(settings.min, Math.floor(Math.min(home.cap, home.inFlight) / 2))
}

/** The read side: snapshots of lanes and regions, for metrics and tests. */
const makeViews = (settings: Settings, { drain, laneOf, lanes, regions }: Machine) => {
  const view = (lane: State): RegionSnapshot => ({
    region: lane.region,
    modelId: lane.modelId,
    limit: lane.limit,
    inFlight: lane.inFlight,
    waiting: lane.waiters.length,
    breaker: lane.breaker,
    throttles: lane.throttles,
    failures: lane.failures,
    successes: lane.successes,
    trips: lane.trips
  })

  const state = (region: Region, modelId?: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        const lane = laneOf(region, modelId)
        drain(lane.home, now)
        return view(lane)
      }))

  const regionState = (region: Region) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync((): RegionCapSnapshot => {
        const home = regions.get(region)
        if (home !== undefined) drain(home, now)
        return {
          region,
          inFlight: home?.inFlight ?? 0,
          cap: home?.cap ?? settings.regionCap,
          breaker: home?.outage === true ? "open" : "closed",
          outages: home?.outages ?? 0,
          openModels: home?.lanes.filter((l) => l.modelId !== null && l.breaker === "open").length ?? 0
        }
      }))

  const snapshot = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.sync(() => {
      for (const home of regions.values()) drain(home, now)
      return Array.from(lanes.values(), view)
    }))

  return { state, regionState, snapshot }
}

/** The governor with the given tuning. */
export const layer = (options: Options = {}): Layer.Layer<RegionGovernor> => Layer.effect(RegionGovernor, make(options))
