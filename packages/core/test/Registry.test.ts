import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import { InvocationTarget } from "../src/Domain.ts"
import * as ModelCatalog from "../src/ModelCatalog.ts"
import { geographiesOf, isRegion, type Region, regionCodes } from "../src/Region.ts"
import * as Registry from "../src/Registry.ts"

const models = Registry.builtinModels
const registry = Registry.make()
const region = (r: string): Region => {
  if (!isRegion(r)) throw new Error(`not a region: ${r}`)
  return r
}
const model = (id: string): Registry.ModelInfo => Option.getOrThrow(registry.get(id))
// A fixed date before the 2026 EOL wave, so the walk exercises every region rule.
const early = "2025-12-01T00:00:00.000Z"
const dateOk = (d: string) => /^\d{4}-\d{2}-\d{2}$/.test(d) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d)

describe("built-in data (walks every row)", () => {
  it("holds all 139 reference rows with unique ids", () => {
    assert.strictEqual(models.length, 139)
    assert.strictEqual(new Set(models.map((m) => m.id)).size, models.length)
  })

  it("covers every modality", () => {
    assert.deepStrictEqual(new Set(models.map((m) => m.modality)), new Set(Registry.Modality.literals))
  })

  it("chat models use Converse, embedding models InvokeModel, all others no API", () => {
    const expected = {
      chat: "CONVERSE",
      embedding: "INVOKE_MODEL",
      image: "NONE",
      video: "NONE",
      speech: "NONE",
      rerank: "NONE"
    }
    for (const m of models) assert.strictEqual(m.api, expected[m.modality], m.id)
  })

  it("lists every region once, as a valid region, and regionsKnown says whether any is listed", () => {
    let unknown = 0
    for (const m of models) {
      for (const r of m.regions) assert.isTrue(isRegion(r.region), `${m.id}: ${r.region}`)
      assert.strictEqual(new Set(m.regions.map((r) => r.region)).size, m.regions.length, m.id)
      assert.strictEqual(m.regionsKnown, m.regions.length > 0, m.id)
      if (!m.regionsKnown) unknown++
    }
    // the reference has region data for 89 rows; the rest are LiteLLM-only models
    assert.strictEqual(unknown, 50)
  })

  it("every profile id is a known geography prefix plus the model id", () => {
    for (const m of models) {
      for (const p of m.profiles) {
        const prefix = Option.getOrThrow(Registry.profilePrefixOf(p))
        assert.strictEqual(p, `${prefix}.${m.id}`)
      }
      assert.strictEqual(new Set(m.profiles).size, m.profiles.length, m.id)
    }
  })

  it("every profile-only region has a profile of one of its geographies (or global where it has none)", () => {
    for (const m of models) {
      for (const r of m.regions.filter((r) => r.invocation === "PROFILE_ONLY")) {
        const geos = geographiesOf(r.region)
        if (geos.length > 0) {
          assert.isTrue(geos.some((g) => m.profiles.includes(`${g}.${m.id}`)), `${m.id} in ${r.region}`)
        }
      }
    }
  })

  it("a model that requires a profile is profile-only in every listed region", () => {
    for (const m of models.filter((m) => m.profileRequired === true)) {
      for (const r of m.regions) assert.strictEqual(r.invocation, "PROFILE_ONLY", `${m.id} in ${r.region}`)
      assert.isAbove(m.profiles.length, 0, m.id)
    }
  })

  it("every fact has a non-empty source", () => {
    const keys = [
      "id",
      "modality",
      "api",
      "capabilities",
      ...Registry.capabilities.map((c) => `capabilities.${c}`),
      "limits",
      "regions",
      "invocation",
      "profiles",
      "lifecycle"
    ]
    for (const m of models) {
      for (const k of keys) assert.isTrue((m.sources[k] ?? "").length > 0, `${m.id}: ${k}`)
      assert.isTrue(m.lifecycle.source.length > 0, m.id)
    }
  })

  it("lifecycle dates are valid dates, legacyAt <= eolAt, and only LEGACY/EOL models carry an end date", () => {
    for (const m of models) {
      const { eolAt, legacyAt, status } = m.lifecycle
      if (eolAt !== null) assert.isTrue(dateOk(eolAt), `${m.id}: ${eolAt}`)
      if (legacyAt !== null) assert.isTrue(dateOk(legacyAt), `${m.id}: ${legacyAt}`)
      if (eolAt !== null && legacyAt !== null) assert.isTrue(legacyAt <= eolAt, m.id)
      if (status === "ACTIVE" || status === "UNKNOWN") assert.isNull(eolAt, m.id)
    }
  })

  it("token limits are positive integers or unknown", () => {
    for (const m of models) {
      for (const n of [m.maxInputTokens, m.maxOutputTokens]) {
        if (n !== null) assert.isTrue(Number.isInteger(n) && n > 0, `${m.id}: ${n}`)
      }
    }
  })

  // Facts copied by hand from reference/bedrock/registry_table.md, so a generator bug shows here.
  const facts: ReadonlyArray<readonly [string, (m: Registry.ModelInfo) => unknown, unknown]> = [
    ["anthropic.claude-3-5-haiku-20241022-v1:0", (m) => m.capabilities.vision, "no"],
    ["anthropic.claude-3-5-haiku-20241022-v1:0", (m) => m.maxOutputTokens, 8192],
    ["amazon.titan-text-express-v1", (m) => m.capabilities.systemPrompt, "no"],
    ["cohere.command-r-v1:0", (m) => m.capabilities.streamingToolUse, "no"],
    ["meta.llama4-scout-17b-instruct-v1:0", (m) => m.capabilities.streamingToolUse, "no"],
    ["deepseek.r1-v1:0", (m) => m.capabilities.reasoning, "yes"],
    ["deepseek.r1-v1:0", (m) => m.capabilities.documents, "yes"],
    ["deepseek.v3-v1:0", (m) => m.capabilities.streamingToolUse, "unknown"],
    ["amazon.nova-sonic-v1:0", (m) => m.modality, "speech"],
    ["cohere.rerank-v3-5:0", (m) => m.modality, "rerank"],
    ["amazon.titan-image-generator-v2:0", (m) => m.maxInputTokens, 512],
    ["amazon.nova-premier-v1:0", (m) => m.regions.map((r) => r.region + (r.invocation === "PROFILE_ONLY" ? "*" : "")), [
      "us-east-1*",
      "us-east-2*",
      "us-west-2*"
    ]],
    ["ai21.jamba-1-5-large-v1:0", (m) => [m.lifecycle.status, m.lifecycle.eolAt], ["LEGACY", "2026-11-26"]],
    ["meta.llama3-2-1b-instruct-v1:0", (m) => [m.lifecycle.status, m.lifecycle.eolAt], ["EOL", "2026-07-07"]],
    ["amazon.titan-embed-text-v1", (m) => m.lifecycle.status, "ACTIVE"],
    ["meta.llama2-13b-chat-v1", (m) => m.lifecycle.status, "UNKNOWN"],
    ["anthropic.claude-sonnet-4-6", (m) => [m.regionsKnown, m.profileRequired], [false, true]],
    ["cohere.embed-v4:0", (m) => m.profiles.includes("us.cohere.embed-v4:0"), true],
    ["anthropic.claude-haiku-4-5-20251001-v1:0", (m) => m.profiles.filter((p) => p.startsWith("global.")).length, 1]
  ]
  for (const [id, read, expected] of facts) {
    it(`records the reference fact for ${id}: ${JSON.stringify(expected)}`, () => {
      assert.deepStrictEqual(read(model(id)), expected)
    })
  }
})

