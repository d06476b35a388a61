/**
 * Certification test suite v1: each test is a value — id, name, required capabilities, critical
 * flag, weight, and the Effect that calls Bedrock and judges the answer.
 *
 * Chat models are tested through Converse / ConverseStream, embedding models through InvokeModel.
 * Temperature is 0 and `maxTokens` small but sufficient (larger for reasoning models). A test whose
 * capability the registry marks unsupported is skipped (never failed); "unknown" capabilities are
 * measured. Judging is strict and local to each test: a wrong answer is a failed observation, while
 * Bedrock errors surface as `BedrockError` so the runner can retry, fall back or blame the environment.
 * An answer a content filter or guardrail stopped (`stopReason` `content_filtered` /
 * `guardrail_intervened`) is not judged: it fails the call as CONTENT_FILTERED.
 *
 * @since 0.1.0
 */
import type {
  ContentBlock,
  ConverseCommandInput,
  ConverseCommandOutput,
  ConverseStreamOutput,
  Message,
  Tool
} from "@aws-sdk/client-bedrock-runtime"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { crc32, deflateSync } from "node:zlib"
import { BedrockError, BedrockRuntime, type Operation } from "./BedrockRuntime.ts"
import { type CategorizedError, type Region, UnitOutcome, type Verdict } from "./Domain.ts"
import * as ErrorCategorizer from "./ErrorCategorizer.ts"
import type { Capability, ModelInfo } from "./Registry.ts"

/** The suite version recorded on every result. Bump it when a test, prompt or weight changes. */
export const version = "1.0.0"

/** An outcome decided without running tests (before any Bedrock call, or after giving up). */
export const outcomeWithoutTests = (verdict: Verdict, error: CategorizedError | null, findings: ReadonlyArray<string> = []) =>
  new UnitOutcome({
    verdict,
    invocationTarget: null,
    suiteVersion: version,
    tests: [],
    score: null,
    grade: null,
    stars: null,
    error,
    findings
  })

/** Which family of tests applies to a model. */
export type SuiteKind = "chat" | "embedding"

/** What one test observed. `passed: false` is a judged wrong answer (blamed on the model). */
export interface Observation {
  readonly passed: boolean
  readonly detail: string | null
  readonly latencyMs: number
  readonly ttftMs: number | null
  readonly outputTokensPerSecond: number | null
}

/** What a test needs to run against one model in one region. */
export interface TestContext {
  readonly region: Region
  /** The id or ARN passed to Bedrock (base id, profile id, or ARN). */
  readonly target: string
  readonly model: ModelInfo
  /** Output budget for ordinary answers (larger for reasoning models). */
  readonly maxTokens: number
}

export interface SuiteTest {
  readonly id: string
  readonly name: string
  readonly kind: SuiteKind
  /** Capabilities the model must not be marked unsupported for. */
  readonly requires: ReadonlyArray<Capability>
  readonly critical: boolean
  readonly weight: number
  readonly run: (ctx: TestContext) => Effect.Effect<Observation, BedrockError, BedrockRuntime>
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const user = (...content: Array<ContentBlock>): Message => ({ role: "user", content })
const assistant = (...content: Array<ContentBlock>): Message => ({ role: "assistant", content })

const textOf = (out: ConverseCommandOutput): string =>
  (out.output?.message?.content ?? []).map((b) => b.text ?? "").join("").trim()

const ok = (latencyMs: number, extra?: Partial<Observation>): Observation => ({
  passed: true,
  detail: null,
  latencyMs,
  ttftMs: null,
  outputTokensPerSecond: null,
  ...extra
})

const fail = (latencyMs: number, detail: string, extra?: Partial<Observation>): Observation => ({
  passed: false,
  detail,
  latencyMs,
  ttftMs: null,
  outputTokensPerSecond: null,
  ...extra
})

/** Parse JSON text without throwing (model answers are untrusted). */
const parseJson = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Unknown))

