/**
 * Verdict truth on a seeded random grid of scenarios (≥ 500 units): availability, wrong answers,
 * broken JSON / streams / tools, throttle storms (tight per-region and per-model buckets), 5xx
 * bursts that must be retried through, and persistent 5xx — each unit checked against the oracle.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Region, Registry } from "@myia/certification"
import { Scenario } from "@myia/certification/emulator"
import * as Schema from "effect/Schema"
import { expectedVerdict, mismatch } from "./oracle.ts"
import { type Engine, startEngine, testInstant } from "./support.ts"

const seed = Number(process.env["GRID_SEED"] ?? 20261122)
const regions = ["us-east-1", "us-west-2", "us-east-2", "eu-central-1", "eu-west-1", "ap-northeast-1", "ap-south-1"]
  .map((r) => Schema.decodeSync(Region.Region)(r))
const registry = Registry.make()
const at = testInstant

type Fault = (rand: () => number, kind: "chat" | "embedding") => Omit<Scenario.Rule, "models" | "regions"> | null

// The fault table: each row's weight and the behaviour it scripts (null = healthy). Chat-only rows
// fall back to healthy for embedding models, whose answers do not depend on quality.
const faults: ReadonlyArray<readonly [weight: number, name: string, fault: Fault]> = [
  [40, "healthy", () => null],
  [6, "not-offered", () => ({ availability: "not-offered" })],
  [4, "access-denied", () => ({ availability: "access-denied" })],
  [3, "marketplace-pending", () => ({ availability: "marketplace-pending" })],
  [3, "legacy", () => ({ availability: "legacy" })],
  [2, "eol", () => ({ availability: "eol" })],
  [8, "wrong", (_, kind) => (kind === "chat" ? { quality: "wrong" } : null)],
  [5, "broken-json", (_, kind) => (kind === "chat" ? { quality: "broken-json" } : null)],
  [5, "no-tools", (_, kind) => (kind === "chat" ? { quality: "no-tools" } : null)],
  [5, "broken-stream", (_, kind) => (kind === "chat" ? { quality: "broken-stream" } : null)],
  [10, "5xx-burst", (rand) => ({ errorRate5xx: Math.round((0.3 + 0.3 * rand()) * 100) / 100 })],
  [4, "persistent-5xx", () => ({ errorRate5xx: 1 })],
  // Burst 3: a test makes up to three calls in a row (embedding similarity), which a real quota admits.
  [8, "throttle-storm", (rand) => ({ throttle: { requestsPerSecond: 5 + Math.floor(rand() * 6), burst: 3 } })]
]
const totalWeight = faults.reduce((n, [w]) => n + w, 0)

/** The grid's pairs (what certifyAll will run) and a scenario drawn from the seed. */
const generate = (seed: number) => {
  const rand = Scenario.mulberry32(seed)
  const pairs = registry.models
    .filter((m) => m.modality === "chat" || m.modality === "embedding")
    .flatMap((m) =>
      regions.filter((r) => registry.certifiability(m.id, r, at)._tag === "Certifiable").map((r) => ({ m, r }))
    )
  const rules: Array<Scenario.Rule> = []
  const drawn = new Map<string, string>()
  for (const { m, r } of pairs) {
    let x = rand() * totalWeight
    const row = faults.find(([w]) => (x -= w) < 0) ?? faults[0]!
    const behaviour = row[2](rand, m.modality === "chat" ? "chat" : "embedding")
    drawn.set(`${m.id}|${r}`, behaviour === null ? "healthy" : row[1])
    if (behaviour !== null) rules.push({ models: [m.id], regions: [r], ...behaviour })
  }
  const input: Scenario.ScenarioInput = {
    seed,
    timeScale: 0.01,
    registry: "builtin",
    defaults: { quality: "good", throttle: { requestsPerSecond: 200, burst: 200 } },
    // A regional storm: one region admits only a trickle, so nearly every unit there meets throttling.
    regionThrottle: { [regions[Math.floor(rand() * regions.length)]!]: { requestsPerSecond: 60, burst: 10 } },
    rules
  }
  return { input, pairs, drawn }
}

describe("seeded random grid", () => {
  let engine: Engine
  const grid = generate(seed)
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
    for (const v of ["CERTIFIED", "QUALITY_WARNING", "FAILED", "UNAVAILABLE", "UNSUPPORTED", "INCONCLUSIVE"]) {
      assert.isTrue(verdicts.has(v as never), `verdict ${v} appears`)
    }
  })
})