describe("get", () => {
  it("maps every known system-profile id back to its base model", () => {
    for (const m of models) {
      assert.strictEqual(model(m.id), m)
      for (const p of m.profiles) assert.strictEqual(model(p).id, m.id, p)
    }
  })

  it("maps foundation-model and inference-profile ARNs back to the base model", () => {
    const id = "anthropic.claude-3-5-haiku-20241022-v1:0"
    assert.strictEqual(model(`arn:aws:bedrock:us-west-2::foundation-model/${id}`).id, id)
    assert.strictEqual(model(`arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.${id}`).id, id)
  })

  it("returns none for an id it does not know", () => {
    assert.isTrue(Option.isNone(registry.get("anthropic.claude-99")))
    assert.isTrue(Option.isNone(registry.get("")))
  })
})

describe("certifiability", () => {
  it("agrees with lifecycle and regions for every (model, region) pair", () => {
    for (const m of models) {
      for (const code of regionCodes) {
        const r = region(code)
        const result = registry.certifiability(m.id, r, early)
        const listed = m.regions.find((a) => a.region === r)
        const usable = [...geographiesOf(r), "global"].map((g) => `${g}.${m.id}`).filter((p) => m.profiles.includes(p))
        const where = `${m.id} in ${r}`
        if (!Registry.hasSuite(m.modality)) {
          assert.strictEqual(result._tag === "NotCertifiable" && result.reason, "NO_SUITE", where)
        } else if (Registry.lifecycleAt(m, early) === "EOL") {
          assert.strictEqual(result._tag === "NotCertifiable" && result.reason, "END_OF_LIFE", where)
        } else if (!m.regionsKnown) {
          assert.strictEqual(result._tag, "Certifiable", where)
          if (result._tag !== "Certifiable") continue
          assert.isFalse(result.regionVerified, where)
          if (m.profileRequired !== true) assert.deepStrictEqual(result.target.id, m.id, where)
        } else if (listed === undefined) {
          assert.strictEqual(result._tag === "NotCertifiable" && result.reason, "NOT_OFFERED_IN_REGION", where)
        } else if (listed.invocation === "ON_DEMAND") {
          assert.strictEqual(result._tag, "Certifiable", where)
          if (result._tag !== "Certifiable") continue
          assert.strictEqual(result.target.kind, "ON_DEMAND", where)
          assert.strictEqual(result.target.id, m.id, where)
          assert.isTrue(result.regionVerified, where)
          assert.deepStrictEqual(result.fallbackProfiles, usable, where)
        } else if (usable.length === 0) {
          assert.strictEqual(result._tag === "NotCertifiable" && result.reason, "NOT_OFFERED_IN_REGION", where)
        } else {
          assert.strictEqual(result._tag, "Certifiable", where)
          if (result._tag !== "Certifiable") continue
          assert.strictEqual(result.target.kind, "SYSTEM_PROFILE", where)
          assert.strictEqual(result.target.id, usable[0], where)
          assert.deepStrictEqual(result.fallbackProfiles, usable.slice(1), where)
        }
        if (result._tag === "NotCertifiable") {
          assert.include(result.message, m.id, where)
          assert.include(result.message, r, where)
        }
      }
    }
  })

  it("prefers the most specific geography, then global", () => {
    const haiku = "anthropic.claude-haiku-4-5-20251001-v1:0"
    const at = (r: string) => registry.certifiability(haiku, region(r), early)
    const target = (r: string) => {
      const c = at(r)
      return c._tag === "Certifiable" ? c.target.id : c.reason
    }
    assert.strictEqual(target("ap-northeast-1"), `jp.${haiku}`)
    assert.strictEqual(target("ap-south-1"), `apac.${haiku}`)
    assert.strictEqual(target("eu-west-3"), `eu.${haiku}`)
    assert.strictEqual(target("sa-east-1"), `global.${haiku}`)
    const tokyo = at("ap-northeast-1")
    assert.deepStrictEqual(tokyo._tag === "Certifiable" && tokyo.fallbackProfiles, [`apac.${haiku}`, `global.${haiku}`])
  })

  it("accepts a profile id and certifies the base model", () => {
    const c = registry.certifiability("us.amazon.nova-premier-v1:0", region("us-east-1"), early)
    assert.strictEqual(c._tag === "Certifiable" && c.model.id, "amazon.nova-premier-v1:0")
    assert.strictEqual(c._tag === "Certifiable" && c.target.id, "us.amazon.nova-premier-v1:0")
  })

  it("a model without region data that requires a profile gets the region's profile, unverified", () => {
    const c = registry.certifiability("anthropic.claude-sonnet-4-6", region("eu-central-1"), early)
    assert.strictEqual(c._tag, "Certifiable")
    if (c._tag !== "Certifiable") return
    assert.deepStrictEqual([c.target.kind, c.target.id, c.regionVerified], [
      "SYSTEM_PROFILE",
      "eu.anthropic.claude-sonnet-4-6",
      false
    ])
  })

  it("a LEGACY model is certifiable until the day before eolAt and END_OF_LIFE from eolAt", () => {
    const id = "ai21.jamba-1-5-large-v1:0"
    const us = region("us-east-1")
    assert.strictEqual(registry.certifiability(id, us, "2026-11-25T23:59:59.999Z")._tag, "Certifiable")
    const after = registry.certifiability(id, us, "2026-11-26T00:00:00.000Z")
    assert.strictEqual(after._tag === "NotCertifiable" && after.reason, "END_OF_LIFE")
    assert.include(after._tag === "NotCertifiable" ? after.message : "", "2026-11-26")
    const utc = DateTime.makeUnsafe("2027-01-01T00:00:00.000Z")
    assert.strictEqual(registry.certifiability(id, us, utc)._tag, "NotCertifiable")
    const before = DateTime.makeUnsafe("2026-01-01T00:00:00.000Z")
    assert.strictEqual(registry.certifiability(id, us, before)._tag, "Certifiable")
  })

  it("an EOL model without a date is END_OF_LIFE at any date", () => {
    const id = "anthropic.claude-3-7-sonnet-20250219-v1:0"
    const c = registry.certifiability(id, region("eu-west-2"), "2020-01-01T00:00:00Z")
    assert.strictEqual(c._tag === "NotCertifiable" && c.reason, "END_OF_LIFE")
  })

  it("says why an image, video, speech or rerank model has no suite", () => {
    const ids = ["amazon.titan-image-generator-v1", "luma.ray-v2:0", "amazon.nova-sonic-v1:0", "cohere.rerank-v3-5:0"]
    for (const id of ids) {
      const c = registry.certifiability(id, region("us-west-2"), early)
      assert.strictEqual(c._tag === "NotCertifiable" && c.reason, "NO_SUITE", id)
      assert.include(c._tag === "NotCertifiable" ? c.message : "", model(id).modality, id)
    }
  })

  const unknownIds: ReadonlyArray<readonly [string, Registry.NotCertifiableReason]> = [
    ["openai:gpt-4o", "NOT_BEDROCK"],
    ["gpt-4o", "NOT_BEDROCK"],
    ["gpt-4o-mini", "NOT_BEDROCK"],
    ["o3-mini", "NOT_BEDROCK"],
    ["claude-3-5-sonnet-20241022", "NOT_BEDROCK"],
    ["gemini-2.0-flash", "NOT_BEDROCK"],
    ["openai/gpt-4o", "NOT_BEDROCK"],
    ["anthropic:claude-3-haiku", "NOT_BEDROCK"],
    ["anthropic.claude-99-v1:0", "UNKNOWN_MODEL"],
    ["us.anthropic.claude-99-v1:0", "UNKNOWN_MODEL"],
    ["arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123", "UNKNOWN_MODEL"],
    ["arn:aws:bedrock:us-east-1::foundation-model/amazon.nope-v1", "UNKNOWN_MODEL"],
    ["some-model", "UNKNOWN_MODEL"]
  ]
  for (const [id, reason] of unknownIds) {
    it(`an unknown id "${id}" is ${reason}`, () => {
      const c = registry.certifiability(id, region("us-east-1"), early)
      assert.strictEqual(c._tag === "NotCertifiable" && c.reason, reason)
      assert.include(c._tag === "NotCertifiable" ? c.message : "", id)
    })
  }

  it("never throws and always returns a typed answer for arbitrary ids, regions and dates", () => {
    const prefixes = fc.constantFrom("us.", "global.", "arn:aws:bedrock:us-east-1::foundation-model/", "x:", "a/")
    const ids = fc.oneof(
      fc.string(),
      fc.constantFrom(...models.map((m) => m.id)),
      fc.constantFrom(...models.flatMap((m) => m.profiles)),
      fc.tuple(prefixes, fc.string())
        .map(([a, b]) => a + b)
    )
    const regions = fc.oneof(fc.constantFrom(...regionCodes), fc.string()) as fc.Arbitrary<Region>
    const dates = fc.oneof(
      fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true })
        .map((d) => d.toISOString()),
      fc.string()
    )
    fc.assert(
      fc.property(ids, regions, dates, (id, r, at) => {
        const c = registry.certifiability(id, r, at)
        if (!isRegion(r)) assert.strictEqual(c._tag, "NotCertifiable")
        if (c._tag === "Certifiable") {
          assert.strictEqual(c.model, Option.getOrThrow(registry.get(id)))
          assert.include(["ON_DEMAND", "SYSTEM_PROFILE"], c.target.kind)
          if (c.target.kind === "SYSTEM_PROFILE") assert.include(c.model.profiles, c.target.id)
        } else {
          assert.include(Registry.NotCertifiableReason.literals, c.reason)
          assert.isTrue(c.message.length > 0)
        }
      }),
      { numRuns: 2000 }
    )
  })
})

