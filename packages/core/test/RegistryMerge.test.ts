import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import { InvocationTarget, type Unit } from "../src/Domain.ts"
import { RegionObservation } from "../src/Observation.ts"
import { Region } from "../src/Region.ts"
import { ModelInfo } from "../src/Registry.ts"
import * as RegistryMerge from "../src/RegistryMerge.ts"
import * as Fixtures from "../src/testing/Fixtures.ts"

const east = Schema.decodeSync(Region)("us-east-1")
const at = "2026-12-01T12:00:00.000Z"
const id = "acme.table-v1:0"

const snapshot = new ModelInfo({
  id,
  name: "Table",
  vendor: "Acme",
  modality: "chat",
  api: "CONVERSE",
  capabilities: {
    streaming: "yes",
    systemPrompt: "yes",
    toolUse: "yes",
    streamingToolUse: "yes",
    vision: "no",
    documents: "no",
    reasoning: "no"
  },
  maxInputTokens: 1000,
  maxOutputTokens: 1000,
  regions: [{ region: east, invocation: "ON_DEMAND" }],
  regionsKnown: true,
  profiles: [`us.${id}`],
  lifecycle: { status: "ACTIVE", legacyAt: null, eolAt: null, source: "LC" },
  sources: {}
})

const observation = (overrides: Partial<RegionObservation> = {}) =>
  new RegionObservation({
    account: "default",
    region: east,
    observedAt: at,
    models: [{
      modelId: id,
      name: "Table",
      provider: "Acme",
      inputModalities: ["TEXT"],
      outputModalities: ["EMBEDDING"],
      streaming: false,
      inferenceTypes: ["INFERENCE_PROFILE"],
      lifecycle: { status: "LEGACY", startOfLifeAt: null, legacyAt: "2026-10-01T00:00:00Z", extendedAccessAt: null, eolAt: "2027-03-01T00:00:00Z" }
    }],
    profiles: [{ id: `global.${id}`, arn: null, type: "SYSTEM_DEFINED", status: "ACTIVE", models: [id] }],
    availability: [{
      modelId: id,
      authorizationStatus: "NOT_AUTHORIZED",
      entitlementAvailability: "AVAILABLE",
      agreementStatus: "AVAILABLE",
      regionAvailability: "AVAILABLE",
      observedAt: at
    }],
    ...overrides
  })

const job = Fixtures.makeJob({ modelIds: [id as never], regions: [east] })
const unit = (overrides: Partial<Unit>): Unit =>
  Fixtures.makeUnit(job, { status: "CERTIFIED", completedAt: at as never, ...overrides })
// Measured samples: one run answered through a profile (streaming passed), one hit end of life, one was not offered.
const measuredSamples: ReadonlyArray<Unit> = [
  unit({
    invocationTarget: new InvocationTarget({ kind: "SYSTEM_PROFILE", id: `eu.${id}` }),
    tests: [Fixtures.makeTestResult(), Fixtures.makeTestResult({ id: "streaming", name: "Streaming" })]
  }),
  unit({ status: "UNAVAILABLE", error: Fixtures.makeError("LEGACY_OR_EOL") }),
  unit({ status: "UNAVAILABLE", error: Fixtures.makeError("NOT_OFFERED_IN_REGION") }),
  unit({ status: "UNAVAILABLE", error: Fixtures.makeError("MARKETPLACE_PENDING") })
]

/** Each source's extractor over every sample it has. */
const extracted: Record<RegistryMerge.Source, ReadonlyArray<RegistryMerge.SourceFacts>> = {
  "control-plane": [RegistryMerge.observedFacts(observation(), id)],
  measured: measuredSamples.map(RegistryMerge.measuredFacts),
  snapshot: [RegistryMerge.snapshotFacts(snapshot, east)]
}

