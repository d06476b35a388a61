/**
 * The GovernorStore port (issue 16): where the region governor's lanes keep the state that every
 * worker process shares, so that N processes pace one quota together instead of N times.
 *
 * A lane is one model in one region (see `RegionGovernor`). The store keeps, per lane, the AIMD
 * concurrency limit of all processes together and how long the lane's breaker stays open, plus
 * which processes used the lane lately. The governor decides *what* changes (its policy: when to
 * grow, cut or open); the store applies those changes atomically across processes and answers the
 * merged state. Once the lane was cut (throttled), each process holds `ceil(limit / processes)` of
 * its slots; before, the limit is no quota and each keeps its own. Each keeps its breaker open while
 * the shared one is. `layerMemory` serves the processes of one Node process
 * (tests, embedded workers); `@myia/certification-bullmq` provides one in the queue's Redis.
 *
 * **Contract** (`GovernorStoreTest.suite`)
 * - `sync` applies `update` atomically: first `grow` (the limit + `by`, at most `max`), then `cut`
 *   (the limit × `factor`, rounded down, at least `min` — only when no cut of this lane happened in
 *   the last `cooldownMillis`, from any process), then `openForMillis` (the breaker stays open at
 *   least that long from now), then `close` (a breaker whose time is up is closed). A lane seen for
 *   the first time starts at `initialLimit`, closed.
 * - It records `processId` as active on the lane and answers the lane's state: its limit, how long
 *   its breaker is still open (0 when closed), how many processes synced it within
 *   `activeWindowMillis` (this one included), and whether it was ever cut.
 * - It never fails: a store that cannot be reached answers `undefined`, and the governor carries on
 *   with its own state (Bedrock's throttling still protects the account).
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** What the governor changes in a lane's shared state, and how the store counts processes. */
export interface LaneUpdate {
  /** The limit of a lane the store has not seen yet. */
  readonly initialLimit: number
  readonly grow?: { readonly by: number; readonly max: number } | undefined
  readonly cut?: { readonly factor: number; readonly min: number; readonly cooldownMillis: number } | undefined
  /** Keep the breaker open at least this long from now. */
  readonly openForMillis?: number | undefined
  /** Close the breaker if its open time is over. */
  readonly close?: boolean | undefined
  /** A process counts as active on the lane this long after its last sync. */
  readonly activeWindowMillis: number
}

/** A lane's state as every process sees it. */
export interface SharedLane {
  /** The concurrency limit of all processes together. */
  readonly limit: number
  /** How long the breaker stays open from now (0: closed). */
  readonly openForMillis: number
  /** Processes that synced the lane within the active window (at least 1: the caller). */
  readonly processes: number
  /**
   * Whether any process ever cut the lane's limit (a throttle): only then is the limit a quota
   * the processes share. Before that it is every process's own growth, not a quota to split.
   */
  readonly cut: boolean
}

export class GovernorStore extends Context.Service<GovernorStore, {
  /** Apply `update` to the lane and answer its merged state; `undefined` when the store is unreachable. */
  readonly sync: (lane: string, processId: string, update: LaneUpdate) => Effect.Effect<SharedLane | undefined>
}>()("@myia/certification/GovernorStore") {}

interface MemoryLane {
  limit: number
  lastCutAt: number
  openUntil: number
  readonly seen: Map<string, number>
}

/** A store in this process's memory, shared by every governor built over it. Time from `Clock`. */
export const makeMemory = (): GovernorStore["Service"] => {
  const lanes = new Map<string, MemoryLane>()
  const sync = (lane: string, processId: string, update: LaneUpdate) =>
    Effect.map(Clock.currentTimeMillis, (now): SharedLane => {
      let state = lanes.get(lane)
      if (state === undefined) {
        state = { limit: update.initialLimit, lastCutAt: Number.NEGATIVE_INFINITY, openUntil: 0, seen: new Map() }
        lanes.set(lane, state)
      }
      if (update.grow !== undefined) state.limit = Math.min(update.grow.max, state.limit + update.grow.by)
      if (update.cut !== undefined && now - state.lastCutAt >= update.cut.cooldownMillis) {
        state.limit = Math.max(update.cut.min, Math.floor(state.limit * update.cut.factor))
        state.lastCutAt = now
      }
      if (update.openForMillis !== undefined && update.openForMillis > 0) {
        state.openUntil = Math.max(state.openUntil, now + update.openForMillis)
      }
      if (update.close === true && state.openUntil <= now) state.openUntil = 0
      state.seen.set(processId, now)
      for (const [id, at] of state.seen) if (now - at > update.activeWindowMillis) state.seen.delete(id)
      return {
        limit: state.limit,
        openForMillis: Math.max(0, state.openUntil - now),
        processes: state.seen.size,
        cut: state.lastCutAt > Number.NEGATIVE_INFINITY
      }
    })
  return GovernorStore.of({ sync })
}

/** The in-process store as a layer (one store per build). */
export const layerMemory: Layer.Layer<GovernorStore> = Layer.sync(GovernorStore, makeMemory)
