/**
 * The emulator's mutable state besides the request log: the scenario in force, the account's
 * application inference profiles, the per-(region, model) request counters that seed each request's
 * fate, and the throttle token buckets. Resetting starts counters and buckets afresh; replacing the
 * scenario also starts the profiles afresh from the new scenario's.
 *
 * @since 0.1.0
 */
import { regionCodes } from "../Region.ts"
import * as ApplicationProfiles from "./ApplicationProfiles.ts"
import * as Scenario from "./Scenario.ts"

/** Scenario, counters and buckets of one emulator. */
export interface State {
  readonly scenario: () => Scenario.Scenario
  /** The account's application inference profiles (the scenario's, and those created since it was set). */
  readonly profiles: () => ApplicationProfiles.Store
  /** Replace the scenario (throws on an invalid document) and reset; created profiles are forgotten too. */
  readonly setScenario: (scenario: Scenario.ScenarioInput | Scenario.Scenario) => void
  /** Forget the counters and the buckets. */
  readonly reset: () => void
  /** The 0-based index of this request among those to (region, model). */
  readonly nextCount: (region: string, modelId: string) => number
  /** Take a token from the region's bucket and the (region, model)'s; false when either is empty. */
  readonly admit: (region: string, resolved: Scenario.Resolved) => boolean
}

const isCompiled = (s: Scenario.ScenarioInput | Scenario.Scenario): s is Scenario.Scenario =>
  "models" in s && s.models instanceof Map

/** A scenario document compiled, a compiled one as is, or the default scenario. */
export const compile = (s: Scenario.ScenarioInput | Scenario.Scenario | undefined): Scenario.Scenario =>
  s === undefined ? Scenario.defaultScenario() : isCompiled(s) ? s : Scenario.make(s)

/** Fresh state for a scenario. */
export const make = (initial: Scenario.ScenarioInput | Scenario.Scenario | undefined): State => {
  let scenario = compile(initial)
  let profiles = ApplicationProfiles.make(scenario, regionCodes)
  let counters = new Map<string, number>()
  let buckets = new Map<string, Scenario.TokenBucket>()

  const reset = () => {
    counters = new Map()
    buckets = new Map()
  }

  const take = (key: string, throttle: Scenario.Throttle | undefined, now: number): boolean => {
    if (throttle === undefined) return true
    let bucket = buckets.get(key)
    if (bucket === undefined || bucket.throttle !== throttle) {
      bucket = new Scenario.TokenBucket(throttle, now)
      buckets.set(key, bucket)
    }
    return bucket.take(now)
  }

  return {
    scenario: () => scenario,
    profiles: () => profiles,
    setScenario: (next) => {
      scenario = compile(next)
      profiles = ApplicationProfiles.make(scenario, regionCodes)
      reset()
    },
    reset,
    nextCount: (region, modelId) => {
      const key = `${region}\u0000${modelId}`
      const n = counters.get(key) ?? 0
      counters.set(key, n + 1)
      return n
    },
    admit: (region, resolved) => {
      // Token buckets measure elapsed time, so they read the monotonic clock.
      const now = performance.now()
      const perRegion = scenario.document.regionThrottle?.[region] ?? scenario.document.regionThrottle?.["*"]
      return take(`region\u0000${region}`, perRegion, now) &&
        take(`model\u0000${region}\u0000${resolved.modelId}`, resolved.throttle, now)
    }
  }
}
