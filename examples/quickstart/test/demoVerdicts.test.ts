/**
 * Verdict truth on the quickstart's built-in scenario: every scripted rule plus healthy chat,
 * reasoning, profile-routed and embedding models in all three demo regions, each unit's verdict
 * checked against the oracle (computed from the scenario and the registry, not from the runner).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Region, Registry } from "@myia/certification"
import { Scenario } from "@myia/certification/emulator"
import * as Schema from "effect/Schema"
import { DemoScenario } from "@myia/certification-cli"
import { type Engine, startEngine, testInstant } from "./support.ts"
import { expectedVerdict, mismatch } from "./oracle.ts"

const regions = ["us-east-1", "us-west-2", "eu-central-1"].map((r) => Schema.decodeSync(Region.Region)(r))

const registry = Registry.make()
const certifiableSomewhere = (id: string) =>
  regions.some((region) => registry.certifiability(id, region, testInstant)._tag === "Certifiable")

// Every model a demo rule names, plus healthy ones of each kind the registry routes differently —
// those the registry still offers at the test's instant (an explicit request for a model past its end
// of life is refused, by design).
const scripted = (DemoScenario.demoScenario.rules ?? [])
  .flatMap((r) => (typeof r.models === "string" ? [r.models] : [...r.models]))
  .filter(certifiableSomewhere)
const healthy = [
  "amazon.titan-text-express-v1", // on demand everywhere
  "amazon.nova-lite-v1:0", // on demand in us-east-1, profile-only elsewhere
  "anthropic.claude-haiku-4-5-20251001-v1:0", // profile-only everywhere, reasoning
  "openai.gpt-oss-20b-1:0", // reasoning, on demand
  "amazon.titan-embed-text-v2:0",
  "cohere.embed-v4:0" // embedding, profile-only in two regions
]
// An embedding family suite v1 cannot drive is refused at request time (issue #13), never an UNSUPPORTED unit.
const undrivable = "amazon.nova-2-multimodal-embeddings-v1:0"
const models = [...scripted, ...healthy.filter(certifiableSomewhere)]

describe("quickstart demo scenario", () => {
  let engine: Engine
  beforeAll(async () => {
    engine = await startEngine(DemoScenario.demoScenario, { worker: { concurrency: 12 } })
  })
  afterAll(() => engine?.close())

  it("gives every unit the verdict the scenario intends, with the category for UNAVAILABLE ones", async () => {
    const started = performance.now()
    const scenario = Scenario.make(DemoScenario.demoScenario)
    const created = await engine.certification.certifyMultiple({ modelIds: models, regions: [...regions] })
    const detail = await engine.certification.waitForJob(created.jobId)
    console.log(`demo scenario: ${detail.units.length} units in ${Math.round(performance.now() - started)} ms`)

    assert.strictEqual(detail.job.status, "COMPLETED")
    // The job holds exactly the pairs the registry offers (others are skipped, not run).
    const offered = models.flatMap((id) =>
      regions
        .filter((region) => registry.certifiability(id, region, testInstant)._tag === "Certifiable")
        .map((region) => `${id}|${region}`)
    )
    assert.deepStrictEqual(detail.units.map((u) => `${u.modelId}|${u.region}`).sort(), offered.sort())

    const wrong = detail.units.flatMap((unit) => {
      const model = registry.get(unit.modelId)
      if (model._tag === "None") return [`${unit.modelId}: unknown to the registry`]
      const problem = mismatch(unit, expectedVerdict(scenario, model.value, unit.region))
      return problem === null ? [] : [problem]
    })
    assert.deepStrictEqual(wrong, [])

    // The subset is large enough to matter: every scripted model ran, and every verdict but CANCELLED appears.
    for (const id of scripted) assert.isTrue(detail.units.some((u) => u.modelId === id), `${id} was certified`)
    const verdicts = new Set(detail.units.map((u) => u.status))
    for (const v of ["CERTIFIED", "QUALITY_WARNING", "FAILED", "UNAVAILABLE", "INCONCLUSIVE"]) {
      assert.isTrue(verdicts.has(v as never), `verdict ${v} appears`)
    }
    assert.isTrue(new Set(detail.units.filter((u) => u.status === "CERTIFIED").map((u) => u.region)).size === 3)
  })

  it("refuses an explicit request for an embedding family suite v1 cannot drive, with the reason", async () => {
    const refused = await engine.certification.certifyModel({ modelId: undrivable, region: "us-east-1" }).then(
      () => undefined,
      (error: { readonly _tag?: string; readonly message?: string }) => error
    )
    assert.strictEqual(refused?._tag, "ModelsNotCertifiable")
    assert.include(refused?.message ?? "", "no request format")
  })
})
