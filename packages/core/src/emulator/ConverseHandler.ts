/**
 * The runtime JSON family: `Converse`. Decodes the request body, applies Bedrock's checks in its
 * order (a conversation starts with a user turn; a feature the model lacks is a ValidationException
 * with Bedrock's wording), and answers with the `Responder`'s answer after the sampled latency.
 * The streaming variant (`ConverseStreamHandler`) shares the decoding and the checks.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { type Call, sendJson, wait } from "./Exchange.ts"
import * as Responder from "./Responder.ts"
import type * as Scenario from "./Scenario.ts"
import * as Timing from "./Timing.ts"
import { wire, type WireError } from "./WireError.ts"

/** The parts of a Converse body the emulator reads. */
export interface ConverseBody extends Responder.ConverseLikeRequest {}

const ContentBlock = Schema.Record(Schema.String, Schema.Unknown)
const ConverseRequest = Schema.Struct({
  messages: Schema.Array(Schema.Struct({ role: Schema.String, content: Schema.Array(ContentBlock) })),
  system: Schema.optionalKey(Schema.Array(ContentBlock)),
  inferenceConfig: Schema.optionalKey(Schema.Struct({
    maxTokens: Schema.optionalKey(Schema.Number),
    temperature: Schema.optionalKey(Schema.Number),
    topP: Schema.optionalKey(Schema.Number),
    stopSequences: Schema.optionalKey(Schema.Array(Schema.String))
  })),
  toolConfig: Schema.optionalKey(Schema.Struct({
    tools: Schema.optionalKey(Schema.Array(ContentBlock)),
    toolChoice: Schema.optionalKey(ContentBlock)
  }))
})
const decodeConverse = Schema.decodeUnknownExit(ConverseRequest)

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

const badBody = wire(
  400,
  "ValidationException",
  "1 validation error detected: the request body does not match ConverseRequest"
)
const userFirst = wire(
  400,
  "ValidationException",
  "A conversation must start with a user message. Try again with a conversation that starts with a user message."
)

/** The decoded Converse body, or the ValidationException Bedrock answers for this request. */
export const decode = (
  parsed: { readonly ok: true; readonly value: unknown } | { readonly ok: false },
  resolved: Scenario.Resolved,
  streaming: boolean
): { readonly request: ConverseBody } | { readonly error: WireError } => {
  const decoded = parsed.ok ? decodeConverse(parsed.value) : undefined
  if (decoded === undefined || decoded._tag === "Failure") return { error: badBody }
  const request = decoded.value
  if (request.messages.length === 0 || request.messages[0]!.role !== "user") return { error: userFirst }
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