// A distinct value per (fact, source), so the winner is visible in the merged value.
const values: { readonly [K in RegistryMerge.FactName]: Readonly<Record<RegistryMerge.Source, RegistryMerge.FactValues[K]>> } = {
  invocation: { "control-plane": "PROFILE_ONLY", measured: "NOT_OFFERED", snapshot: "ON_DEMAND" },
  lifecycle: {
    "control-plane": { status: "LEGACY", legacyAt: null, eolAt: "2027-01-01T00:00:00Z" },
    measured: { status: "EOL", legacyAt: null, eolAt: null },
    snapshot: { status: "ACTIVE", legacyAt: null, eolAt: null }
  },
  modality: { "control-plane": "embedding", measured: "image", snapshot: "chat" },
  streaming: { "control-plane": "no", measured: "unknown", snapshot: "yes" },
  access: { "control-plane": "NOT_AUTHORIZED", measured: "AGREEMENT_PENDING", snapshot: "AUTHORIZED" },
  profiles: { "control-plane": ["global.x"], measured: ["eu.x"], snapshot: ["us.x"] }
}

const provides = (fact: RegistryMerge.FactName, source: RegistryMerge.Source) =>
  RegistryMerge.providers[fact][source] !== undefined

const sourcesFrom = (fact: RegistryMerge.FactName, given: ReadonlyArray<RegistryMerge.Source>) =>
  Object.fromEntries(given.map((s) => [s, { [fact]: { value: values[fact][s], source: s, at, evidence: s } }]))

