/**
 * `CountTokens` (`POST /model/{modelId}/count-tokens`): the input tokens a Converse request or an
 * InvokeModel body would be charged, counted as the `Responder` counts `usage.inputTokens`, so the
 * count always equals what the same request then reports. The body (`{"input": {"converse": …}}` or
 * `{"input": {"invokeModel": {"body": <base64>}}}`) is checked like the request it counts — the
 * service model's shapes and Bedrock's conversation rules, or the family's native schema. (The
 * wording for an `input` with neither member was not captured.)
 *
 * Bedrock counts tokens for Anthropic Claude foundation models only; other models and inference
 * profiles get "The provided model doesn't support counting tokens.", document blocks "Document input
 * not supported for token counting" (both captured). The request meets the model's availability and
 * the throttle buckets (in `Runtime`) but none of the inference faults, and it does not move the
 * per-model request counter that seeds the inference requests' fates.
 *
 * @since 0.1.0
 */
import { conversationError, type ConverseBody, shapeError } from "./ConverseHandler.ts"
import { type Exchange, parseJson, sendError, sendJson } from "./Exchange.ts"
import * as InvokeFamilies from "./InvokeFamilies.ts"
import { issues, malformed } from "./NativeSchema.ts"
import * as Responder from "./Responder.ts"
import type * as Scenario from "./Scenario.ts"
import { serialization, wire, type WireError } from "./WireError.ts"

/** Bedrock's messages for what it does not count. */
export const countMessages = {
  unsupportedModel: "The provided model doesn't support counting tokens.",
  documents: "Document input not supported for token counting"
} as const

/** Whether Bedrock counts tokens for this resolved id: Anthropic Claude foundation models, by id or ARN. */
const counts = (resolved: Scenario.Resolved): boolean =>
  resolved.profileId === undefined && resolved.modelId.startsWith("anthropic.claude") && resolved.kind === "chat"

const noInput = wire(
  400,
  "ValidationException",
  "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have exactly one member set"
)

type Counted = { readonly inputTokens: number } | { readonly error: WireError }

const fromConverse = (converse: ConverseBody, resolved: Scenario.Resolved): Counted => {
  const request: ConverseBody = { ...converse, messages: converse.messages ?? [] }
  if (request.messages.some((m) => m.content.some((b) => "document" in b))) {
    return { error: wire(400, "ValidationException", countMessages.documents) }
  }
  const broken = conversationError(request, resolved)
  return broken !== undefined ? { error: broken } : { inputTokens: Responder.inputTokensOf(request) }
}

const fromInvokeModel = (base64: string, resolved: Scenario.Resolved): Counted => {
  const parsed = parseJson(Buffer.from(base64, "base64"))
  if (!parsed.ok) return { error: malformed(["#: subject must be valid JSON"]) }
  const body = parsed.value as Record<string, unknown>
  const family = InvokeFamilies.familyOf(resolved.modelId, body)
  const found = issues(family.schema(body), body)
  if (found.length > 0) return { error: malformed([...(family.preface?.(body) ?? []), ...found]) }
  return { inputTokens: Responder.inputTokensOf(family.request(body)) }
}

/** Answer a `CountTokens` call whose model is offered and admitted. */
export const countTokens = (ex: Exchange, resolved: Scenario.Resolved, raw: Buffer): void => {
  const parsed = parseJson(raw)
  if (!parsed.ok) return sendError(ex, serialization("", "a JSON object"))
  const badShape = shapeError("CountTokensRequest", parsed.value)
  if (badShape !== undefined) return sendError(ex, badShape)
  if (!counts(resolved)) return sendError(ex, wire(400, "ValidationException", countMessages.unsupportedModel))
  const input = (parsed.value as { input: { converse?: ConverseBody; invokeModel?: { body: string } } }).input
  const counted = input.converse !== undefined
    ? fromConverse(input.converse, resolved)
    : input.invokeModel !== undefined
    ? fromInvokeModel(input.invokeModel.body, resolved)
    : { error: noInput }
  if ("error" in counted) return sendError(ex, counted.error)
  sendJson(ex, 200, { inputTokens: counted.inputTokens })
}
