/**
 * Latency and time-to-first-token aggregates of certification results (issue 18), for `GET /stats`:
 * p50 and p95 per region and per model family, in seconds, over the tests of the latest result of
 * each (model, region). Only tests the model answered count (PASSED or FAILED): an errored or skipped
 * test measured the environment, not the model.
 *
 * @since 0.1.0
 */
import type { TestResult } from "./Domain.ts"

/** A distribution summary in seconds; `p50`/`p95` are null without samples. */
export interface Percentiles {
  readonly count: number
  readonly p50: number | null
  readonly p95: number | null
}

/** Latency and TTFT of one group (a region or a model family). */
export interface Aggregate {
  readonly latency: Percentiles
  readonly ttft: Percentiles
}

export interface LatencyStats {
  readonly byRegion: ReadonlyArray<Aggregate & { readonly region: string }>
  readonly byModelFamily: ReadonlyArray<Aggregate & { readonly family: string }>
}

/** What the aggregates read of a unit. */
export interface Sample {
  readonly modelId: string
  readonly region: string
  readonly tests: ReadonlyArray<Pick<TestResult, "status" | "latencyMs" | "ttftMs">>
}

/**
 * A model's family: its vendor and the first word of its name, without an inference-profile
 * geography prefix — `us.anthropic.claude-3-5-haiku-20241022-v1:0` → `anthropic.claude`,
 * `amazon.nova-lite-v1:0` → `amazon.nova`, `meta.llama3-1-8b-instruct-v1:0` → `meta.llama3`.
 */
export const familyOf = (modelId: string): string => {
  const parts = modelId.split(".")
  // Inference profiles: `us.`, `eu.`, `apac.`, `global.` before `vendor.model`.
  const [vendor, ...rest] = parts.length > 2 && /^[a-z]{2,6}$/.test(parts[0]!) ? parts.slice(1) : parts
  const name = rest.join(".")
  const word = name.split(/[-:]/)[0] ?? ""
  return word === "" ? vendor ?? modelId : `${vendor}.${word}`
}

/** The nearest-rank `q`-quantile (0 < q ≤ 1) of ascending `sorted`, or null when empty. */
export const quantile = (sorted: ReadonlyArray<number>, q: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

const round = (seconds: number | null) => seconds === null ? null : Math.round(seconds * 1000) / 1000

/** p50 and p95 of millisecond samples, in seconds. */
export const percentiles = (millis: ReadonlyArray<number>): Percentiles => {
  const sorted = [...millis].sort((a, b) => a - b)
  const seconds = (value: number | null) => round(value === null ? null : value / 1000)
  return { count: sorted.length, p50: seconds(quantile(sorted, 0.5)), p95: seconds(quantile(sorted, 0.95)) }
}

const answered = (status: TestResult["status"]) => status === "PASSED" || status === "FAILED"

/** The aggregates of `samples`, groups sorted by name. */
export const aggregate = (samples: ReadonlyArray<Sample>): LatencyStats => {
  const groups = { region: new Map<string, { latency: Array<number>; ttft: Array<number> }>(), family: new Map() }
  const add = (map: typeof groups.region, key: string, test: Sample["tests"][number]) => {
    const group = map.get(key) ?? { latency: [], ttft: [] }
    if (test.latencyMs !== null) group.latency.push(test.latencyMs)
    if (test.ttftMs !== null) group.ttft.push(test.ttftMs)
    map.set(key, group)
  }
  for (const sample of samples) {
    for (const test of sample.tests) {
      if (!answered(test.status)) continue
      add(groups.region, sample.region, test)
      add(groups.family, familyOf(sample.modelId), test)
    }
  }
  const summarize = (map: typeof groups.region) =>
    [...map].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, g]) => ({
      key,
      latency: percentiles(g.latency),
      ttft: percentiles(g.ttft)
    }))
  return {
    byRegion: summarize(groups.region).map(({ key, ...rest }) => ({ region: key, ...rest })),
    byModelFamily: summarize(groups.family).map(({ key, ...rest }) => ({ family: key, ...rest }))
  }
}