const clip = (s: string, n = 120) => (s.length > n ? `${s.slice(0, n)}…` : s)

/** Stop reasons of an answer a provider content filter or a Bedrock guardrail blocked. */
const filteredStopReasons: ReadonlySet<string> = new Set(["content_filtered", "guardrail_intervened"])

/** Fails the call as CONTENT_FILTERED when the answer was blocked: there is nothing to judge. */
const unlessFiltered = (ctx: TestContext, operation: Operation, stopReason: string | undefined) =>
  stopReason !== undefined && filteredStopReasons.has(stopReason)
    ? Effect.fail(
      new BedrockError({
        operation,
        region: ctx.region,
        modelId: ctx.target,
        error: ErrorCategorizer.contentFiltered(stopReason)
      })
    )
    : Effect.void

/** Run a Converse call and time it. */
const converse = Effect.fnUntraced(function*(ctx: TestContext, input: Omit<ConverseCommandInput, "modelId">) {
  const runtime = yield* BedrockRuntime
  const start = yield* Clock.currentTimeMillis
  const out = yield* runtime.converse(ctx.region, {
    modelId: ctx.target,
    inferenceConfig: { temperature: 0, maxTokens: ctx.maxTokens },
    ...input
  })
  const latencyMs = (yield* Clock.currentTimeMillis) - start
  yield* unlessFiltered(ctx, "Converse", out.stopReason)
  return { out, latencyMs }
})

interface StreamRun {
  readonly events: ReadonlyArray<ConverseStreamOutput>
  readonly text: string
  readonly toolInput: string
  readonly toolName: string | undefined
  readonly stopReason: string | undefined
  readonly outputTokens: number | undefined
  readonly latencyMs: number
  readonly ttftMs: number | null
  readonly tokensPerSecond: number | null
}

/** Run a ConverseStream call, collecting events with timing (TTFT, tokens/s). */
const converseStream = Effect.fnUntraced(function*(ctx: TestContext, input: Omit<ConverseCommandInput, "modelId">) {
  const runtime = yield* BedrockRuntime
  const start = yield* Clock.currentTimeMillis
  let first: number | null = null
  const events: Array<ConverseStreamOutput> = []
  yield* runtime.converseStream(ctx.region, {
    modelId: ctx.target,
    inferenceConfig: { temperature: 0, maxTokens: ctx.maxTokens },
    ...input
  }).pipe(
    Stream.runForEach((event) =>
      Effect.gen(function*() {
        if (first === null && event.contentBlockDelta !== undefined) first = yield* Clock.currentTimeMillis
        events.push(event)
      })
    )
  )
  const end = yield* Clock.currentTimeMillis
  let text = ""
  let toolInput = ""
  let toolName: string | undefined
  let stopReason: string | undefined
  let outputTokens: number | undefined
  for (const e of events) {
    if (e.contentBlockDelta?.delta?.text !== undefined) text += e.contentBlockDelta.delta.text
    if (e.contentBlockDelta?.delta?.toolUse?.input !== undefined) toolInput += e.contentBlockDelta.delta.toolUse.input
    if (e.contentBlockStart?.start?.toolUse?.name !== undefined) toolName = e.contentBlockStart.start.toolUse.name
    if (e.messageStop?.stopReason !== undefined) stopReason = e.messageStop.stopReason
    if (e.metadata?.usage?.outputTokens !== undefined) outputTokens = e.metadata.usage.outputTokens
  }
  yield* unlessFiltered(ctx, "ConverseStream", stopReason)
  const ttftMs = first === null ? null : first - start
  const genSeconds = first === null ? 0 : (end - first) / 1000
  const tokensPerSecond = outputTokens !== undefined && genSeconds > 0 ? outputTokens / genSeconds : null
  const run: StreamRun = {
    events,
    text: text.trim(),
    toolInput,
    toolName,
    stopReason,
    outputTokens,
    latencyMs: end - start,
    ttftMs,
    tokensPerSecond
  }
  return run
})