describe("RegistryMerge", () => {
  describe("every (source × fact) pair", () => {
    for (const fact of RegistryMerge.factNames) {
      for (const source of RegistryMerge.precedence) {
        if (provides(fact, source)) {
          it(`${fact} from ${source}: wins over every weaker source, loses to every stronger one`, () => {
            const rank = RegistryMerge.precedence.indexOf(source)
            const weaker = RegistryMerge.precedence.slice(rank).filter((s) => provides(fact, s))
            const alone = RegistryMerge.mergeFacts(sourcesFrom(fact, weaker)).facts[fact]!
            assert.strictEqual(alone.source, source)
            assert.deepStrictEqual(alone.value, values[fact][source])
            const everyone = RegistryMerge.precedence.filter((s) => provides(fact, s))
            const all = RegistryMerge.mergeFacts(sourcesFrom(fact, everyone)).facts[fact]!
            assert.strictEqual(all.source, everyone[0])
            // The extractor of this source really yields the fact, with its time and evidence.
            const found = extracted[source].map((f) => f[fact]).find((f) => f !== undefined)
            assert.isDefined(found, `${source} should give ${fact}`)
            assert.strictEqual(found!.source, source)
            assert.strictEqual(found!.at, source === "snapshot" ? null : at)
            assert.isAbove(found!.evidence.length, 0)
          })
        } else {
          it(`${fact} from ${source}: never given`, () => {
            for (const facts of extracted[source]) assert.isUndefined(facts[fact])
          })
        }
      }
    }
  })

  it("a model only the control plane lists is synthesized from the listing, capabilities unknown", () => {
    const obs = observation({
      models: [{
        modelId: "acme.new-chat-v1:0",
        name: "New Chat",
        provider: "Acme",
        inputModalities: ["TEXT"],
        outputModalities: ["TEXT"],
        streaming: true,
        inferenceTypes: ["ON_DEMAND"],
        lifecycle: { status: "ACTIVE", startOfLifeAt: null, legacyAt: null, extendedAccessAt: null, eolAt: null }
      }],
      availability: []
    })
    const merged = RegistryMerge.merge({ modelId: "acme.new-chat-v1:0", region: east, snapshot: undefined, observed: obs, measured: undefined })
    assert.isFalse(merged.inSnapshot)
    assert.isTrue(merged.listed)
    const model = merged.model!
    assert.strictEqual(model.modality, "chat")
    assert.strictEqual(model.api, "CONVERSE")
    assert.deepStrictEqual(model.regions, [{ region: east, invocation: "ON_DEMAND" }])
    assert.strictEqual(model.capabilities.streaming, "yes")
    assert.strictEqual(model.capabilities.toolUse, "unknown")
    assert.strictEqual(model.lifecycle.status, "ACTIVE")
    assert.match(model.sources["regions"]!, /^control-plane: ListFoundationModels/)
    assert.strictEqual(merged.facts.invocation?.source, "control-plane")
  })

  it("a model nobody knows has no entry", () => {
    const merged = RegistryMerge.merge({ modelId: "acme.nothing-v1:0", region: east, snapshot: undefined, observed: observation(), measured: undefined })
    assert.isUndefined(merged.model)
    assert.isFalse(merged.listed)
  })

  it("LEGACY from the control plane wins over the snapshot's ACTIVE, and its end of life decides EOL", () => {
    const merged = RegistryMerge.merge({ modelId: id, region: east, snapshot, observed: observation(), measured: undefined })
    assert.strictEqual(merged.model!.lifecycle.status, "LEGACY")
    assert.strictEqual(merged.model!.lifecycle.eolAt, "2027-03-01")
    const lifecycle = merged.facts.lifecycle!.value
    assert.isFalse(RegistryMerge.isEolAt(lifecycle, DateTime.makeUnsafe("2027-02-28T23:59:59Z")))
    assert.isTrue(RegistryMerge.isEolAt(lifecycle, DateTime.makeUnsafe("2027-03-01T00:00:00Z")))
    const stale = merged.differences.find((d) => d.fact === "lifecycle")!
    assert.strictEqual(stale.kind, "snapshot-stale")
    assert.deepStrictEqual(stale.values.map((v) => v.source), ["control-plane", "snapshot"])
  })

  it("differences name the pair of sources that disagree", () => {
    const merged = RegistryMerge.merge({ modelId: id, region: east, snapshot, observed: observation(), measured: measuredSamples[0] })
    const kinds = merged.differences.map((d) => `${d.fact}:${d.kind}`)
    assert.include(kinds, "invocation:snapshot-stale") // snapshot ON_DEMAND, control plane PROFILE_ONLY
    assert.include(kinds, "access:observed-vs-measured") // control plane NOT_AUTHORIZED, the run got answers
    assert.include(kinds, "streaming:observed-vs-measured") // control plane false, the run streamed
    const agreeing = RegistryMerge.merge({ modelId: id, region: east, snapshot, observed: undefined, measured: undefined })
    assert.deepStrictEqual(agreeing.differences, [])
  })

  it("reads each blocking availability field", () => {
    const base = observation().availability[0]!
    const rows: ReadonlyArray<readonly [Partial<typeof base>, RegistryMerge.Access, string]> = [
      [{ authorizationStatus: "AUTHORIZED" }, "AUTHORIZED", "authorizationStatus"],
      [{ authorizationStatus: "NOT_AUTHORIZED" }, "NOT_AUTHORIZED", "authorizationStatus"],
      [{ authorizationStatus: "AUTHORIZED", entitlementAvailability: "NOT_AVAILABLE" }, "NOT_ENTITLED", "entitlementAvailability"],
      [{ authorizationStatus: "AUTHORIZED", agreementStatus: "PENDING" }, "AGREEMENT_PENDING", "agreementAvailability.status"],
      [{ authorizationStatus: "AUTHORIZED", agreementStatus: "NOT_AVAILABLE" }, "NO_AGREEMENT", "agreementAvailability.status"],
      [{ authorizationStatus: "AUTHORIZED", agreementStatus: "ERROR" }, "NO_AGREEMENT", "agreementAvailability.status"]
    ]
    for (const [patch, access, field] of rows) {
      const read = RegistryMerge.accessOf({ ...base, ...patch })
      assert.strictEqual(read.access, access)
      assert.strictEqual(read.field, field)
    }
  })
})
