/**
 * What every runtime request (`Converse`, `ConverseStream`, `InvokeModel`,
 * `InvokeModelWithResponseStream`) meets before its operation's handler, in Bedrock's order: the
 * model's availability in the region, the throttle buckets, then the request's seeded fate (held
 * until the client gives up, or a 5xx), then the body checks — and finally the handler of its family.
 *
 * @since 0.1.0
 */
import * as ConverseHandler from "./ConverseHandler.ts"
import * as ConverseStreamHandler from "./ConverseStreamHandler.ts"
import { type Call, type Exchange, type Operation, parseJson, sendError } from "./Exchange.ts"
import * as InvokeModelHandler from "./InvokeModelHandler.ts"
import * as Responder from "./Responder.ts"
import * as Scenario from "./Scenario.ts"
import type { State } from "./State.ts"
import { availabilityErrors, malformed, messages, serverErrors, throttled, wire } from "./WireError.ts"

/** The runtime operations. */
export const operations: ReadonlySet<Operation> = new Set([
  "Converse",
  "ConverseStream",
  "InvokeModel",
  "InvokeModelWithResponseStream"
])

/** Answer a runtime request for `requestedId` (base id, profile id or ARN) with its raw body. */
export const handle = async (
  ex: Exchange,
  state: State,
  op: Operation,
  requestedId: string,
  body: Buffer
): Promise<void> => {
  const scenario = state.scenario()
  const resolved = Scenario.resolve(scenario, ex.region, requestedId)
  if (resolved.availability !== "offered") {
    return sendError(ex, availabilityErrors[resolved.availability](requestedId))
  }
  if (!state.admit(ex.region, resolved)) return sendError(ex, throttled)
  const n = state.nextCount(ex.region, resolved.modelId)
  const rand = (stream: string) => Scenario.random(scenario.seed, ex.region, resolved.modelId, n, stream)
  const call: Call = { ex, scenario, resolved, rand }
  const fate = rand("fate")
  const timeoutDraw = fate()
  const errorDraw = fate()
  const errorKind = fate()
  if (timeoutDraw < resolved.timeoutRate) return // held until the client gives up
  if (errorDraw < resolved.errorRate5xx) return sendError(ex, serverErrors[errorKind < 0.5 ? 0 : 1])
  const parsed = parseJson(body)
  if (op === "InvokeModel" || op === "InvokeModelWithResponseStream") {
    if (!parsed.ok) return sendError(ex, malformed(undefined, [], []))
    return InvokeModelHandler.invoke(call, op, parsed.value)
  }
  if (resolved.kind !== "chat") return sendError(ex, wire(400, "ValidationException", messages.notChatModel))
  const streaming = op === "ConverseStream"
  const decoded = ConverseHandler.decode(parsed, resolved, streaming)
  if ("error" in decoded) return sendError(ex, decoded.error)
  const answer = Responder.respond(decoded.request, resolved.quality, rand("answer"))
  const timing = rand("timing")
  return streaming
    ? ConverseStreamHandler.converseStream(call, answer, timing)
    : ConverseHandler.converse(call, answer, timing)
}