/** Event order a ConverseStream must follow: messageStart first, messageStop then metadata last. */
const checkEventOrder = (events: ReadonlyArray<ConverseStreamOutput>): string | null => {
  const kinds = events.map((e) => Object.keys(e).find((k) => (e as unknown as Record<string, unknown>)[k] !== undefined) ?? "?")
  if (kinds[0] !== "messageStart") return `stream did not start with messageStart (got ${kinds[0] ?? "nothing"})`
  const stop = kinds.lastIndexOf("messageStop")
  if (stop < 0) return "stream has no messageStop"
  if (kinds.indexOf("contentBlockDelta") < 0) return "stream has no contentBlockDelta"
  if (kinds.lastIndexOf("contentBlockDelta") > stop) return "contentBlockDelta after messageStop"
  if (kinds[kinds.length - 1] !== "metadata") return `stream did not end with metadata (got ${kinds[kinds.length - 1]})`
  return null
}

// ---------------------------------------------------------------------------------------------
// Tool schema (a tiny JSON-schema subset validator: enough for our own tool)
// ---------------------------------------------------------------------------------------------

const weatherTool: Tool = {
  toolSpec: {
    name: "get_weather",
    description: "Get the current weather for a city.",
    inputSchema: {
      json: {
        type: "object",
        properties: {
          city: { type: "string", description: "City name, e.g. Paris" },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] }
        },
        required: ["city", "unit"]
      }
    }
  }
}

/** Why `input` does not satisfy the weather tool's schema, or null when it does. */
export const validateWeatherInput = (input: unknown): string | null => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return "tool input is not an object"
  const o = input as Record<string, unknown>
  if (typeof o["city"] !== "string" || o["city"].length === 0) return "tool input.city missing or not a string"
  if (o["unit"] !== "celsius" && o["unit"] !== "fahrenheit") return `tool input.unit must be celsius|fahrenheit, got ${JSON.stringify(o["unit"])}`
  return null
}

const weatherPrompt = "What is the weather in Paris right now? Use the get_weather tool."
const weatherResult = { temperature: 18, condition: "sunny" }

// ---------------------------------------------------------------------------------------------
// A small PNG made in code (no fixture files)
// ---------------------------------------------------------------------------------------------

const chunk = (type: string, data: Buffer): Buffer => {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, "ascii"), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body) >>> 0)
  return Buffer.concat([len, body, crc])
}

/** A solid-colour 16×16 RGB PNG. */
export const solidPng = (r: number, g: number, b: number, size = 16): Uint8Array => {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(size, 0)
  ihdr.writeUInt32BE(size, 4)
  ihdr[8] = 8
  ihdr[9] = 2
  const row = Buffer.alloc(1 + size * 3)
  for (let x = 0; x < size; x++) row.set([r, g, b], 1 + x * 3)
  const raw = Buffer.concat(Array.from({ length: size }, () => row))
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0))
  ]))
}

const redSquare = solidPng(220, 20, 20)

// ---------------------------------------------------------------------------------------------
// Chat tests
// ---------------------------------------------------------------------------------------------

const connectivity: SuiteTest = {
  id: "connectivity",
  name: "Connectivity",
  kind: "chat",
  requires: [],
  critical: true,
  weight: 1,
  run: (ctx) =>
    converse(ctx, { messages: [user({ text: "Reply with the single word: pong" })] }).pipe(
      Effect.map(({ latencyMs, out }) => {
        const text = textOf(out)
        return /^\W*pong\W*$/i.test(text) ? ok(latencyMs) : fail(latencyMs, `expected "pong", got "${clip(text)}"`)
      })
    )
}

