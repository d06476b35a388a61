import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import type { Region } from "../src/Domain.ts"
import * as JobPlan from "../src/JobPlan.ts"
import * as Registry from "../src/Registry.ts"

const at = "2026-12-01T12:00:00.000Z"
const limits: JobPlan.Limits = { maxModelsPerJob: 3, maxRegionsPerJob: 2, maxUnitsPerJob: 4 }
const east = "us-east-1" as Region
const west = "us-west-2" as Region

const info = (id: string, fields: Partial<Registry.ModelInfo> = {}): Registry.ModelInfo =>
  new Registry.ModelInfo({
    id,
    name: id,
    vendor: "Test",
    modality: "chat",
    api: "CONVERSE",
    capabilities: Object.fromEntries(Registry.capabilities.map((c) => [c, "yes"])) as Registry.ModelInfo["capabilities"],
    maxInputTokens: null,
    maxOutputTokens: null,
    regions: [{ region: east, invocation: "ON_DEMAND" }, { region: west, invocation: "ON_DEMAND" }],
    regionsKnown: true,
    profiles: [],
    lifecycle: { status: "ACTIVE", legacyAt: null, eolAt: null, source: "test" },
    sources: {},
    ...fields
  })

const registry = Registry.make({
  base: [
    info("test.both-v1"),
    info("test.east-only-v1", { regions: [{ region: east, invocation: "ON_DEMAND" }] }),
    info("test.retired-v1", { lifecycle: { status: "LEGACY", legacyAt: null, eolAt: "2026-11-26", source: "test" } }),
    info("test.image-v1", { modality: "image", api: "NONE" }),
    info("amazon.titan-embed-text-v2:0", { modality: "embedding", api: "INVOKE_MODEL" }),
    // An embedding family suite v1 has no request format for (issue #13, item 6).
    info("acme.embed-v1:0", { modality: "embedding", api: "INVOKE_MODEL" })
  ]
})

const resolved = (id: string, fields: Partial<JobPlan.ResolvedModel> = {}): JobPlan.ResolvedModel => ({
  requested: id,
  modelId: id,
  hostModelId: null,
  active: true,
  ...fields
})

const explicit = (models: ReadonlyArray<JobPlan.ResolvedModel>, regions: ReadonlyArray<Region>) =>
  JobPlan.explicit({ models, regions, modelsField: "modelIds", registry, at, limits })

const pairsOf = (plan: JobPlan.Plan) => plan.pairs.map((p) => `${p.modelId}|${p.region}`)

describe("JobPlan.explicit (one row per rule)", () => {
  const refusals: ReadonlyArray<readonly [string, JobPlan.ResolvedModel, string]> = [
    ["unknown model", resolved("test.nope-v1"), "UNKNOWN_MODEL"],
    ["non-Bedrock id", resolved("openai:gpt-4o"), "NOT_BEDROCK"],
    ["modality without a suite", resolved("test.image-v1"), "NO_SUITE"],
    ["an embedding family without a request format", resolved("acme.embed-v1:0"), "NO_SUITE"],
    ["past its end of life at the instant", resolved("test.retired-v1"), "END_OF_LIFE"],
    ["inactive in the host catalogue", resolved("host-id", { modelId: "test.both-v1", active: false }), "INACTIVE"]
  ]
  for (const [name, model, reason] of refusals) {
    it(`refuses the whole request for a model that is ${name} (${reason}), naming it`, () => {
      const result = explicit([resolved("test.both-v1"), model], [east])
      assert.isTrue(Result.isFailure(result))
      const error = Result.isFailure(result) ? result.failure : undefined
      assert.strictEqual(error?._tag, "ModelsNotCertifiable")
      const models = error?._tag === "ModelsNotCertifiable" ? error.models : []
      assert.deepStrictEqual(models.map((m) => [m.modelId, m.reason]), [[model.requested, reason]])
      assert.include(error?.message ?? "", model.requested)
    })
  }

  it("skips a region the model is not offered in, and plans the others", () => {
    const result = explicit([resolved("test.east-only-v1"), resolved("test.both-v1")], [east, west])
    assert.isTrue(Result.isSuccess(result))
    const plan = Result.getOrThrow(result)
    assert.deepStrictEqual(pairsOf(plan), ["test.east-only-v1|us-east-1", "test.both-v1|us-east-1", "test.both-v1|us-west-2"])
    assert.deepStrictEqual(plan.skipped.map((s) => [s.modelId, s.region, s.reason]), [
      ["test.east-only-v1", "us-west-2", "NOT_OFFERED_IN_REGION"]
    ])
  })

  it("refuses when nothing is left after the regional skips", () => {
    const result = explicit([resolved("test.east-only-v1")], [west])
    assert.strictEqual(Result.isFailure(result) ? result.failure._tag : null, "ModelsNotCertifiable")
  })

  it("keeps the host id on the pairs of a catalogue-mapped model", () => {
    const plan = Result.getOrThrow(explicit([resolved("my-model", { modelId: "test.both-v1", hostModelId: "my-model" })], [east]))
    assert.deepStrictEqual(plan.pairs, [{ modelId: "test.both-v1", hostModelId: "my-model", region: east }])
  })

  it("refuses more units than the limit with an InvalidRequest on the models field", () => {
    const result = explicit([resolved("test.both-v1"), resolved("amazon.titan-embed-text-v2:0"), resolved("test.east-only-v1")], [east, west])
    const error = Result.isFailure(result) ? result.failure : undefined
    assert.strictEqual(error?._tag, "InvalidRequest")
    assert.deepStrictEqual(error?._tag === "InvalidRequest" ? error.issues.map((i) => i.field) : [], ["modelIds"])
  })
})

