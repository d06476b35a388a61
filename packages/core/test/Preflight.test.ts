import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import type * as LivingRegistry from "../src/LivingRegistry.ts"
import { type ModelAvailability, type ObservedModel, RegionObservation } from "../src/Observation.ts"
import * as Preflight from "../src/Preflight.ts"
import { Region } from "../src/Region.ts"
import * as Registry from "../src/Registry.ts"
import * as RegistryMerge from "../src/RegistryMerge.ts"

const east = Schema.decodeSync(Region)("us-east-1")
const at = "2026-12-01T12:00:00.000Z"
const id = "acme.preflight-v1:0"

const snapshot = new Registry.ModelInfo({
  id,
  name: "Preflight",
  vendor: "Acme",
  modality: "chat",
  api: "CONVERSE",
  capabilities: Object.fromEntries(Registry.capabilities.map((c) => [c, "yes"])) as Registry.ModelInfo["capabilities"],
  maxInputTokens: null,
  maxOutputTokens: null,
  regions: [{ region: east, invocation: "ON_DEMAND" }],
  regionsKnown: true,
  profiles: [],
  lifecycle: { status: "ACTIVE", legacyAt: null, eolAt: null, source: "test" },
  sources: {}
})
const registry = Registry.make({ base: [snapshot] })

const listed = (overrides: Partial<ObservedModel> = {}): ObservedModel => ({
  modelId: id,
  name: "Preflight",
  provider: "Acme",
  inputModalities: ["TEXT"],
  outputModalities: ["TEXT"],
  streaming: true,
  inferenceTypes: ["ON_DEMAND"],
  lifecycle: { status: "ACTIVE", startOfLifeAt: null, legacyAt: null, extendedAccessAt: null, eolAt: null },
  ...overrides
})
const availability = (overrides: Partial<ModelAvailability> = {}): ModelAvailability => ({
  modelId: id,
  authorizationStatus: "AUTHORIZED",
  entitlementAvailability: "AVAILABLE",
  agreementStatus: "AVAILABLE",
  regionAvailability: "AVAILABLE",
  observedAt: at,
  ...overrides
})

const viewOf = (models: ReadonlyArray<ObservedModel>, answers: ReadonlyArray<ModelAvailability>): LivingRegistry.View => {
  const observation = new RegionObservation({ account: "default", region: east, observedAt: at, models, profiles: [], availability: answers })
  return {
    discovery: { _tag: "Observed", observation },
    measured: undefined,
    merged: RegistryMerge.merge({ modelId: id, region: east, snapshot, observed: observation, measured: undefined })
  }
}

const decide = (view: LivingRegistry.View) => Preflight.decide(view, registry, east, DateTime.makeUnsafe(at))

describe("Preflight.decide (one row per rule)", () => {
  const rows: ReadonlyArray<readonly [string, LivingRegistry.View, string | null, string | null]> = [
    ["authorized and listed", viewOf([listed()], [availability()]), null, null],
    ["not authorized", viewOf([listed()], [availability({ authorizationStatus: "NOT_AUTHORIZED" })]), "ACCESS_DENIED", "authorizationStatus"],
    ["not entitled", viewOf([listed()], [availability({ entitlementAvailability: "NOT_AVAILABLE" })]), "ACCESS_DENIED", "entitlementAvailability"],
    ["no agreement", viewOf([listed()], [availability({ agreementStatus: "NOT_AVAILABLE" })]), "ACCESS_DENIED", "agreementAvailability.status"],
    ["agreement pending", viewOf([listed()], [availability({ agreementStatus: "PENDING" })]), "MARKETPLACE_PENDING", "agreementAvailability.status"],
    ["not offered in the region", viewOf([listed()], [availability({ regionAvailability: "NOT_AVAILABLE" })]), "NOT_OFFERED_IN_REGION", "regionAvailability"],
    ["not listed at all", viewOf([], []), "NOT_OFFERED_IN_REGION", "(listing)"],
    [
      "past its control-plane end of life",
      viewOf([listed({ lifecycle: { status: "LEGACY", startOfLifeAt: null, legacyAt: null, extendedAccessAt: null, eolAt: "2026-11-01T00:00:00Z" } })], []),
      "LEGACY_OR_EOL",
      "modelLifecycle.status"
    ],
    ["profile-only with no usable profile", viewOf([listed({ inferenceTypes: ["INFERENCE_PROFILE"] })], []), "REQUIRES_INFERENCE_PROFILE", "inferenceTypesSupported"]
  ]
  for (const [name, view, category, field] of rows) {
    it(`${name} → ${category ?? "proceeds"}`, () => {
      const prepared = decide(view)
      if (category === null) {
        assert.isUndefined(prepared.decided)
        assert.isTrue(prepared.findings.some((f) => f.startsWith(`registry facts for ${id} in us-east-1:`)))
        return
      }
      const outcome = prepared.decided!
      assert.strictEqual(outcome.verdict, "UNAVAILABLE")
      assert.strictEqual(outcome.error?.category, category)
      assert.deepStrictEqual(outcome.tests, [])
      assert.match(outcome.findings[0]!, new RegExp(`^preflight evidence: operation=\\S+ field=${field!.replace(/[.()]/g, "\\$&")} `))
      assert.match(outcome.error!.message, /no runtime call was made/)
    })
  }

  it("a skipped discovery proceeds on the snapshot and says why", () => {
    const view: LivingRegistry.View = {
      discovery: { _tag: "Skipped", region: east, reason: "ListFoundationModels in us-east-1: ACCESS_DENIED: denied" },
      measured: undefined,
      merged: RegistryMerge.merge({ modelId: id, region: east, snapshot, observed: undefined, measured: undefined })
    }
    const prepared = decide(view)
    assert.isUndefined(prepared.decided)
    assert.strictEqual(prepared.registry, registry)
    assert.deepStrictEqual(prepared.findings, [
      "preflight skipped: ListFoundationModels in us-east-1: ACCESS_DENIED: denied; registry facts from the snapshot"
    ])
  })
})
