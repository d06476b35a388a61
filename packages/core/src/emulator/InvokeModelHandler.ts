/**
 * The InvokeModel family: `InvokeModel` and `InvokeModelWithResponseStream` with each model family's
 * native body. The body is checked against its family's schema (`InvokeFamilies` for chat models,
 * `Embeddings` for embedding models) and a misfit gets Bedrock's "Malformed input request" wording;
 * a valid body is answered in the family's format after the sampled latency. The streaming variant
 * sends the family's native events, one base64 `chunk` frame each, paced per token, the last one
 * carrying `amazon-bedrock-invocationMetrics`; like `ConverseStream`, a scenario can break it after
 * some deltas with an exception frame. Embedding models do not stream (Bedrock's "The model is
 * unsupported for streaming.").
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { breakPoint, breakStream, jsonDeltas, textDeltas } from "./ConverseStreamHandler.ts"
import * as Embeddings from "./Embeddings.ts"
import * as EventStream from "./EventStream.ts"
import { type Call, endStream, type Operation, sendError, sendJson, startStream, wait } from "./Exchange.ts"
import * as InvokeFamilies from "./InvokeFamilies.ts"
import { issues, malformed } from "./NativeSchema.ts"
import * as Responder from "./Responder.ts"
import * as Timing from "./Timing.ts"
import { messages, wire } from "./WireError.ts"

const otherModality = wire(400, "ValidationException", "The emulator does not serve this modality through InvokeModel.")
const unsupportedStreaming = wire(400, "ValidationException", messages.unsupportedStreaming)

const notAnObject = (body: unknown) => typeof body !== "object" || body === null || Array.isArray(body)

const chunk = (body: unknown): Uint8Array =>
  EventStream.event("chunk", { bytes: Buffer.from(JSON.stringify(body)).toString("base64") })

/** Answer an embedding model's `InvokeModel` call. */
const embed = async (call: Call, body: unknown): Promise<void> => {
  const { ex, rand, resolved, scenario } = call
  const family = Embeddings.familyOf(resolved.modelId)
  const found = issues(family.schema, body)
  if (found.length > 0) return sendError(ex, malformed(found))
  if (!(await wait(ex, Timing.ttft(scenario, resolved, rand("timing"))))) return
  sendJson(ex, 200, family.answer(body as Record<string, unknown>, resolved.modelId))
}

/** Send a family's stream parts, paced per delta and breakable like ConverseStream. */
const streamParts = async (
  call: Call,
  parts: ReadonlyArray<InvokeFamilies.Part>,
  answer: Responder.Answer,
  timing: () => number
): Promise<void> => {
  const { ex, resolved, scenario } = call
  const deltas = parts.filter((p) => p.tokens > 0).length
  const lastDelta = parts.findLastIndex((p) => p.tokens > 0)
  const breakAfter = breakPoint(call, deltas)
  const firstByte = Math.round(performance.now() - ex.started)
  let sent = 0
  for (const [i, part] of parts.entries()) {
    const closing = part.tokens > 0 || i > lastDelta
    if (breakAfter !== undefined && sent >= breakAfter && closing) return breakStream(ex, call)
    if (i === parts.length - 1) {
      const metrics = {
        inputTokenCount: answer.inputTokens,
        outputTokenCount: answer.outputTokens,
        invocationLatency: Math.round(performance.now() - ex.started),
        firstByteLatency: firstByte
      }
      return endStream(ex, chunk({ ...part.body, "amazon-bedrock-invocationMetrics": metrics }))
    }
    ex.res.write(chunk(part.body))
    if (part.tokens > 0) {
      sent++
      if (!(await wait(ex, Timing.tokens(scenario, resolved, part.tokens, timing)))) return
    }
  }
}

const streamingOps: ReadonlySet<Operation> = new Set(["InvokeModelWithResponseStream"])

/** Answer an `InvokeModel` or `InvokeModelWithResponseStream` call with its raw JSON body. */
export const invoke = async (call: Call, op: Operation, body: unknown): Promise<void> => {
  const { ex, rand, resolved, scenario } = call
  const streaming = streamingOps.has(op)
  if (resolved.kind === "embedding") return streaming ? sendError(ex, unsupportedStreaming) : embed(call, body)
  if (resolved.kind !== "chat") return sendError(ex, otherModality)
  if (notAnObject(body)) return sendError(ex, malformed(issues({ type: "object" }, body)))
  const record = body as Record<string, unknown>
  const family = InvokeFamilies.familyOf(resolved.modelId, record)
  const found = issues(family.schema(record), record)
  if (found.length > 0) return sendError(ex, malformed([...(family.preface?.(record) ?? []), ...found]))
  const answer = Responder.respond(family.request(record), resolved.quality, rand("answer"))
  const context: InvokeFamilies.AnswerContext = {
    modelId: resolved.modelId,
    id: randomUUID(),
    created: Math.floor(ex.clock.currentTimeMillisUnsafe() / 1000),
    textDeltas,
    jsonDeltas
  }
  const timing = rand("timing")
  const ttft = Timing.ttft(scenario, resolved, timing)
  if (!streaming) {
    if (!(await wait(ex, ttft + Timing.tokens(scenario, resolved, answer.outputTokens, timing)))) return
    return sendJson(ex, 200, family.answer(answer, context))
  }
  if (!(await wait(ex, ttft)) || !startStream(ex, { "x-amzn-bedrock-content-type": "application/json" })) return
  return streamParts(call, family.stream(answer, context), answer, timing)
}