const instruction: SuiteTest = {
  id: "instruction",
  name: "Instruction following (exact answer)",
  kind: "chat",
  requires: [],
  critical: true,
  weight: 2,
  run: (ctx) =>
    converse(ctx, { messages: [user({ text: "What is 17 + 25? Reply with only the number." })] }).pipe(
      Effect.map(({ latencyMs, out }) => {
        const text = textOf(out).replace(/[.\s]+$/, "")
        return text === "42" ? ok(latencyMs) : fail(latencyMs, `expected exactly "42", got "${clip(text)}"`)
      })
    )
}

const systemPrompt: SuiteTest = {
  id: "system-prompt",
  name: "System prompt",
  kind: "chat",
  requires: ["systemPrompt"],
  critical: false,
  weight: 1,
  run: (ctx) =>
    converse(ctx, {
      system: [{ text: "You are a terse assistant. Always end every reply with the marker [[OK]]" }],
      messages: [user({ text: "Say hello." })]
    }).pipe(
      Effect.map(({ latencyMs, out }) => {
        const text = textOf(out)
        return text.endsWith("[[OK]]") ? ok(latencyMs) : fail(latencyMs, `reply does not end with [[OK]]: "${clip(text)}"`)
      })
    )
}

const multiTurn: SuiteTest = {
  id: "multi-turn",
  name: "Multi-turn recall",
  kind: "chat",
  requires: [],
  critical: false,
  weight: 1,
  run: (ctx) =>
    converse(ctx, {
      messages: [
        user({ text: "Remember this code word: ZEBRA-42." }),
        assistant({ text: "Understood. I will remember it." }),
        user({ text: "What is the code word? Reply with only the code word." })
      ]
    }).pipe(
      Effect.map(({ latencyMs, out }) => {
        const text = textOf(out)
        return /\bZEBRA-42\b/.test(text) ? ok(latencyMs) : fail(latencyMs, `expected "ZEBRA-42", got "${clip(text)}"`)
      })
    )
}

const maxTokens: SuiteTest = {
  id: "max-tokens",
  name: "maxTokens is honoured",
  kind: "chat",
  requires: [],
  critical: false,
  weight: 1,
  run: (ctx) =>
    converse(ctx, {
      messages: [user({ text: "Count from 1 to 500, separated by spaces." })],
      inferenceConfig: { temperature: 0, maxTokens: 16 }
    }).pipe(
      Effect.map(({ latencyMs, out }) =>
        out.stopReason === "max_tokens"
          ? ok(latencyMs)
          : fail(latencyMs, `expected stopReason "max_tokens", got "${out.stopReason ?? "none"}"`)
      )
    )
}

const json: SuiteTest = {
  id: "json",
  name: "JSON output",
  kind: "chat",
  requires: [],
  critical: false,
  weight: 1,
  run: (ctx) =>
    converse(ctx, {
      messages: [
        user({
          text: "Return only a JSON object with keys \"city\" (string) and \"population\" (number) describing Paris. " +
            "No prose, no code fences."
        })
      ]
    }).pipe(
      Effect.map(({ latencyMs, out }) => {
        const text = textOf(out).replace(/^```(?:json)?\s*|\s*```$/g, "")
        const decoded = parseJson(text)
        if (Option.isNone(decoded)) return fail(latencyMs, `answer is not valid JSON: "${clip(text)}"`)
        const parsed = decoded.value
        const o = parsed as Record<string, unknown>
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return fail(latencyMs, "JSON is not an object")
        if (typeof o["city"] !== "string") return fail(latencyMs, "JSON.city is not a string")
        if (typeof o["population"] !== "number" || !Number.isFinite(o["population"])) {
          return fail(latencyMs, "JSON.population is not a number")
        }
        return ok(latencyMs)
      })
    )
}

