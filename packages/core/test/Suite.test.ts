import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as BedrockRuntime from "../src/BedrockRuntime.ts"
import { Region } from "../src/Region.ts"
import { type Capability, capabilities, ModelInfo, type Support } from "../src/Registry.ts"
import * as Suite from "../src/Suite.ts"
import * as BedrockEmulator from "../src/emulator/BedrockEmulator.ts"
import { dominantColor } from "../src/emulator/Responder.ts"
import type { ScenarioInput } from "../src/emulator/Scenario.ts"

const east = Schema.decodeSync(Region)("us-east-1")

const allCaps = (support: Support): Record<Capability, Support> =>
  Object.fromEntries(capabilities.map((c) => [c, support])) as Record<Capability, Support>

/** A registry entry with every capability "yes" unless overridden. */
const model = (overrides: Partial<ConstructorParameters<typeof ModelInfo>[0]> = {}): ModelInfo =>
  new ModelInfo({
    id: "acme.chat-v1:0",
    name: "Acme Chat",
    vendor: "Acme",
    modality: "chat",
    api: "CONVERSE",
    capabilities: allCaps("yes"),
    maxInputTokens: null,
    maxOutputTokens: null,
    regions: [],
    regionsKnown: false,
    profiles: [],
    lifecycle: { status: "ACTIVE", legacyAt: null, eolAt: null, source: "test" },
    sources: {},
    ...overrides
  })

const testById = (id: string): Suite.SuiteTest => {
  const found = Suite.tests.find((t) => t.id === id)
  if (found === undefined) throw new Error(`no suite test ${id}`)
  return found
}

/** What each test of suite v1 requires — the contract the registry's capability flags gate. */
const expectedRequires: Record<string, ReadonlyArray<Capability>> = {
  connectivity: [],
  instruction: [],
  "system-prompt": ["systemPrompt"],
  "multi-turn": [],
  "max-tokens": [],
  json: [],
  streaming: ["streaming"],
  "tool-use": ["toolUse"],
  "tool-use-streaming": ["streaming", "toolUse", "streamingToolUse"],
  vision: ["vision"],
  document: ["documents"],
  embedding: [],
  "embedding-similarity": []
}

describe("Suite.skipReason", () => {
  const gated = Suite.tests.filter((t) => t.requires.length > 0)

  it("each test requires exactly the capabilities of its row", () => {
    assert.deepStrictEqual(Suite.tests.map((t) => t.id).sort(), Object.keys(expectedRequires).sort())
    for (const t of Suite.tests) assert.deepStrictEqual([...t.requires].sort(), [...expectedRequires[t.id]!].sort(), t.id)
  })

  it("covers at least one test per capability it gates", () => {
    const gatedCaps = new Set(gated.flatMap((t) => t.requires))
    for (const c of ["streaming", "systemPrompt", "toolUse", "streamingToolUse", "vision", "documents"] as const) {
      assert.isTrue(gatedCaps.has(c), `no test requires ${c}`)
    }
  })

  for (const capability of capabilities) {
    it(`skips the tests that require ${capability} when the registry says "no", runs them on "yes"/"unknown"`, () => {
      for (const test of Suite.tests) {
        const no = skipReason(test, capability, "no")
        if (test.requires.includes(capability)) {
          assert.isNotNull(no, `${test.id} should be skipped when ${capability} is "no"`)
          assert.include(no!, capability)
        } else {
          assert.isNull(no, `${test.id} does not require ${capability}`)
        }
        assert.isNull(skipReason(test, capability, "yes"), `${test.id} with ${capability} "yes"`)
        assert.isNull(skipReason(test, capability, "unknown"), `${test.id} with ${capability} "unknown"`)
      }
    })
  }

  it("runs every test when every capability is unknown", () => {
    const m = model({ capabilities: allCaps("unknown") })
    for (const test of Suite.tests) assert.isNull(Suite.skipReason(test, m), test.id)
  })

  it("names every missing capability", () => {
    const m = model({ capabilities: allCaps("no") })
    const reason = Suite.skipReason(testById("tool-use-streaming"), m)
    assert.isNotNull(reason)
    for (const c of ["streaming", "toolUse", "streamingToolUse"]) assert.include(reason!, c)
  })
})

function skipReason(test: Suite.SuiteTest, capability: Capability, support: Support): string | null {
  return Suite.skipReason(test, model({ capabilities: { ...allCaps("yes"), [capability]: support } }))
}

