/**
 * The seeded random verdict grid, shared by the in-process grid (`gridVerdicts.test.ts`) and the
 * distributed one (`examples/worker/test/distributedGrid.test.ts`, issue 15): a fault table drawn per
 * (model, region) from a seed into an emulator scenario, with what was drawn for each pair.
 */
import { type Region, Registry } from "@myia/certification"
import { Scenario } from "@myia/certification/emulator"
import { drivableEmbeddings } from "./oracle.ts"

const registry = Registry.make()

export type Fault = (rand: () => number, kind: "chat" | "embedding") => Omit<Scenario.Rule, "models" | "regions"> | null

// The fault table: each row's weight and the behaviour it scripts (null = healthy). Chat-only rows
// fall back to healthy for embedding models, whose answers do not depend on quality.
export const faults: ReadonlyArray<readonly [weight: number, name: string, fault: Fault]> = [
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

/** The grid's pairs in `regions` certifiable `at` (what certifyAll will run) and a scenario drawn from the seed. */
export const generate = (seed: number, regions: ReadonlyArray<Region.Region>, at: string) => {
  const rand = Scenario.mulberry32(seed)
  const pairs = registry.models
    .filter((m) => m.modality === "chat" || m.modality === "embedding")
    // certifyAll skips embedding families suite v1 cannot drive (issue #13): they never become units.
    .filter((m) => m.modality !== "embedding" || drivableEmbeddings.some((re) => re.test(m.id)))
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