const streaming: SuiteTest = {
  id: "streaming",
  name: "Streaming (ConverseStream)",
  kind: "chat",
  requires: ["streaming"],
  critical: false,
  weight: 1.5,
  run: (ctx) =>
    converseStream(ctx, { messages: [user({ text: "Count from 1 to 20, separated by spaces." })] }).pipe(
      Effect.map((run) => {
        const timing = { ttftMs: run.ttftMs, outputTokensPerSecond: run.tokensPerSecond }
        const orderProblem = checkEventOrder(run.events)
        if (orderProblem !== null) return fail(run.latencyMs, orderProblem, timing)
        const expected = Array.from({ length: 20 }, (_, i) => String(i + 1)).join(" ")
        return run.text.replace(/\s+/g, " ") === expected
          ? ok(run.latencyMs, timing)
          : fail(run.latencyMs, `streamed text "${clip(run.text)}" is not "1 … 20"`, timing)
      })
    )
}

const judgeToolUse = (latencyMs: number, name: string | undefined, input: unknown): Observation | null => {
  if (name === undefined) return fail(latencyMs, "model did not call the tool")
  if (name !== "get_weather") return fail(latencyMs, `model called unknown tool "${name}"`)
  const problem = validateWeatherInput(input)
  return problem === null ? null : fail(latencyMs, problem)
}

const toolUse: SuiteTest = {
  id: "tool-use",
  name: "Tool use (call + result round trip)",
  kind: "chat",
  requires: ["toolUse"],
  critical: false,
  weight: 1.5,
  run: (ctx) =>
    Effect.gen(function*() {
      const toolConfig = { tools: [weatherTool] }
      const first = yield* converse(ctx, { messages: [user({ text: weatherPrompt })], toolConfig })
      const blocks = first.out.output?.message?.content ?? []
      const call = blocks.find((b) => b.toolUse !== undefined)?.toolUse
      const judged = judgeToolUse(first.latencyMs, call?.name, call?.input)
      if (judged !== null) return judged
      const second = yield* converse(ctx, {
        toolConfig,
        messages: [
          user({ text: weatherPrompt }),
          { role: "assistant", content: blocks },
          user({ toolResult: { toolUseId: call!.toolUseId!, content: [{ json: weatherResult }], status: "success" } })
        ]
      })
      const latencyMs = first.latencyMs + second.latencyMs
      const text = textOf(second.out)
      return text.includes("18")
        ? ok(latencyMs)
        : fail(latencyMs, `answer after the tool result does not mention 18: "${clip(text)}"`)
    })
}

const toolUseStreaming: SuiteTest = {
  id: "tool-use-streaming",
  name: "Tool use while streaming",
  kind: "chat",
  requires: ["streaming", "toolUse", "streamingToolUse"],
  critical: false,
  weight: 1,
  run: (ctx) =>
    converseStream(ctx, { messages: [user({ text: weatherPrompt })], toolConfig: { tools: [weatherTool] } }).pipe(
      Effect.map((run) => {
        const timing = { ttftMs: run.ttftMs, outputTokensPerSecond: run.tokensPerSecond }
        const decoded = run.toolInput.length > 0 ? parseJson(run.toolInput) : Option.some(undefined)
        if (Option.isNone(decoded)) {
          return fail(run.latencyMs, `streamed tool input is not valid JSON: "${clip(run.toolInput)}"`, timing)
        }
        const input = decoded.value
        const judged = judgeToolUse(run.latencyMs, run.toolName, input)
        if (judged !== null) return { ...judged, ...timing }
        return run.stopReason === "tool_use"
          ? ok(run.latencyMs, timing)
          : fail(run.latencyMs, `expected stopReason "tool_use", got "${run.stopReason ?? "none"}"`, timing)
      })
    )
}

const vision: SuiteTest = {
  id: "vision",
  name: "Vision (image input)",
  kind: "chat",
  requires: ["vision"],
  critical: false,
  weight: 1,
  run: (ctx) =>
    converse(ctx, {
      messages: [
        user(
          { image: { format: "png", source: { bytes: redSquare } } },
          { text: "What is the dominant colour of this image? Reply with one word." }
        )
      ]
    }).pipe(
      Effect.map(({ latencyMs, out }) => {
        const text = textOf(out)
        // One word was asked for; accept "Red." but not "not red" or a list of colours.
        return /^\W*red\W*$/i.test(text) ? ok(latencyMs) : fail(latencyMs, `expected "red", got "${clip(text)}"`)
      })
    )
}