describe("Suite.embeddingFormatFor", () => {
  const rows: ReadonlyArray<readonly [id: string, dimensions: number | undefined]> = [
    ["amazon.titan-embed-text-v1", 1536],
    ["amazon.titan-embed-g1-text-02", 1536],
    ["amazon.titan-embed-text-v2:0", 1024],
    ["amazon.titan-embed-image-v1", 1024],
    ["cohere.embed-english-v3", 1024],
    ["cohere.embed-multilingual-v3", 1024],
    ["cohere.embed-v4:0", 1536],
    ["us.cohere.embed-v4:0", 1536],
    ["eu.amazon.titan-embed-text-v2:0", 1024],
    ["acme.embed-v1:0", undefined],
    ["twelvelabs.marengo-embed-2-7-v1:0", undefined]
  ]
  for (const [id, dimensions] of rows) {
    it(`${id} → ${dimensions === undefined ? "no format" : `${dimensions} dimensions`}`, () => {
      assert.strictEqual(Suite.embeddingFormatFor(id)?.dimensions, dimensions)
    })
  }

  it("titan v2 asks for 1024 normalized dimensions; cohere v4 asks for float embeddings", () => {
    assert.deepStrictEqual(Suite.embeddingFormatFor("amazon.titan-embed-text-v2:0")!.body("x"), {
      inputText: "x",
      dimensions: 1024,
      normalize: true
    })
    assert.deepStrictEqual(Suite.embeddingFormatFor("cohere.embed-v4:0")!.body("x"), {
      texts: ["x"],
      input_type: "search_document",
      embedding_types: ["float"]
    })
  })

  it("reads cohere vectors from both the array and the typed ({ float }) response shapes", () => {
    const read = Suite.embeddingFormatFor("cohere.embed-v4:0")!.read
    assert.deepStrictEqual(read({ embeddings: [[1, 2]] }), [1, 2])
    assert.deepStrictEqual(read({ embeddings: { float: [[3, 4]] } }), [3, 4])
  })
})

describe("Suite.kindOf", () => {
  it("chat models served through Converse are chat", () => {
    assert.strictEqual(Suite.kindOf(model()), "chat")
  })

  it("chat models without Converse are unsupported", () => {
    const kind = Suite.kindOf(model({ api: "NONE" }))
    assert.isObject(kind)
    assert.include((kind as { unsupported: string }).unsupported, "Converse")
  })

  it("embedding models with a known request format are embedding", () => {
    for (const id of ["amazon.titan-embed-text-v2:0", "cohere.embed-english-v3", "us.cohere.embed-v4:0"]) {
      assert.strictEqual(Suite.kindOf(model({ id, modality: "embedding", api: "INVOKE_MODEL" })), "embedding", id)
    }
  })

  it("embedding models of an unknown family are unsupported", () => {
    const kind = Suite.kindOf(model({ id: "acme.embed-v1:0", modality: "embedding", api: "INVOKE_MODEL" }))
    assert.isObject(kind)
    assert.include((kind as { unsupported: string }).unsupported, "acme.embed-v1:0")
  })

  for (const modality of ["image", "video", "rerank", "speech"] as const) {
    it(`${modality} models are unsupported`, () => {
      const kind = Suite.kindOf(model({ modality, api: "NONE" }))
      assert.isObject(kind)
      assert.include((kind as { unsupported: string }).unsupported, modality)
    })
  }
})

describe("Suite.maxTokensFor", () => {
  it("gives reasoning models a larger budget", () => {
    const reasoning = Suite.maxTokensFor(model({ capabilities: { ...allCaps("no"), reasoning: "yes" } }))
    const plain = Suite.maxTokensFor(model({ capabilities: { ...allCaps("yes"), reasoning: "no" } }))
    const unknown = Suite.maxTokensFor(model({ capabilities: { ...allCaps("yes"), reasoning: "unknown" } }))
    assert.strictEqual(reasoning, 2048)
    assert.strictEqual(plain, 512)
    assert.strictEqual(unknown, 512)
  })
})

