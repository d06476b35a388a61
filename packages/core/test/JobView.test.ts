import { assert, describe, it } from "@effect/vitest"
import * as Domain from "../src/Domain.ts"
import * as JobView from "../src/JobView.ts"
import type { UnitCell } from "../src/Storage.ts"

const cell = (modelId: string, region: string, status: Domain.UnitStatus): UnitCell => ({
  modelId: modelId as Domain.ModelId,
  region: region as Domain.Region,
  status,
  score: null,
  grade: null
})

const countsOf = (pending: number, certified: number) =>
  new Domain.JobCounts({
    total: pending + certified,
    pending,
    queued: 0,
    processing: 0,
    completed: certified,
    passed: certified,
    byVerdict: { ...Object.fromEntries(Domain.verdicts.map((v) => [v, 0])), CERTIFIED: certified } as Record<Domain.Verdict, number>
  })

describe("JobView", () => {
  it("every unit status has its own one-letter code, distinct from the empty cell", () => {
    const codes = Domain.UnitStatus.literals.map((s) => JobView.statusCodes[s])
    assert.strictEqual(new Set([...codes, JobView.noUnitCode]).size, codes.length + 1)
    assert.isTrue(codes.every((c) => c.length === 1))
  })

  it("summarize builds the matrix with an empty cell where the job has no unit, and counts per region", () => {
    const summary = JobView.summarize([
      cell("a", "us-west-2", "CERTIFIED"),
      cell("a", "eu-west-1", "FAILED"),
      cell("b", "us-west-2", "PROCESSING")
    ])
    assert.deepStrictEqual<unknown>(summary.matrix, { modelIds: ["a", "b"], regions: ["eu-west-1", "us-west-2"], rows: ["FC", ".R"] })
    assert.deepStrictEqual(summary.byRegion.map((r) => [r.region, r.total, r.completed, r.passed]), [
      ["eu-west-1", 1, 1, 0],
      ["us-west-2", 2, 1, 1]
    ])
    assert.strictEqual(summary.byVerdict.CERTIFIED, 1)
    assert.strictEqual(summary.byVerdict.FAILED, 1)
    assert.strictEqual(summary.codes[JobView.statusCodes.PROCESSING], "PROCESSING")
  })

  it("the summary cache answers only while the job's status and counts are unchanged, and stays bounded", () => {
    // maxStaleMillis 0: no live summary is served past its counts.
    const cache = JobView.makeSummaryCache(2, 0)
    const summary = JobView.summarize([cell("a", "us-east-1", "PENDING")])
    cache.set("j1", "PROCESSING", countsOf(1, 0), summary, 0)
    assert.strictEqual(cache.get("j1", "PROCESSING", countsOf(1, 0), 0), summary)
    assert.isUndefined(cache.get("j1", "PROCESSING", countsOf(0, 1), 0))
    assert.isUndefined(cache.get("j1", "COMPLETED", countsOf(1, 0), 0))
    cache.set("j2", "PROCESSING", countsOf(1, 0), summary, 0)
    cache.get("j1", "PROCESSING", countsOf(1, 0), 0) // j1 most recently used
    cache.set("j3", "PROCESSING", countsOf(1, 0), summary, 0)
    assert.isUndefined(cache.get("j2", "PROCESSING", countsOf(1, 0), 0))
    assert.strictEqual(cache.get("j1", "PROCESSING", countsOf(1, 0), 0), summary)
  })

  it("a live job's summary is served for maxStaleMillis after it was built, a terminal job's only for its counts", () => {
    const cache = JobView.makeSummaryCache(8, 1_000)
    const summary = JobView.summarize([cell("a", "us-east-1", "PROCESSING")])
    cache.set("j", "PROCESSING", countsOf(1, 0), summary, 10_000)
    assert.strictEqual(cache.get("j", "PROCESSING", countsOf(0, 1), 10_999), summary, "moved counts, built 999 ms ago")
    assert.isUndefined(cache.get("j", "PROCESSING", countsOf(0, 1), 11_000), "moved counts, built 1 s ago")
    assert.strictEqual(cache.get("j", "PROCESSING", countsOf(1, 0), 50_000), summary, "same counts: any age")
    assert.isUndefined(cache.get("j", "COMPLETED", countsOf(0, 1), 10_001), "a terminal job gets its final summary")
    cache.set("j", "COMPLETED", countsOf(0, 1), summary, 10_001)
    assert.strictEqual(cache.get("j", "COMPLETED", countsOf(0, 1), 99_000), summary)
  })
})