describe("list", () => {
  const filters: ReadonlyArray<Registry.ListFilter> = [
    {},
    { region: region("us-east-1") },
    { region: region("ap-northeast-1"), includeUnverifiedRegions: true },
    { vendor: "Anthropic" },
    { vendor: "meta" },
    { modality: "embedding" },
    { capability: "streamingToolUse" },
    { lifecycle: "ACTIVE" },
    { lifecycle: ["LEGACY", "EOL"], modality: "chat" },
    { region: region("eu-west-1"), capability: "vision", vendor: "amazon" }
  ]
  const matches = (m: Registry.ModelInfo, f: Registry.ListFilter): boolean =>
    (f.region === undefined ||
      (m.regionsKnown ? m.regions.some((r) => r.region === f.region) : f.includeUnverifiedRegions === true)) &&
    (f.vendor === undefined || [m.vendor.toLowerCase(), m.id.split(".")[0]].includes(f.vendor.toLowerCase())) &&
    (f.modality === undefined || m.modality === f.modality) &&
    (f.capability === undefined || m.capabilities[f.capability] === "yes") &&
    (f.lifecycle === undefined || ([] as Array<string>).concat(f.lifecycle).includes(m.lifecycle.status))

  for (const f of filters) {
    it(`returns exactly the models matching ${JSON.stringify(f)}`, () => {
      const listed = new Set(registry.list(f))
      assert.isAbove(listed.size, 0)
      for (const m of models) assert.strictEqual(listed.has(m), matches(m, f), m.id)
    })
  }

  it("leaves models without region data out of a region filter unless asked", () => {
    const sonnet46 = model("anthropic.claude-sonnet-4-6")
    assert.notInclude(registry.list({ region: region("us-east-1") }), sonnet46)
    assert.include(registry.list({ region: region("us-east-1"), includeUnverifiedRegions: true }), sonnet46)
  })
})