describe("Suite.validateWeatherInput", () => {
  const rows: ReadonlyArray<readonly [label: string, input: unknown, problem: string | null]> = [
    ["a city in celsius", { city: "Paris", unit: "celsius" }, null],
    ["a city in fahrenheit", { city: "Paris", unit: "fahrenheit" }, null],
    ["missing city", { unit: "celsius" }, "city"],
    ["empty city", { city: "", unit: "celsius" }, "city"],
    ["a non-string city", { city: 42, unit: "celsius" }, "city"],
    ["a bad unit", { city: "Paris", unit: "kelvin" }, "unit"],
    ["a missing unit", { city: "Paris" }, "unit"],
    ["null", null, "not an object"],
    ["a string", "Paris", "not an object"],
    ["an array", ["Paris", "celsius"], "not an object"]
  ]
  for (const [label, input, problem] of rows) {
    it(`${label} → ${problem ?? "valid"}`, () => {
      const got = Suite.validateWeatherInput(input)
      if (problem === null) assert.isNull(got)
      else {
        assert.isNotNull(got)
        assert.include(got!, problem)
      }
    })
  }
})

describe("Suite.solidPng", () => {
  const colours: ReadonlyArray<readonly [name: string, r: number, g: number, b: number]> = [
    ["red", 220, 20, 20],
    ["green", 30, 170, 40],
    ["blue", 30, 60, 220]
  ]
  for (const [name, r, g, b] of colours) {
    it(`a ${name} square decodes back to ${name}`, () => {
      assert.strictEqual(dominantColor(Suite.solidPng(r, g, b)), name)
    })
  }

  it("honours the size in the IHDR header", () => {
    const png = Buffer.from(Suite.solidPng(0, 0, 0, 5))
    assert.strictEqual(png.readUInt32BE(16), 5)
    assert.strictEqual(png.readUInt32BE(20), 5)
  })
})

describe("Suite.tests", () => {
  it("every test has a unique id and a positive weight", () => {
    const ids = Suite.tests.map((t) => t.id)
    assert.strictEqual(new Set(ids).size, ids.length)
    for (const t of Suite.tests) assert.isAbove(t.weight, 0, t.id)
  })

  it("the critical tests are exactly connectivity, instruction (chat) and embedding", () => {
    const critical = Suite.tests.filter((t) => t.critical).map((t) => `${t.kind}:${t.id}`).sort()
    assert.deepStrictEqual(critical, ["chat:connectivity", "chat:instruction", "embedding:embedding"])
  })

  it("each kind starts with its critical gate", () => {
    assert.strictEqual(Suite.tests.find((t) => t.kind === "chat")!.id, "connectivity")
    assert.strictEqual(Suite.tests.find((t) => t.kind === "embedding")!.id, "embedding")
  })

  it("records a semantic version", () => {
    assert.match(Suite.version, /^\d+\.\d+\.\d+$/)
  })
})

describe("Suite judging through the emulator", () => {
  const good = "acme.good-v1:0"
  const wrong = "acme.wrong-v1:0"
  const brokenJson = "acme.broken-json-v1:0"
  const scenario: ScenarioInput = {
    seed: 3,
    registry: "none",
    defaults: { availability: "offered", quality: "good", latency: { ttftMs: { min: 1, max: 2 }, tokensPerSecond: 5000 } },
    rules: [
      { models: [good] },
      { models: [wrong], quality: "wrong" },
      { models: [brokenJson], quality: "broken-json" }
    ]
  }

  const observe = (testId: string, modelId: string) =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.make({ scenario })
      const m = model({ id: modelId })
      const observation = yield* testById(testId).run({ region: east, target: modelId, model: m, maxTokens: 512 }).pipe(
        Effect.provide(
          BedrockRuntime.layer({
            endpoint: emulator.url,
            credentials: { accessKeyId: "AKIDSUITETEST", secretAccessKey: "suite-secret" }
          })
        )
      )
      assert.isTrue(emulator.requests().some((r) => r.modelId === modelId), "the emulator saw the request")
      return observation
    })

  it.live("instruction passes for a model that answers well", () =>
    Effect.gen(function*() {
      const o = yield* observe("instruction", good)
      assert.isTrue(o.passed, o.detail ?? "")
      assert.isNull(o.detail)
    }))

  it.live("instruction fails, with a detail, for a model that answers wrong", () =>
    Effect.gen(function*() {
      const o = yield* observe("instruction", wrong)
      assert.isFalse(o.passed)
      assert.include(o.detail ?? "", "42")
    }))

  it.live("json passes for a good model and fails for one that breaks JSON", () =>
    Effect.gen(function*() {
      const ok = yield* observe("json", good)
      assert.isTrue(ok.passed, ok.detail ?? "")
      const broken = yield* observe("json", brokenJson)
      assert.isFalse(broken.passed)
      assert.isNotNull(broken.detail)
    }))
})
