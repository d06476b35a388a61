/**
 * What every runtime request (`Converse`, `ConverseStream`, `InvokeModel`,
 * `InvokeModelWithResponseStream`) meets before its operation's handler, in Bedrock's order: the
 * model's availability in the region, the throttle buckets, then the request's seeded fate — the
 * scripted faults first (a connection reset, a scripted AWS error, a content filter, a model fault:
 * ModelNotReadyException or ModelTimeoutException), then a hold until the client gives up or a 5xx —
 * then the body checks, and finally the handler of its family. A fault marked `midStream` is sent
 * by the streaming handlers as an exception frame after some deltas.
 *
 * The scripted faults draw from their own seeded stream (`scripted`), one draw per knob whether it
 * applies or not, so adding a knob never changes the fates the other knobs and `fate` produce.
 *
 * @since 0.1.0
 */
import * as ApplicationProfiles from "./ApplicationProfiles.ts"
import * as ConverseHandler from "./ConverseHandler.ts"
import * as ConverseStreamHandler from "./ConverseStreamHandler.ts"
import { countTokens } from "./CountTokensHandler.ts"
import { type Call, type Exchange, type Operation, parseJson, resetConnection, sendError, wait } from "./Exchange.ts"
import * as InvokeModelHandler from "./InvokeModelHandler.ts"
import * as Responder from "./Responder.ts"
import * as Scenario from "./Scenario.ts"
import { malformed } from "./NativeSchema.ts"
import type { State } from "./State.ts"
import * as Timing from "./Timing.ts"
import {
  availabilityErrors,
  messages,
  modelNotReady,
  modelTimeout,
  scripted,
  serverErrors,
  throttled,
  wire,
  type WireError
} from "./WireError.ts"

/** The runtime operations (`CountTokens` meets only the availability and throttle checks). */
export const operations: ReadonlySet<Operation> = new Set([
  "Converse",
  "ConverseStream",
  "InvokeModel",
  "InvokeModelWithResponseStream",
  "CountTokens"
])

const streamingOperations: ReadonlySet<Operation> = new Set(["ConverseStream", "InvokeModelWithResponseStream"])

/** The scripted faults drawn for one request. */
interface Faults {
  readonly reset: boolean
  /** The first scripted error, else the first model fault, drawn that applies to this operation. */
  readonly error: Scenario.ScriptedError | undefined
  readonly filter: Scenario.ContentFilter | undefined
}

/** The model faults, in the order they are drawn (after the scripted errors), with Bedrock's errors. */
const modelFaults: ReadonlyArray<{ readonly knob: "modelNotReady" | "modelTimeout"; readonly error: WireError }> = [
  { knob: "modelNotReady", error: modelNotReady },
  { knob: "modelTimeout", error: modelTimeout }
]

const drawFaults = (resolved: Scenario.Resolved, op: Operation, draw: () => number): Faults => {
  const reset = draw() < resolved.connectionReset
  const streaming = streamingOperations.has(op)
  const applies = (midStream: boolean | undefined) => midStream !== true || streaming
  let error: Scenario.ScriptedError | undefined
  for (const candidate of resolved.errors) {
    const hit = draw() < (candidate.rate ?? 1)
    if (hit && error === undefined && applies(candidate.midStream)) error = candidate
  }
  const filter = resolved.contentFilter
  const filtered = draw() < (filter?.rate ?? 1)
  for (const { error: wireError, knob } of modelFaults) {
    const fault = resolved[knob]
    const hit = draw() < (fault?.rate ?? 1)
    if (fault !== undefined && hit && error === undefined && applies(fault.midStream)) {
      const { message, name, status } = wireError
      error = { name, status, message, midStream: fault.midStream === true }
    }
  }
  return { reset, error, filter: filter !== undefined && filtered ? filter : undefined }
}

/** Bedrock's guardrail stock answer for blocked content. */
export const blockedMessage = "Sorry, the model cannot answer this question."

const blocked = (answer: Responder.Answer, filter: Scenario.ContentFilter): Responder.Answer => {
  const text = filter.message ?? blockedMessage
  return {
    content: [{ text }],
    stopReason: filter.stopReason,
    inputTokens: answer.inputTokens,
    outputTokens: Math.max(1, Responder.tokenCount(text))
  }
}

/** Answer a runtime request for `requestedId` (base id, profile id or ARN) with its raw body. */
export const handle = async (
  ex: Exchange,
  state: State,
  op: Operation,
  requestedId: string,
  body: Buffer
): Promise<void> => {
  const scenario = state.scenario()
  // An application profile's ARN reaches the model or system profile it copies from.
  const application = ApplicationProfiles.isArn(requestedId) ? state.profiles().get(ex.region, requestedId) : undefined
  const resolved = Scenario.resolve(scenario, ex.region, application?.source ?? requestedId)
  if (resolved.availability !== "offered") {
    return sendError(ex, availabilityErrors[resolved.availability](requestedId))
  }
  // A scenario lifecycle with an end-of-life time (issue #13): past it, the model answers as EOL.
  const eolAt = resolved.lifecycle?.endOfLifeTime === undefined ? NaN : Date.parse(resolved.lifecycle.endOfLifeTime)
  if (ex.clock.currentTimeMillisUnsafe() >= eolAt) return sendError(ex, availabilityErrors.eol(requestedId))
  if (!state.admit(ex.region, resolved)) return sendError(ex, throttled)
  if (op === "CountTokens") return countTokens(ex, resolved, body)
  const n = state.nextCount(ex.region, resolved.modelId)
  const rand = (stream: string) => Scenario.random(scenario.seed, ex.region, resolved.modelId, n, stream)
  const faults = drawFaults(resolved, op, rand("scripted"))
  if (faults.reset) return resetConnection(ex)
  if (faults.error !== undefined && faults.error.midStream !== true) {
    // A model that times out does so after it started working: the 408 comes after its time to first token.
    const busy = faults.error.name === modelTimeout.name ? Timing.ttft(scenario, resolved, rand("fault-timing")) : 0
    if (!(await wait(ex, busy))) return
    return sendError(ex, scripted(faults.error))
  }
  const call: Call = { ex, scenario, resolved, rand, midStream: faults.error }
  const fate = rand("fate")
  const timeoutDraw = fate()
  const errorDraw = fate()
  const errorKind = fate()
  if (timeoutDraw < resolved.timeoutRate) return // held until the client gives up
  if (errorDraw < resolved.errorRate5xx) return sendError(ex, serverErrors[errorKind < 0.5 ? 0 : 1])
  const parsed = parseJson(body)
  if (op === "InvokeModel" || op === "InvokeModelWithResponseStream") {
    if (!parsed.ok) return sendError(ex, malformed(["#: subject must be valid JSON"]))
    return InvokeModelHandler.invoke(call, op, parsed.value)
  }
  if (resolved.kind !== "chat") return sendError(ex, wire(400, "ValidationException", messages.notChatModel))
  const streaming = op === "ConverseStream"
  const decoded = ConverseHandler.decode(parsed, resolved, streaming)
  if ("error" in decoded) return sendError(ex, decoded.error)
  const answered = Responder.respond(decoded.request, resolved.quality, rand("answer"))
  const answer = faults.filter === undefined ? answered : blocked(answered, faults.filter)
  const timing = rand("timing")
  return streaming
    ? ConverseStreamHandler.converseStream(call, answer, timing)
    : ConverseHandler.converse(call, answer, timing)
}
