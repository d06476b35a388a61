/**
 * The runtime JSON family: `Converse`. Checks the request body as Bedrock does, in its order — the
 * service model's constraints (`ShapeCheck`, every violation in one ValidationException), then the
 * conversation rules (starts with a user turn, roles alternate, no blank text, tool blocks need a
 * `toolConfig`, `maxTokens` within the model's limit), then the model's capabilities — and answers
 * with the `Responder`'s answer after the sampled latency. The streaming variant
 * (`ConverseStreamHandler`) and `CountTokens` share the checks.
 *
 * @since 0.1.0
 */
import { type Call, sendJson, wait } from "./Exchange.ts"
import * as Responder from "./Responder.ts"
import type * as Scenario from "./Scenario.ts"
import * as ShapeCheck from "./ShapeCheck.ts"
import * as Timing from "./Timing.ts"
import { messages, serialization, wire, type WireError } from "./WireError.ts"

/** The parts of a Converse body the emulator reads. */
export interface ConverseBody extends Responder.ConverseLikeRequest {}

const hasTools = (r: ConverseBody): boolean => (r.toolConfig?.tools?.length ?? 0) > 0
const hasBlock = (r: ConverseBody, key: string): boolean =>
  r.messages.some((m) => m.content.some((block) => key in block))

/**
 * Capability checks, in Bedrock's order: a request using a feature the model lacks (capability
 * `"no"`) gets the ValidationException with this message. The streaming and document wordings
 * follow the pattern of the captured ones; they were not captured verbatim.
 */
export const capabilityChecks: ReadonlyArray<{
  readonly capability: Scenario.Capability
  readonly applies: (request: ConverseBody, streaming: boolean) => boolean
  readonly message: string
}> = [
  { capability: "streaming", applies: (_, streaming) => streaming, message: "This model doesn't support streaming." },
  {
    capability: "systemPrompt",
    applies: (r) => (r.system?.length ?? 0) > 0,
    message:
      "This model doesn't support system messages. Try again without a system message or use a model that supports system messages."
  },
  { capability: "toolUse", applies: (r) => hasTools(r), message: "This model doesn't support tool use." },
  {
    capability: "streamingToolUse",
    applies: (r, streaming) => streaming && hasTools(r),
    message: "This model doesn't support tool use in streaming mode."
  },
  {
    capability: "vision",
    applies: (r) => hasBlock(r, "image"),
    message: "This model doesn't support the image field for user messages. Remove image and try again."
  },
  {
    capability: "documents",
    applies: (r) => hasBlock(r, "document"),
    message: "This model doesn't support the document field for user messages. Remove document and try again."
  }
]

/** A content block's place in the request as Bedrock's own (0-based) checks name it. */
const at = (i: number, j?: number) => (j === undefined ? `messages.${i}` : `messages.${i}.content.${j}`)

const isToolBlock = (block: Record<string, unknown>) => "toolUse" in block || "toolResult" in block

/**
 * Bedrock's own checks of a shape-valid conversation, in its order; the first that fails answers.
 * The wordings are the captured ones (see the reference error catalogue).
 */
const conversationRules: ReadonlyArray<(r: ConverseBody, resolved: Scenario.Resolved) => string | undefined> = [
  (r) => (r.messages.length === 0 || r.messages[0]!.role !== "user" ? messages.userFirst : undefined),
  (r) => (r.messages.some((m, i) => i > 0 && r.messages[i - 1]!.role === m.role) ? messages.alternate : undefined),
  (r) => {
    for (const [i, m] of r.messages.entries()) {
      const j = m.content.findIndex((b) => typeof b["text"] === "string" && b["text"].trim() === "")
      if (j >= 0) return messages.blankText(at(i, j))
    }
    return undefined
  },
  (r) =>
    r.toolConfig === undefined && r.messages.some((m) => m.content.some(isToolBlock))
      ? messages.toolConfigRequired
      : undefined,
  (r) => {
    const i = r.messages.findIndex((m) =>
      m.content.some((b) => "toolResult" in b) && m.content.some((b) => !("toolResult" in b) && !("cachePoint" in b))
    )
    return i >= 0 ? messages.toolResultMixed(`${at(i)}.content`) : undefined
  },
  (r, resolved) => {
    const limit = resolved.info?.maxOutputTokens
    const asked = r.inferenceConfig?.maxTokens
    return limit != null && asked !== undefined && asked > limit ? messages.maxTokensExceeded(limit) : undefined
  }
]

/** The ValidationException (or SerializationException) of a body that breaks the runtime input shape `name`. */
export const shapeError = (name: string, value: unknown): WireError | undefined => {
  const checked = ShapeCheck.check("runtime", name, value)
  if (checked._tag === "serialization") return serialization(checked.path, checked.expected)
  if (checked._tag === "invalid") return wire(400, "ValidationException", ShapeCheck.message(checked.violations))
  return undefined
}

/** The first of Bedrock's conversation rules a shape-valid request breaks, as its ValidationException. */
export const conversationError = (request: ConverseBody, resolved: Scenario.Resolved): WireError | undefined => {
  for (const rule of conversationRules) {
    const broken = rule(request, resolved)
    if (broken !== undefined) return wire(400, "ValidationException", broken)
  }
  return undefined
}

/**
 * The decoded Converse body, or the error Bedrock answers for this request: the service model's
 * constraints first (every violation in one ValidationException), then Bedrock's conversation rules,
 * then the model's capabilities.
 */
export const decode = (
  parsed: { readonly ok: true; readonly value: unknown } | { readonly ok: false },
  resolved: Scenario.Resolved,
  streaming: boolean
): { readonly request: ConverseBody } | { readonly error: WireError } => {
  if (!parsed.ok) return { error: serialization("", "a JSON object") }
  const badShape = shapeError(streaming ? "ConverseStreamRequest" : "ConverseRequest", parsed.value)
  if (badShape !== undefined) return { error: badShape }
  const body = parsed.value as Partial<ConverseBody>
  const request: ConverseBody = { ...body, messages: body.messages ?? [] }
  const broken = conversationError(request, resolved)
  if (broken !== undefined) return { error: broken }
  const failed = capabilityChecks.find((c) =>
    resolved.capabilities[c.capability] === "no" && c.applies(request, streaming)
  )
  return failed === undefined ? { request } : { error: wire(400, "ValidationException", failed.message) }
}

/** Converse's `usage` member. */
export const usage = (answer: Responder.Answer) => ({
  inputTokens: answer.inputTokens,
  outputTokens: answer.outputTokens,
  totalTokens: answer.inputTokens + answer.outputTokens
})

/** Answer a `Converse` call: the whole answer after TTFT plus the time its tokens take. */
export const converse = async (call: Call, answer: Responder.Answer, timing: () => number): Promise<void> => {
  const { ex, resolved, scenario } = call
  const delay = Timing.ttft(scenario, resolved, timing) + Timing.tokens(scenario, resolved, answer.outputTokens, timing)
  if (!(await wait(ex, delay))) return
  sendJson(ex, 200, {
    output: { message: { role: "assistant", content: answer.content } },
    stopReason: answer.stopReason,
    usage: usage(answer),
    metrics: { latencyMs: Math.round(performance.now() - ex.started) }
  })
}
