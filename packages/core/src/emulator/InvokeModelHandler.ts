/**
 * The InvokeModel family: `InvokeModel` and `InvokeModelWithResponseStream` with each model
 * family's native body — Titan text v1/v2 and image embeddings, Cohere embeddings (floats or by
 * type), Anthropic Messages and Nova-style `messages` chat bodies. A body that does not fit the
 * model's schema gets Bedrock's "Malformed input request" wording; the streaming variant sends the
 * whole answer as one base64 `chunk` frame.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import * as Schema from "effect/Schema"
import { type ConverseBody, usage } from "./ConverseHandler.ts"
import * as EventStream from "./EventStream.ts"
import { type Call, endStream, type Operation, sendError, sendJson, startStream, wait } from "./Exchange.ts"
import * as Responder from "./Responder.ts"
import type * as Scenario from "./Scenario.ts"
import * as Timing from "./Timing.ts"
import { malformed, scriptedFrame, wire, type WireError } from "./WireError.ts"

const strict = { onExcessProperty: "error" } as const
const TitanV1 = Schema.Struct({ inputText: Schema.String })
const TitanV2 = Schema.Struct({
  inputText: Schema.String,
  dimensions: Schema.optionalKey(Schema.Literals([256, 512, 1024])),
  normalize: Schema.optionalKey(Schema.Boolean),
  embeddingTypes: Schema.optionalKey(Schema.Array(Schema.Literals(["float", "binary"])))
})
const TitanImage = Schema.Struct({
  inputText: Schema.optionalKey(Schema.String),
  inputImage: Schema.optionalKey(Schema.String),
  embeddingConfig: Schema.optionalKey(Schema.Struct({ outputEmbeddingLength: Schema.Literals([256, 384, 1024]) }))
})
const Cohere = Schema.Struct({
  texts: Schema.Array(Schema.String),
  input_type: Schema.Literals(["search_document", "search_query", "classification", "clustering"]),
  embedding_types: Schema.optionalKey(Schema.Array(Schema.String)),
  truncate: Schema.optionalKey(Schema.String),
  output_dimension: Schema.optionalKey(Schema.Literals([256, 512, 1024, 1536])),
  max_tokens: Schema.optionalKey(Schema.Number),
  images: Schema.optionalKey(Schema.Array(Schema.String)),
  inputs: Schema.optionalKey(Schema.Array(Schema.Unknown))
})
const decodeTitanV1 = Schema.decodeUnknownExit(TitanV1, strict)
const decodeTitanV2 = Schema.decodeUnknownExit(TitanV2, strict)
const decodeTitanImage = Schema.decodeUnknownExit(TitanImage, strict)
const decodeCohere = Schema.decodeUnknownExit(Cohere, strict)

/** A native answer body and its output tokens (for the latency), or the error to send instead. */
type Result = { readonly outputTokens: number; readonly body: unknown } | { readonly error: WireError }

const tokens = (text: string) => Responder.tokenCount(text)

const embedding = (modelId: string, body: unknown): Result => {
  if (modelId.startsWith("amazon.titan-embed-text-v2")) {
    const r = decodeTitanV2(body)
    if (r._tag === "Failure") return { error: malformed(body, ["inputText"], Object.keys(TitanV2.fields)) }
    const vector = Responder.embed(r.value.inputText, r.value.dimensions ?? 1024)
    return {
      outputTokens: 0,
      body: { embedding: vector, embeddingsByType: { float: vector }, inputTextTokenCount: tokens(r.value.inputText) }
    }
  }
  if (modelId.startsWith("amazon.titan-embed-image")) {
    const r = decodeTitanImage(body)
    if (r._tag === "Failure") return { error: malformed(body, [], Object.keys(TitanImage.fields)) }
    const text = r.value.inputText ?? r.value.inputImage ?? ""
    const vector = Responder.embed(text, r.value.embeddingConfig?.outputEmbeddingLength ?? 1024)
    return { outputTokens: 0, body: { embedding: vector, inputTextTokenCount: tokens(r.value.inputText ?? "") } }
  }
  if (modelId.startsWith("amazon.titan-embed")) {
    const r = decodeTitanV1(body)
    if (r._tag === "Failure") return { error: malformed(body, ["inputText"], ["inputText"]) }
    const vector = Responder.embed(r.value.inputText, 1536)
    return { outputTokens: 0, body: { embedding: vector, inputTextTokenCount: tokens(r.value.inputText) } }
  }
  if (modelId.startsWith("cohere.embed")) {
    const r = decodeCohere(body)
    if (r._tag === "Failure") return { error: malformed(body, ["texts", "input_type"], Object.keys(Cohere.fields)) }
    const dims = r.value.output_dimension ?? (modelId.startsWith("cohere.embed-v4") ? 1536 : 1024)
    const vectors = r.value.texts.map((t) => Responder.embed(t, dims))
    const id = randomUUID()
    return {
      outputTokens: 0,
      body: r.value.embedding_types !== undefined
        ? { id, embeddings: { float: vectors }, texts: r.value.texts, response_type: "embeddings_by_type" }
        : { id, embeddings: vectors, texts: r.value.texts, response_type: "embeddings_floats" }
    }
  }
  // Other embedding families: accept either common shape.
  const titan = decodeTitanV2(body)
  if (titan._tag === "Success") {
    const vector = Responder.embed(titan.value.inputText, titan.value.dimensions ?? 1024)
    return { outputTokens: 0, body: { embedding: vector, inputTextTokenCount: tokens(titan.value.inputText) } }
  }
  return { error: malformed(body, ["inputText"], Object.keys(TitanV2.fields)) }
}

