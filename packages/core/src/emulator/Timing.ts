/**
 * How long an emulated answer takes: a time to first token and a per-token delay drawn from the
 * resolved latency, scaled by the scenario's `timeScale`. Every draw comes from the request's seeded
 * `timing` stream, so the n-th request to a (region, model) always takes the same time.
 *
 * @since 0.1.0
 */
import * as Scenario from "./Scenario.ts"

/** The time to first token, in ms. */
export const ttft = (scenario: Scenario.Scenario, resolved: Scenario.Resolved, timing: () => number): number =>
  Scenario.sampleTtft(resolved.latency.ttftMs, timing) * scenario.timeScale

/** The time `tokens` output tokens take, in ms. */
export const tokens = (
  scenario: Scenario.Scenario,
  resolved: Scenario.Resolved,
  count: number,
  timing: () => number
): number => Scenario.sampleTokensDelay(resolved.latency, count, timing) * scenario.timeScale
