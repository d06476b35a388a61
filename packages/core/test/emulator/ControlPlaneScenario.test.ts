/**
 * Issue #13: the emulator's control plane follows the same scenario as its runtime — a model only
 * the control plane knows, lifecycle with dates, authorization / agreement / entitlement values,
 * a deliberate disagreement with the runtime, and `bedrock:List*` denied — through the real SDK.
 */
import {
  BedrockClient,
  GetFoundationModelAvailabilityCommand,
  ListFoundationModelsCommand
} from "@aws-sdk/client-bedrock"
import { BedrockRuntimeClient, ConverseCommand } from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as BedrockEmulator from "../../src/emulator/BedrockEmulator.ts"
import type * as Scenario from "../../src/emulator/Scenario.ts"

const credentials = { accessKeyId: "AKIDCONTROL", secretAccessKey: "x" }
const at = Date.UTC(2026, 11, 1, 12)

const pinned = (millis: number): Clock.Clock => ({
  currentTimeMillisUnsafe: () => millis,
  currentTimeMillis: Effect.succeed(millis),
  currentTimeNanosUnsafe: () => BigInt(millis) * 1_000_000n,
  currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
  monotonicTimeNanosUnsafe: () => 0n,
  monotonicTimeNanos: Effect.succeed(0n),
  sleep: () => Effect.void
})

const scenario: Scenario.ScenarioInput = {
  timeScale: 0,
  registry: "none",
  controlPlaneDenied: ["eu-west-3"],
  rules: [
    { models: "acme.new-chat-v1:0", regions: ["us-east-1"], availability: "offered" },
    { models: "acme.new-chat-v1:0", regions: ["us-west-2"], availability: "not-offered" },
    {
      models: "acme.old-v1:0",
      availability: "offered",
      lifecycle: { status: "LEGACY", legacyTime: "2026-10-01T00:00:00Z", endOfLifeTime: "2026-12-01T00:00:00Z" }
    },
    { models: "acme.later-v1:0", availability: "offered", lifecycle: { status: "LEGACY", endOfLifeTime: "2027-06-01T00:00:00Z" } },
    { models: "acme.denied-v1:0", availability: "access-denied" },
    { models: "acme.pending-v1:0", availability: "marketplace-pending" },
    { models: "acme.unentitled-v1:0", availability: "offered", entitlement: "NOT_AVAILABLE", agreement: "NOT_AVAILABLE" },
    // The control plane says the account may use it; the runtime denies it.
    { models: "acme.liar-v1:0", availability: "access-denied", controlPlane: { availability: "offered" } }
  ]
}

const withEmulator = async (run: (url: string) => Promise<void>) => {
  const handle = await BedrockEmulator.start({ scenario, clock: pinned(at) })
  try {
    await run(handle.url)
  } finally {
    await handle.close()
  }
}

const control = (url: string, region: string) => new BedrockClient({ region, endpoint: url, credentials })
const availability = (url: string, region: string, modelId: string) =>
  control(url, region).send(new GetFoundationModelAvailabilityCommand({ modelId }))
const converse = (url: string, modelId: string) =>
  new BedrockRuntimeClient({ region: "us-east-1", endpoint: url, credentials }).send(
    new ConverseCommand({ modelId, messages: [{ role: "user", content: [{ text: "What is 1 + 1?" }] }] })
  )

describe("emulator control plane from the scenario (issue 13)", () => {
  it("lists a model only the scenario knows where it is offered, with the scenario's lifecycle dates", () =>
    withEmulator(async (url) => {
      const east = (await control(url, "us-east-1").send(new ListFoundationModelsCommand({}))).modelSummaries ?? []
      const west = (await control(url, "us-west-2").send(new ListFoundationModelsCommand({}))).modelSummaries ?? []
      assert.include(east.map((m) => m.modelId), "acme.new-chat-v1:0")
      assert.notInclude(west.map((m) => m.modelId), "acme.new-chat-v1:0")
      const old = east.find((m) => m.modelId === "acme.old-v1:0")!
      assert.strictEqual(old.modelLifecycle?.status, "LEGACY")
      assert.strictEqual(old.modelLifecycle?.endOfLifeTime?.toISOString(), "2026-12-01T00:00:00.000Z")
      assert.strictEqual(old.modelLifecycle?.legacyTime?.toISOString(), "2026-10-01T00:00:00.000Z")
      // The disagreeing model is listed although requests to it are denied.
      assert.include(east.map((m) => m.modelId), "acme.liar-v1:0")
    }))

  it("GetFoundationModelAvailability answers authorization, agreement, entitlement and region from the scenario", () =>
    withEmulator(async (url) => {
      const rows: ReadonlyArray<readonly [string, string, Record<string, unknown>]> = [
        ["us-east-1", "acme.new-chat-v1:0", { authorizationStatus: "AUTHORIZED", regionAvailability: "AVAILABLE" }],
        ["us-west-2", "acme.new-chat-v1:0", { regionAvailability: "NOT_AVAILABLE" }],
        ["us-east-1", "acme.denied-v1:0", { authorizationStatus: "NOT_AUTHORIZED" }],
        ["us-east-1", "acme.pending-v1:0", { agreementAvailability: { status: "PENDING" } }],
        ["us-east-1", "acme.unentitled-v1:0", { entitlementAvailability: "NOT_AVAILABLE", agreementAvailability: { status: "NOT_AVAILABLE" } }],
        ["us-east-1", "acme.liar-v1:0", { authorizationStatus: "AUTHORIZED", regionAvailability: "AVAILABLE" }]
      ]
      for (const [region, modelId, expected] of rows) {
        const answer = await availability(url, region, modelId)
        assert.strictEqual(answer.modelId, modelId)
        for (const [key, value] of Object.entries(expected)) {
          assert.deepStrictEqual((answer as unknown as Record<string, unknown>)[key], value, `${region} ${modelId} ${key}`)
        }
      }
      const unknown = await availability(url, "us-east-1", "acme.nobody-v1:0").then(() => "answered", (e: Error) => e.name)
      assert.strictEqual(unknown, "ResourceNotFoundException")
    }))

  it("the runtime meets the rule's availability where the control plane disagrees, and EOL once the end-of-life time passed", () =>
    withEmulator(async (url) => {
      const name = (p: Promise<unknown>) => p.then(() => "answered", (e: Error) => e.name)
      assert.strictEqual(await name(converse(url, "acme.liar-v1:0")), "AccessDeniedException")
      assert.strictEqual(await name(converse(url, "acme.old-v1:0")), "ResourceNotFoundException")
      assert.strictEqual(await name(converse(url, "acme.later-v1:0")), "answered")
    }))

  it("denies every control-plane call in a controlPlaneDenied region, and only there", () =>
    withEmulator(async (url) => {
      const error = await control(url, "eu-west-3").send(new ListFoundationModelsCommand({})).then(
        () => undefined,
        (e: Error) => e
      )
      assert.strictEqual(error?.name, "AccessDeniedException")
      assert.match(error!.message, /not authorized to perform: bedrock:ListFoundationModels/)
      const fine = await control(url, "us-east-1").send(new ListFoundationModelsCommand({}))
      assert.isAbove(fine.modelSummaries?.length ?? 0, 0)
    }))
})