const memo = "Internal memo.\nThe project code name is BLUEBIRD.\nThe launch is planned for spring."

const document: SuiteTest = {
  id: "document",
  name: "Document input",
  kind: "chat",
  requires: ["documents"],
  critical: false,
  weight: 1,
  run: (ctx) =>
    converse(ctx, {
      messages: [
        user(
          { document: { format: "txt", name: "memo", source: { bytes: new TextEncoder().encode(memo) } } },
          { text: "What is the project code name according to the document? Reply with only the code name." }
        )
      ]
    }).pipe(
      Effect.map(({ latencyMs, out }) => {
        const text = textOf(out)
        return /\bBLUEBIRD\b/.test(text) ? ok(latencyMs) : fail(latencyMs, `expected "BLUEBIRD", got "${clip(text)}"`)
      })
    )
}

// ---------------------------------------------------------------------------------------------
// Embedding tests
// ---------------------------------------------------------------------------------------------

/** How to ask one embedding family for a vector, and how many dimensions to expect. */
interface EmbeddingFormat {
  readonly matches: (modelId: string) => boolean
  readonly dimensions: number
  readonly body: (text: string) => unknown
  readonly read: (body: unknown) => unknown
}

const baseId = (id: string) => id.replace(/^(us|eu|apac|global|jp|au|us-gov|ca)\./, "")

/** Request formats by model family — data, one row per family. */
export const embeddingFormats: ReadonlyArray<EmbeddingFormat> = [
  {
    matches: (id) => baseId(id).startsWith("amazon.titan-embed-text-v2"),
    dimensions: 1024,
    body: (text) => ({ inputText: text, dimensions: 1024, normalize: true }),
    read: (b) => (b as { embedding?: unknown }).embedding
  },
  {
    matches: (id) => /^amazon\.titan-embed-(text-v1|g1-text-02)/.test(baseId(id)),
    dimensions: 1536,
    body: (text) => ({ inputText: text }),
    read: (b) => (b as { embedding?: unknown }).embedding
  },
  {
    matches: (id) => baseId(id).startsWith("amazon.titan-embed-image-v1"),
    dimensions: 1024,
    body: (text) => ({ inputText: text }),
    read: (b) => (b as { embedding?: unknown }).embedding
  },
  {
    matches: (id) => /^cohere\.embed-(english|multilingual)-v3/.test(baseId(id)),
    dimensions: 1024,
    body: (text) => ({ texts: [text], input_type: "search_document" }),
    read: (b) => {
      const e = (b as { embeddings?: unknown }).embeddings
      if (Array.isArray(e)) return e[0]
      return (e as { float?: ReadonlyArray<unknown> } | undefined)?.float?.[0]
    }
  },
  {
    matches: (id) => baseId(id).startsWith("cohere.embed-v4"),
    dimensions: 1536,
    body: (text) => ({ texts: [text], input_type: "search_document", embedding_types: ["float"] }),
    read: (b) => {
      const e = (b as { embeddings?: unknown }).embeddings
      if (Array.isArray(e)) return e[0]
      return (e as { float?: ReadonlyArray<unknown> } | undefined)?.float?.[0]
    }
  }
]

/** The request format for a model, or undefined when suite v1 cannot drive it. */
export const embeddingFormatFor = (modelId: string): EmbeddingFormat | undefined =>
  embeddingFormats.find((f) => f.matches(modelId))

