/**
 * Service validation through the facade: explicit requests for models that cannot be certified fail
 * with typed errors naming each model and reason and create nothing; "all" lists what it skipped.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { createCertification, Registry, Suite } from "@myia/certification"
import { Fixtures } from "@myia/certification/testing"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"
import { testInstant } from "./support.ts"

// No worker: validation and job creation only, nothing is ever sent to Bedrock.
const make = () =>
  createCertification({
    storage: MemoryStorage.layer,
    queue: MemoryQueue.layer(),
    worker: false,
    logLevel: "None",
    clock: Fixtures.clockAt(testInstant)
  })

const failure = (promise: Promise<unknown>): Promise<any> =>
  promise.then(
    (value) => assert.fail(`expected a rejection, got ${JSON.stringify(value)}`),
    (error: unknown) => error
  )

const imageModel = Registry.builtinModels.find((m) => m.modality === "image")!.id

describe("certification service validation", () => {
  let certification: ReturnType<typeof make>
  beforeAll(() => {
    certification = make()
  })
  afterAll(() => certification.close())

  const total = async () => (await certification.history({}, { page: 1, limit: 1 })).total

  it("rejects unknown, non-Bedrock and suite-less models with the reason for each, creating nothing", async () => {
    const before = await total()
    const cases = [
      ["amazon.no-such-model-v9:0", "UNKNOWN_MODEL"],
      ["openai:gpt-4o", "NOT_BEDROCK"],
      [imageModel, "NO_SUITE"]
    ] as const
    for (const [modelId, reason] of cases) {
      const error = await failure(certification.certifyModel({ modelId, region: "us-east-1" }))
      assert.strictEqual(error._tag, "ModelsNotCertifiable", modelId)
      assert.deepStrictEqual(error.models.map((m: any) => [m.modelId, m.reason]), [[modelId, reason]])
      assert.include(error.message, modelId)
    }
    // Several bad models in one request: every one is named, the good one is not, and nothing is created.
    const error = await failure(
      certification.certifyMultiple({
        modelIds: ["amazon.nova-lite-v1:0", ...cases.map(([m]) => m)],
        regions: ["us-east-1", "us-west-2"]
      })
    )
    assert.strictEqual(error._tag, "ModelsNotCertifiable")
    assert.deepStrictEqual(
      error.models.map((m: any) => [m.modelId, m.reason]).sort(),
      cases.map(([m, r]) => [m, r]).sort()
    )
    assert.strictEqual(await total(), before)
  })

  it("rejects unknown regions and over-limit requests as InvalidRequest naming the field, creating nothing",
    async () => {
    const before = await total()
    const region = await failure(certification.certifyModel({ modelId: "amazon.nova-lite-v1:0", region: "us-moon-1" }))
    assert.strictEqual(region._tag, "InvalidRequest")
    assert.deepStrictEqual(region.issues.map((i: any) => i.field), ["region[0]"])
    assert.include(region.message, "us-moon-1")

    const many = Registry.builtinModels.filter((m) => m.modality === "chat").map((m) => m.id)
    const tooMany = [...many, ...many].map((id, i) => (i < many.length ? id : `${id}-copy`)).slice(0, 101)
    assert.strictEqual(tooMany.length, 101)
    const limit = await failure(certification.certifyMultiple({ modelIds: tooMany, regions: ["us-east-1"] }))
    assert.strictEqual(limit._tag, "InvalidRequest")
    assert.isTrue(limit.issues.some((i: any) => i.field === "modelIds" && /at most 100/.test(i.message)))

    const none = await failure(certification.certifyMultiple({ modelIds: [], regions: [] }))
    assert.strictEqual(none._tag, "InvalidRequest")
    assert.deepStrictEqual(none.issues.map((i: any) => i.field).sort(), ["modelIds", "regions"])
    assert.strictEqual(await total(), before)
  })

  it("certifyAll creates one job and returns every non-certifiable pair in skipped, with its reason", async () => {
    const before = await total()
    const regions = ["us-east-1", "eu-central-1"]
    const created = await certification.certifyAll({ regions })
    assert.strictEqual(await total(), before + 1)

    const registry = Registry.make()
    const at = testInstant
    const candidates = registry.models.filter((m) => m.modality === "chat" || m.modality === "embedding")
    assert.strictEqual(created.totalUnits + created.skipped.length, candidates.length * regions.length)
    for (const s of created.skipped) {
      const c = registry.certifiability(s.modelId, s.region as never, at)
      // What the registry certifies but suite v1 cannot drive (an embedding family without a request
      // format) is skipped as NO_SUITE too (issue #13): never a unit that can only end UNSUPPORTED.
      const undrivable = c._tag === "Certifiable" && typeof Suite.kindOf(c.model) !== "string"
      assert.isTrue(c._tag === "NotCertifiable" || undrivable, `${s.modelId} ${s.region}`)
      assert.strictEqual(c._tag === "NotCertifiable" ? c.reason : "NO_SUITE", s.reason)
      assert.include(s.message, s.modelId)
    }
    const reasons = new Set(created.skipped.map((s) => s.reason))
    assert.isTrue(reasons.has("NOT_OFFERED_IN_REGION") && reasons.has("END_OF_LIFE"), [...reasons].join())
    const detail = await certification.getJob(created.jobId)
    const skippedPairs = new Set(created.skipped.map((s) => `${s.modelId}|${s.region}`))
    assert.strictEqual(detail.units.length, created.totalUnits)
    assert.isFalse(detail.units.some((u) => skippedPairs.has(`${u.modelId}|${u.region}`)))
  })
})