describe("host overrides", () => {
  const jamba = "ai21.jamba-1-5-large-v1:0"
  const provisioned = new InvocationTarget({
    kind: "PROVISIONED",
    id: "arn:aws:bedrock:eu-west-1:123456789012:provisioned-model/abc123"
  })
  const appProfile = new InvocationTarget({
    kind: "APPLICATION_PROFILE",
    id: "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p1"
  })
  const custom = new Registry.ModelInfo({
    ...model("amazon.nova-lite-v1:0"),
    id: "acme.custom-chat-v1:0",
    name: "Acme Custom",
    vendor: "Acme",
    regions: [{ region: region("eu-west-1"), invocation: "ON_DEMAND" }],
    profiles: [],
    sources: { id: "host" }
  })
  const host = Registry.make({
    models: [custom, new Registry.ModelInfo({ ...model(jamba), name: "Jamba (host)" })],
    targets: [
      { modelId: jamba, region: region("eu-west-1"), target: provisioned },
      { modelId: "us.amazon.nova-premier-v1:0", region: region("us-east-1"), target: appProfile }
    ]
  })

  it("a host ARN target wins over the registry's target and region data", () => {
    const c = host.certifiability(jamba, region("eu-west-1"), early)
    assert.deepStrictEqual(c._tag === "Certifiable" && [c.target, c.regionVerified], [provisioned, true])
    const p = host.certifiability("amazon.nova-premier-v1:0", region("us-east-1"), early)
    assert.deepStrictEqual(p._tag === "Certifiable" && p.target, appProfile)
    assert.strictEqual(registry.certifiability(jamba, region("eu-west-1"), early)._tag, "NotCertifiable")
  })

  it("a host ARN target does not revive an end-of-life model", () => {
    const c = host.certifiability(jamba, region("eu-west-1"), "2027-01-01T00:00:00Z")
    assert.strictEqual(c._tag === "NotCertifiable" && c.reason, "END_OF_LIFE")
  })

  it("host models are added or replace built-in ones by id, and pinned ARNs resolve to their model", () => {
    assert.strictEqual(host.models.length, models.length + 1)
    assert.strictEqual(Option.getOrThrow(host.get(jamba)).name, "Jamba (host)")
    assert.strictEqual(Option.getOrThrow(host.get(provisioned.id)).id, jamba)
    const c = host.certifiability("acme.custom-chat-v1:0", region("eu-west-1"), early)
    assert.deepStrictEqual(c._tag === "Certifiable" && c.target.id, "acme.custom-chat-v1:0")
  })

  it.effect("layerWith provides the extended registry as a service", () =>
    Effect.gen(function*() {
      const service = yield* Registry.Registry
      assert.isTrue(Option.isSome(service.get("acme.custom-chat-v1:0")))
      const c = service.certifiability(jamba, region("eu-west-1"), early)
      assert.deepStrictEqual(c._tag === "Certifiable" && c.target, provisioned)
    }).pipe(Effect.provide(Registry.layerWith({
      models: [custom],
      targets: [{ modelId: jamba, region: region("eu-west-1"), target: provisioned }]
    }))))

  it.effect("layer provides the built-in data", () =>
    Effect.gen(function*() {
      const service = yield* Registry.Registry
      assert.strictEqual(service.models.length, models.length)
    }).pipe(Effect.provide(Registry.layer)))
})

