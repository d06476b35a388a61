import { assert, describe, it } from "@effect/vitest"
import type { FoundationModelSummary } from "@aws-sdk/client-bedrock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as ControlPlane from "../src/ControlPlane.ts"
import { Region } from "../src/Region.ts"
import * as Registry from "../src/Registry.ts"
import * as BedrockEmulator from "../src/emulator/BedrockEmulator.ts"

const east = Schema.decodeSync(Region)("us-east-1")
const ireland = Schema.decodeSync(Region)("eu-west-1")
const paris = Schema.decodeSync(Region)("eu-west-3")
const credentials = { accessKeyId: "AKIDEXAMPLEKEY", secretAccessKey: "s3cr3t-never-printed" }

// Two active chat models the registry declares on demand in us-east-1.
const [dropped, profileOnly] = Registry.builtinModels
  .filter((m) =>
    m.regionsKnown && m.modality === "chat" && m.lifecycle.status === "ACTIVE" &&
    m.regions.some((r) => r.region === east && r.invocation === "ON_DEMAND")
  )
  .map((m) => m.id)

const empty = (region: Region): ControlPlane.RegionReport => ({
  region,
  unknownToRegistry: [],
  undeclaredInRegion: [],
  notListed: [],
  invocationMismatches: [],
  lifecycleMismatches: [],
  unknownProfiles: []
})

const syncAgainst = (scenario: BedrockEmulator.Options["scenario"], regions: ReadonlyArray<Region>) =>
  Effect.gen(function*() {
    const emulator = yield* BedrockEmulator.make({ scenario })
    // Paris points at a closed port: its failure must not hide the other regions' reports.
    const layer = ControlPlane.layer({
      credentials,
      endpoint: (region) => region === paris ? "http://127.0.0.1:1" : emulator.url
    }).pipe(Layer.provide(Registry.layer))
    return yield* Effect.flatMap(ControlPlane.ControlPlane, (cp) => cp.sync(regions)).pipe(Effect.provide(layer))
  })

describe("ControlPlane", () => {
  it("reads the invocation path from inferenceTypesSupported", () => {
    const rows: ReadonlyArray<readonly [ReadonlyArray<string>, string | undefined]> = [
      [["ON_DEMAND"], "ON_DEMAND"],
      [["ON_DEMAND", "PROVISIONED"], "ON_DEMAND"],
      [["INFERENCE_PROFILE"], "PROFILE_ONLY"],
      [["PROVISIONED"], undefined],
      [[], undefined]
    ]
    for (const [types, expected] of rows) {
      const summary = { modelArn: "arn", modelId: "x", inferenceTypesSupported: types } as FoundationModelSummary
      assert.strictEqual(ControlPlane.awsInvocationOf(summary), expected, types.join(","))
    }
  })

  it("compare reports lifecycle, profile and region differences, and skips models end-of-life at the date", () => {
    const model = Registry.builtinModels.find((m) => m.id === profileOnly)!
    const globalProfile = `global.${model.id}`
    assert.notInclude(model.profiles, globalProfile)
    const listing = {
      models: [
        {
          modelArn: "arn",
          modelId: model.id,
          inferenceTypesSupported: ["ON_DEMAND"],
          modelLifecycle: { status: "LEGACY" }
        }
      ],
      profiles: [
        { inferenceProfileId: globalProfile, type: "SYSTEM_DEFINED" },
        { inferenceProfileId: model.profiles[0], type: "SYSTEM_DEFINED" }
      ]
    } as unknown as ControlPlane.Listing
    const report = ControlPlane.compare([model], east, listing)
    assert.deepStrictEqual(report.lifecycleMismatches, [{ modelId: model.id, registry: "ACTIVE", aws: "LEGACY" }])
    assert.deepStrictEqual(report.unknownProfiles, [globalProfile])

    const elsewhere = Schema.decodeSync(Region)(
      ["ap-southeast-7", "mx-central-1", "af-south-1", "il-central-1"]
        .find((r) => !model.regions.some((d) => d.region === r))!
    )
    assert.deepStrictEqual(ControlPlane.compare([model], elsewhere, listing).undeclaredInRegion, [model.id])

    const retired = Registry.builtinModels.find((m) =>
      m.lifecycle.eolAt !== null && m.lifecycle.eolAt < "2030-01-01" && m.regions.some((r) => r.region === east)
    )!
    const nothing = { models: [], profiles: [] }
    assert.deepStrictEqual(ControlPlane.compare([retired], east, nothing).notListed, [retired.id])
    assert.deepStrictEqual(ControlPlane.compare([retired], east, nothing, "2030-01-01T00:00:00.000Z").notListed, [])
  })

  it.live("a control plane that lists what the registry declares reports no differences", () =>
    Effect.gen(function*() {
      const report = yield* syncAgainst({ seed: 1 }, [east, ireland])
      assert.deepStrictEqual(report.failures, [])
      assert.deepStrictEqual(report.regions, [empty(east), empty(ireland)])
    }))

  it.live("sync reports exactly the differences a scenario introduces, and isolates a failing region", () =>
    Effect.gen(function*() {
      assert.isString(dropped)
      assert.isString(profileOnly)
      const report = yield* syncAgainst({
        seed: 1,
        rules: [
          { models: "acme.brand-new-v1:0", regions: "us-east-1", availability: "offered" },
          { models: dropped!, regions: "us-east-1", availability: "not-offered" },
          { models: profileOnly!, regions: "us-east-1", availability: "profile-only" }
        ]
      }, [east, paris])

      assert.deepStrictEqual(report.regions, [{
        ...empty(east),
        unknownToRegistry: ["acme.brand-new-v1:0"],
        notListed: [dropped!],
        invocationMismatches: [{ modelId: profileOnly!, registry: "ON_DEMAND", aws: "PROFILE_ONLY" }]
      }])
      assert.strictEqual(report.failures.length, 1)
      assert.strictEqual(report.failures[0]!.region, paris)
      assert.strictEqual(report.failures[0]!.error.category, "NETWORK")
    }))
})
