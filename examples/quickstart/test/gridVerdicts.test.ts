/**
 * Verdict truth on a seeded random grid of scenarios (≥ 500 units): availability, wrong answers,
 * broken JSON / streams / tools, throttle storms (tight per-region and per-model buckets), 5xx
 * bursts that must be retried through, and persistent 5xx — each unit checked against the oracle.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Region, Registry } from "@myia/certification"
import { Scenario } from "@myia/certification/emulator"
import * as Schema from "effect/Schema"
import { faults, generate } from "./grid.ts"
import { expectedVerdict, mismatch } from "./oracle.ts"
import { type Engine, startEngine, testInstant } from "./support.ts"

const seed = Number(process.env["GRID_SEED"] ?? 20261122)
const regions = ["us-east-1", "us-west-2", "us-east-2", "eu-central-1", "eu-west-1", "ap-northeast-1", "ap-south-1"]
  .map((r) => Schema.decodeSync(Region.Region)(r))
const registry = Registry.make()
const at = testInstant

describe("seeded random grid", () => {
  let engine: Engine
  const grid = generate(seed, regions, at)
  beforeAll(async () => {
    engine = await startEngine(grid.input, {
      worker: { concurrency: 48 },
      // A floor of 8 per region keeps the run short on a shared machine; AIMD still acts above it.
      governor: {
        initial: 16,
        min: 8,
        max: 64,
        failureThreshold: 20,
        openDuration: "50 millis",
        maxOpenDuration: "200 millis"
      },
      // Throttled retries back off up to 640 ms (base × 2^5) so a storm's bucket refills between a test's calls.
      runner: { backoffBaseMillis: 20, backoffMaxMillis: 1_000, maxAttempts: 10, testConcurrency: 4 },
      queueMaxAttempts: 4
    })
  })
  afterAll(() => engine?.close())

  // A correctness test, not a speed test: ~45 s on an idle 2-core machine, ~170 s beside a second grid,
  // and over 600 s inside a full run on a machine loaded ~15 deep (its ~6,200 SDK calls are CPU-bound).
  it("gives every unit of ≥ 500 the verdict its scenario intends", { timeout: 1_800_000 }, async () => {
    const started = performance.now()
    const scenario = Scenario.make(grid.input)
    const created = await engine.certification.certifyAll({ regions: [...regions] })
    const detail = await engine.certification.waitForJob(created.jobId)
    const ms = Math.round(performance.now() - started)
    const requests = engine.emulator.requests()
    const throttled = requests.filter((r) => r.errorName === "ThrottlingException").length
    const errors5xx = requests.filter((r) => r.status >= 500).length
    console.log(
      `grid seed ${seed}: ${detail.units.length} units in ${ms} ms; ${requests.length} Bedrock calls, ` +
        `${throttled} throttled, ${errors5xx} answered 5xx`
    )

    assert.isAtLeast(detail.units.length, 500)
    assert.strictEqual(detail.units.length, grid.pairs.length)
    assert.strictEqual(detail.job.status, "COMPLETED")
    // The storms really happened: throttling and 5xx were met and had to be waited or retried out.
    assert.isAbove(throttled, 0)
    assert.isAbove(errors5xx, 0)

    const problems: Array<string> = []
    for (const unit of detail.units) {
      const model = registry.get(unit.modelId)
      if (model._tag === "None") {
        problems.push(`${unit.modelId}: unknown to the registry`)
        continue
      }
      const expected = expectedVerdict(scenario, model.value, unit.region)
      const problem = mismatch(unit, expected)
      if (problem !== null) problems.push(`${problem} [drawn: ${grid.drawn.get(`${unit.modelId}|${unit.region}`)}]`)
      const fault = grid.drawn.get(`${unit.modelId}|${unit.region}`)
      // The named invariants, stated on their own so a failure says which one broke.
      if ((fault === "throttle-storm" || fault === "5xx-burst") && unit.status === "FAILED") {
        problems.push(`${unit.modelId} @ ${unit.region}: healthy but ${fault} yet FAILED`)
      }
      if (fault === "wrong" && unit.status === "CERTIFIED") {
        problems.push(`${unit.modelId} @ ${unit.region}: answers wrong yet CERTIFIED`)
      }
    }
    assert.deepStrictEqual(problems, [])

    // The grid covered every fault row and every verdict but CANCELLED.
    const drawnFaults = new Set(grid.drawn.values())
    for (const [, name] of faults) assert.isTrue(drawnFaults.has(name), `fault ${name} drawn`)
    const verdicts = new Set(detail.units.map((u) => u.status))
    // UNSUPPORTED never appears: certifyAll skips what suite v1 cannot drive (issue #13).
    for (const v of ["CERTIFIED", "QUALITY_WARNING", "FAILED", "UNAVAILABLE", "INCONCLUSIVE"]) {
      assert.isTrue(verdicts.has(v as never), `verdict ${v} appears`)
    }
  })
})