describe("ModelCatalog", () => {
  const entries = [
    { hostId: "claude-haiku", modelId: "anthropic.claude-3-5-haiku-20241022-v1:0", name: "Claude Haiku", active: true },
    { hostId: "old-llama", modelId: "meta.llama3-8b-instruct-v1:0", name: "Llama 3 8B", active: false }
  ]

  it.effect("resolves host ids to Bedrock ids and returns none for unknown ones", () =>
    Effect.gen(function*() {
      const catalog = yield* ModelCatalog.ModelCatalog
      const haiku = Option.getOrThrow(yield* catalog.resolve("claude-haiku"))
      assert.deepStrictEqual([haiku.modelId, haiku.name, haiku.active], [entries[0]!.modelId, "Claude Haiku", true])
      assert.isFalse(Option.getOrThrow(yield* catalog.resolve("old-llama")).active)
      assert.isTrue(Option.isNone(yield* catalog.resolve("nope")))
    }).pipe(Effect.provide(ModelCatalog.layerFromEntries(entries))))

  it.effect("fromRecord serves the same entries", () =>
    Effect.gen(function*() {
      const catalog = ModelCatalog.fromRecord({ x: { modelId: "amazon.nova-pro-v1:0", name: "X", active: true } })
      assert.strictEqual(Option.getOrThrow(yield* catalog.resolve("x")).modelId, "amazon.nova-pro-v1:0")
    }))

  it.effect("without a catalogue, resolveOptional takes the id as the Bedrock id", () =>
    Effect.gen(function*() {
      const entry = Option.getOrThrow(yield* ModelCatalog.resolveOptional("amazon.nova-pro-v1:0"))
      assert.deepStrictEqual([entry.modelId, entry.active], ["amazon.nova-pro-v1:0", true])
      const mapped = yield* ModelCatalog.resolveOptional("nope").pipe(
        Effect.provide(ModelCatalog.layerFromEntries(entries))
      )
      assert.isTrue(Option.isNone(mapped))
    }))
})