describe("JobPlan.all", () => {
  it("plans every certifiable pair of the modalities and skips the rest with their reasons", () => {
    const plan = Result.getOrThrow(
      JobPlan.all({ regions: [east, west], modalities: ["chat"], registry, at, limits: { ...limits, maxUnitsPerJob: 10 } })
    )
    assert.deepStrictEqual(pairsOf(plan), ["test.both-v1|us-east-1", "test.both-v1|us-west-2", "test.east-only-v1|us-east-1"])
    assert.deepStrictEqual(plan.skipped.map((s) => `${s.modelId}|${s.region}|${s.reason}`), [
      "test.east-only-v1|us-west-2|NOT_OFFERED_IN_REGION",
      "test.retired-v1|us-east-1|END_OF_LIFE",
      "test.retired-v1|us-west-2|END_OF_LIFE"
    ])
    assert.include(plan.skipped[1]!.message, "2026-11-26")
  })

  it("is an InvalidRequest on regions when no pair is certifiable", () => {
    const result = JobPlan.all({ regions: ["eu-west-1" as Region], modalities: ["chat"], registry, at, limits })
    const error = Result.isFailure(result) ? result.failure : undefined
    assert.deepStrictEqual(error?.issues.map((i) => i.field), ["regions"])
  })
})

describe("JobPlan field validation", () => {
  it("regions: distinct codes; none, too many and unknown codes are issues naming the field", () => {
    assert.deepStrictEqual(Result.getOrThrow(JobPlan.regions("regions", ["us-east-1", "us-east-1"], limits)), [east])
    const issues = (input: ReadonlyArray<string>) => {
      const result = JobPlan.regions("regions", input, limits)
      return Result.isFailure(result) ? result.failure.map((i) => i.field) : []
    }
    assert.deepStrictEqual(issues([]), ["regions"])
    assert.deepStrictEqual(issues(["us-east-1", "us-west-2", "eu-west-1"]), ["regions"])
    assert.deepStrictEqual(issues(["us-east-1", "mars-1"]), ["regions[1]"])
  })

  it("model ids: trimmed and distinct; none, too many, whitespace and over-long ids are issues", () => {
    assert.deepStrictEqual(Result.getOrThrow(JobPlan.modelIds("modelIds", [" a.b-v1 ", "a.b-v1"], limits)), ["a.b-v1"])
    const fields = (input: ReadonlyArray<string>) => {
      const result = JobPlan.modelIds("modelIds", input, limits)
      return Result.isFailure(result) ? result.failure.map((i) => i.field) : []
    }
    assert.deepStrictEqual(fields([]), ["modelIds"])
    assert.deepStrictEqual(fields(["a", "b", "c", "d"]), ["modelIds"])
    assert.deepStrictEqual(fields(["a b"]), ["modelIds[0]"])
    assert.deepStrictEqual(fields(["x".repeat(257)]), ["modelIds[0]"])
  })
})