const toBlocks = (content: unknown): ReadonlyArray<Record<string, unknown>> =>
  typeof content === "string"
    ? [{ text: content }]
    : Array.isArray(content)
    ? content.map((b: Record<string, unknown>) => (b["type"] === "text" ? { text: b["text"] } : b))
    : []

/** A chat model through InvokeModel: Anthropic Messages bodies for `anthropic.*`, Nova-style `messages` otherwise. */
const nativeChat = (resolved: Scenario.Resolved, body: unknown, rand: () => number): Result => {
  const anthropic = resolved.modelId.startsWith("anthropic.")
  const record = typeof body === "object" && body !== null ? body as Record<string, unknown> : {}
  if (!Array.isArray(record["messages"])) {
    return { error: malformed(body, ["messages"], ["messages"]) }
  }
  const system = record["system"]
  const inferenceConfig = record["inferenceConfig"] as Record<string, unknown> | undefined
  const request: ConverseBody = {
    messages: (record["messages"] as Array<Record<string, unknown>>).map((m) => ({
      role: String(m["role"]),
      content: toBlocks(m["content"])
    })),
    system: system === undefined ? undefined : toBlocks(system),
    inferenceConfig: {
      maxTokens: Number(record["max_tokens"] ?? inferenceConfig?.["maxTokens"] ?? 512)
    }
  }
  const answer = Responder.respond(request, resolved.quality, rand)
  const text = answer.content.map((b) => ("text" in b ? b.text : "")).join("")
  return {
    outputTokens: answer.outputTokens,
    body: anthropic
      ? {
        id: `msg_bdrk_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
        type: "message",
        role: "assistant",
        model: resolved.modelId,
        content: [{ type: "text", text }],
        stop_reason: answer.stopReason,
        stop_sequence: null,
        usage: { input_tokens: answer.inputTokens, output_tokens: answer.outputTokens }
      }
      : {
        output: { message: { role: "assistant", content: [{ text }] } },
        stopReason: answer.stopReason,
        usage: usage(answer)
      }
  }
}

const otherModality = wire(400, "ValidationException", "The emulator does not serve this modality through InvokeModel.")

/** Answer an `InvokeModel` or `InvokeModelWithResponseStream` call with a JSON body. */
export const invoke = async (call: Call, op: Operation, body: unknown): Promise<void> => {
  const { ex, rand, resolved, scenario } = call
  const timing = rand("timing")
  const result = resolved.kind === "embedding"
    ? embedding(resolved.modelId, body)
    : resolved.kind === "chat"
    ? nativeChat(resolved, body, rand("answer"))
    : { error: otherModality }
  if ("error" in result) return sendError(ex, result.error)
  const ttft = Timing.ttft(scenario, resolved, timing)
  if (op === "InvokeModel") {
    if (!(await wait(ex, ttft + Timing.tokens(scenario, resolved, result.outputTokens, timing)))) return
    return sendJson(ex, 200, result.body)
  }
  if (!(await wait(ex, ttft)) || !startStream(ex, { "x-amzn-bedrock-content-type": "application/json" })) return
  if (call.midStream !== undefined) {
    ex.errorName = call.midStream.name
    return endStream(ex, scriptedFrame(call.midStream))
  }
  const bytes = Buffer.from(JSON.stringify(result.body)).toString("base64")
  endStream(ex, EventStream.event("chunk", { bytes }))
}