const embedText = Effect.fnUntraced(function*(ctx: TestContext, text: string) {
  const runtime = yield* BedrockRuntime
  const format = embeddingFormatFor(ctx.model.id)!
  const start = yield* Clock.currentTimeMillis
  const res = yield* runtime.invokeModel(ctx.region, { modelId: ctx.target, body: format.body(text) })
  const latencyMs = (yield* Clock.currentTimeMillis) - start
  return { vector: format.read(res.body), latencyMs, expected: format.dimensions }
})

const vectorProblem = (vector: unknown, expected: number): string | null => {
  if (!Array.isArray(vector)) return "response has no embedding array"
  if (vector.length !== expected) return `expected ${expected} dimensions, got ${vector.length}`
  if (!vector.every((x) => typeof x === "number" && Number.isFinite(x))) return "embedding has non-finite values"
  if (vector.every((x) => x === 0)) return "embedding is all zeros"
  return null
}

const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!
    na += a[i]! * a[i]!
    nb += b[i]! * b[i]!
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}

const embedding: SuiteTest = {
  id: "embedding",
  name: "Embedding shape",
  kind: "embedding",
  requires: [],
  critical: true,
  weight: 2,
  run: (ctx) =>
    embedText(ctx, "The cat sat on the mat.").pipe(
      Effect.map(({ latencyMs, vector, expected }) => {
        const problem = vectorProblem(vector, expected)
        return problem === null ? ok(latencyMs) : fail(latencyMs, problem)
      })
    )
}

const embeddingSimilarity: SuiteTest = {
  id: "embedding-similarity",
  name: "Embedding similarity (paraphrase closer than unrelated)",
  kind: "embedding",
  requires: [],
  critical: false,
  weight: 1,
  run: (ctx) =>
    Effect.gen(function*() {
      const a = yield* embedText(ctx, "A cat is sitting on the mat.")
      const b = yield* embedText(ctx, "The cat sat on the mat.")
      const c = yield* embedText(ctx, "Quarterly revenue rose by eight percent.")
      const latencyMs = (a.latencyMs + b.latencyMs + c.latencyMs) / 3
      for (const v of [a, b, c]) {
        const problem = vectorProblem(v.vector, v.expected)
        if (problem !== null) return fail(latencyMs, problem)
      }
      const near = cosine(a.vector as Array<number>, b.vector as Array<number>)
      const far = cosine(a.vector as Array<number>, c.vector as Array<number>)
      return near > far
        ? ok(latencyMs)
        : fail(latencyMs, `paraphrase similarity ${near.toFixed(3)} is not above unrelated ${far.toFixed(3)}`)
    })
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

/** Every test of suite v1, in run order (the critical gate first). */
export const tests: ReadonlyArray<SuiteTest> = [
  connectivity,
  instruction,
  systemPrompt,
  multiTurn,
  maxTokens,
  json,
  streaming,
  toolUse,
  toolUseStreaming,
  vision,
  document,
  embedding,
  embeddingSimilarity
]

/** Which suite applies to a model, or why none does. */
export const kindOf = (model: ModelInfo): SuiteKind | { readonly unsupported: string } => {
  if (model.modality === "chat") {
    return model.api === "CONVERSE" ? "chat" : { unsupported: `${model.id} has no Converse chat API; suite v1 drives chat models through Converse` }
  }
  if (model.modality === "embedding") {
    return embeddingFormatFor(model.id) !== undefined
      ? "embedding"
      : { unsupported: `suite v1 has no request format for the embedding family of ${model.id}` }
  }
  return { unsupported: `suite v1 has no tests for ${model.modality} models` }
}

/** Whether the registry rules a test out for a model (capability marked unsupported). */
export const skipReason = (test: SuiteTest, model: ModelInfo): string | null => {
  const missing = test.requires.filter((c) => model.capabilities[c] === "no")
  return missing.length === 0 ? null : `registry marks ${missing.join(", ")} unsupported`
}

/** Output budget: small but sufficient, larger for reasoning models. */
export const maxTokensFor = (model: ModelInfo): number => (model.capabilities.reasoning === "yes" ? 2048 : 512)
