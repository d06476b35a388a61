/**
 * A local Bedrock: a real HTTP server on 127.0.0.1 that the unmodified AWS SDK clients talk to.
 *
 * It serves the runtime (`Converse`, `ConverseStream`, `InvokeModel` for Titan and Cohere
 * embeddings and native chat bodies, `InvokeModelWithResponseStream`) and the control-plane list
 * calls (`ListFoundationModels`, `GetFoundationModel`, `ListInferenceProfiles`,
 * `GetInferenceProfile`), with Bedrock's wire formats: `x-amzn-ErrorType` errors with the real
 * messages, event-stream frames with CRCs and mid-stream exception frames. One port speaks both
 * h2c (the runtime client's default `NodeHttp2Handler`) and HTTP/1.1 (`NodeHttpHandler`, the
 * control-plane client): each connection's first bytes decide. The region comes from the SigV4
 * credential scope, so one emulator plays every region. What each (region, model) does is the
 * {@link Scenario}; answers come from the generic `Responder`, never from the certification suite.
 *
 * Plain Node users call {@link start}; Effect users {@link make} (scoped) or {@link layer}.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { geographiesOf, type Region } from "../Region.ts"
import * as EventStream from "./EventStream.ts"
import * as Responder from "./Responder.ts"
import * as Scenario from "./Scenario.ts"

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/** The operations the emulator serves. */
export type Operation =
  | "Converse"
  | "ConverseStream"
  | "InvokeModel"
  | "InvokeModelWithResponseStream"
  | "ListFoundationModels"
  | "GetFoundationModel"
  | "ListInferenceProfiles"
  | "GetInferenceProfile"
  | "Unknown"

/** One request as the emulator saw it (for tests and benchmarks; the runner never reads this). */
export interface RequestRecord {
  /** Arrival time, epoch ms. */
  readonly at: number
  readonly region: string
  /** The model id as requested (base id, profile id or ARN), when the route names one. */
  readonly modelId: string | undefined
  readonly operation: Operation
  /** HTTP status sent; 0 when the client went away before any response. */
  readonly status: number
  /** The error name (HTTP error or mid-stream exception type), if any. */
  readonly errorName: string | undefined
  readonly requestId: string
  /** The client closed the connection or stream before the response was complete. */
  readonly closedByClient: boolean
  readonly durationMs: number
}

/** A running emulator. */
export interface EmulatorHandle {
  /** `http://127.0.0.1:<port>`: give it to the SDK client as `endpoint`. */
  readonly url: string
  readonly port: number
  /** Every finished request so far, oldest first. */
  readonly requests: () => ReadonlyArray<RequestRecord>
  /** Requests in flight server-side. */
  readonly activeRequests: () => number
  /** Forget the log, the per-(region, model) request counters and the throttle buckets. */
  readonly reset: () => void
  /** Replace the scenario (also resets counters and buckets); throws on an invalid document. */
  readonly setScenario: (scenario: Scenario.ScenarioInput | Scenario.Scenario) => void
  /** The scenario in force. */
  readonly scenario: () => Scenario.Scenario
  /** Stop listening and drop every open connection (held requests included). */
  readonly close: () => Promise<void>
}

/** Options of {@link start}. */
export interface Options {
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number | undefined
  /** Interface to bind; default `127.0.0.1`. */
  readonly host?: string | undefined
  /** The scenario (document or compiled); default {@link Scenario.defaultScenario}. */
  readonly scenario?: Scenario.ScenarioInput | Scenario.Scenario | undefined
  /** Region for requests without a SigV4 credential scope (bearer tokens); default `us-east-1`. */
  readonly defaultRegion?: string | undefined
  /** How many request records `requests()` keeps (the newest); default 100 000, so long benchmarks stay bounded. */
  readonly maxLogEntries?: number | undefined
}

/** The emulator could not start (bad scenario, port in use, …). */
export class EmulatorError extends Schema.TaggedError<EmulatorError>()("EmulatorError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** The emulator as an Effect service. */
export class BedrockEmulator extends Context.Service<BedrockEmulator, EmulatorHandle>()(
  "@myia/certification/BedrockEmulator"
) {}

// ---------------------------------------------------------------------------------------------
// Error table
// ---------------------------------------------------------------------------------------------

/** An error as Bedrock sends it: status, `x-amzn-ErrorType` name, body message (and extra members). */
export interface WireError {
  readonly status: number
  readonly name: string
  readonly message: string
  readonly extra?: Readonly<Record<string, unknown>> | undefined
}

const wire = (status: number, name: string, message: string): WireError => ({ status, name, message })

/** Bedrock's own messages, verbatim (see the reference error catalogue). */
export const messages = {
  invalidModel: "The provided model identifier is invalid.",
  accessDenied: "You don't have access to the model with the specified model ID.",
  marketplace:
    "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon Bedrock documentation for further details. Your AWS Marketplace subscription for this model cannot be completed at this time. If you recently fixed this issue, try again after 5 minutes.",
  profileOnly: (modelId: string) =>
    `Invocation of model ID ${modelId} with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`,
  legacy:
    "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 30 days. Please upgrade to an active model on Amazon Bedrock",
  eol: "This model version has reached the end of its life. Please refer to the AWS documentation for more details.",
  throttled: "Too many requests, please wait before trying again.",
  internal: "The system encountered an unexpected error during processing. Try your request again.",
  unavailable: "Bedrock is unable to process your request.",
  streamError: "An error occurred while streaming the response. Retry your request.",
  notChatModel: "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
  invalidToken: "The security token included in the request is invalid.",
  expiredToken: "The security token included in the request is expired",
  missingToken: "Missing Authentication Token"
} as const

/** The error each non-offered availability answers with. */
export const availabilityErrors: Record<Exclude<Scenario.Availability, "offered">, (modelId: string) => WireError> = {
  "not-offered": () => wire(400, "ValidationException", messages.invalidModel),
  "access-denied": () => wire(403, "AccessDeniedException", messages.accessDenied),
  "marketplace-pending": () => wire(403, "AccessDeniedException", messages.marketplace),
  "profile-only": (modelId) => wire(400, "ValidationException", messages.profileOnly(modelId)),
  legacy: () => wire(404, "ResourceNotFoundException", messages.legacy),
  eol: () => wire(404, "ResourceNotFoundException", messages.eol)
}

/** Access keys that trigger credential errors: a key id containing the marker gets the error. */
export const credentialErrors: ReadonlyArray<{ readonly marker: string; readonly error: WireError }> = [
  { marker: "INVALID", error: wire(403, "UnrecognizedClientException", messages.invalidToken) },
  { marker: "EXPIRED", error: wire(403, "ExpiredTokenException", messages.expiredToken) }
]

interface ConverseBody extends Responder.ConverseLikeRequest {}

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

const hasTools = (r: ConverseBody): boolean => (r.toolConfig?.tools?.length ?? 0) > 0
const hasBlock = (r: ConverseBody, key: string): boolean =>
  r.messages.some((m) => m.content.some((block) => key in block))

/** The body of each mid-stream exception type. */
export const streamExceptions: Record<Scenario.StreamException, Readonly<Record<string, unknown>>> = {
  modelStreamErrorException: {
    message: messages.streamError,
    originalStatusCode: 500,
    originalMessage: "stream interrupted"
  },
  throttlingException: { message: messages.throttled },
  internalServerException: { message: messages.internal },
  serviceUnavailableException: { message: messages.unavailable },
  validationException: { message: "The model returned the following errors: the stream was interrupted" }
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

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

/**
 * Bedrock's "Malformed input request" wording for a body that does not fit the model's schema:
 * the first missing or extraneous key, else a generic note.
 */
const malformed = (body: unknown, required: ReadonlyArray<string>, allowed: ReadonlyArray<string>): WireError => {
  const keys = typeof body === "object" && body !== null && !Array.isArray(body) ? Object.keys(body) : []
  const missing = required.find((k) => !keys.includes(k))
  const extra = keys.find((k) => !allowed.includes(k))
  const issue = missing !== undefined
    ? `#: required key [${missing}] not found`
    : extra !== undefined
    ? `#: extraneous key [${extra}] is not permitted`
    : "#: subject must be valid against the model's schema"
  const message = `Malformed input request: ${issue}, please reformat your input and try again.`
  return wire(400, "ValidationException", message)
}

// ---------------------------------------------------------------------------------------------
// Server internals
// ---------------------------------------------------------------------------------------------

type Headers = Record<string, string | ReadonlyArray<string> | undefined>

interface Req {
  readonly method?: string | undefined
  readonly url?: string | undefined
  readonly headers: Headers
  on(event: "data", listener: (chunk: Buffer) => void): unknown
  on(event: "end" | "close", listener: () => void): unknown
  on(event: "error", listener: (error: Error) => void): unknown
}

interface Res {
  writeHead(status: number, headers: Record<string, string>): unknown
  write(chunk: Uint8Array | string): boolean
  end(chunk?: Uint8Array | string): unknown
  on(event: "close", listener: () => void): unknown
}

interface Exchange {
  readonly req: Req
  readonly res: Res
  readonly requestId: string
  readonly at: number
  readonly started: number
  region: string
  modelId: string | undefined
  operation: Operation
  status: number
  errorName: string | undefined
  headersSent: boolean
  ended: boolean
  closed: boolean
  readonly timers: Set<NodeJS.Timeout>
  readonly wakers: Set<() => void>
}

const ACCOUNT = "123456789012"
const CREATED_AT = "2024-01-01T00:00:00.000Z"
const MAX_BODY = 25_000_000

const header = (headers: Headers, name: string): string | undefined => {
  const v = headers[name]
  return typeof v === "string" ? v : v?.[0]
}

const baseHeaders = (ex: Exchange): Record<string, string> => ({
  "x-amzn-RequestId": ex.requestId,
  date: new Date().toUTCString()
})

const sendJson = (ex: Exchange, status: number, body: unknown, extra: Record<string, string> = {}): void => {
  if (ex.closed || ex.headersSent) return
  ex.status = status
  ex.headersSent = true
  ex.ended = true
  ex.res.writeHead(status, { ...baseHeaders(ex), "content-type": "application/json", ...extra })
  ex.res.end(JSON.stringify(body))
}

const sendError = (ex: Exchange, error: WireError): void => {
  ex.errorName = error.name
  sendJson(ex, error.status, { message: error.message, ...error.extra }, {
    "x-amzn-ErrorType": `${error.name}:http://internal.amazon.com/coral/com.amazon.bedrock/`
  })
}

/** Wait `ms`, or less if the client goes away; resolves false when it did. */
const wait = (ex: Exchange, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (ex.closed) return resolve(false)
    if (ms <= 0) return resolve(true)
    const done = (ok: boolean) => {
      clearTimeout(timer)
      ex.timers.delete(timer)
      ex.wakers.delete(wake)
      resolve(ok)
    }
    const wake = () => done(false)
    const timer = setTimeout(() => done(true), ms)
    ex.timers.add(timer)
    ex.wakers.add(wake)
  })

const readBody = (req: Req): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk) => {
      size += chunk.length
      if (size <= MAX_BODY) chunks.push(chunk)
    })
    req.on("end", () => resolve(Buffer.concat(chunks)))
    req.on("error", reject)
  })

const decodeJson = Schema.decodeUnknownExit(Schema.fromJsonString(Schema.Unknown))

const parseJson = (bytes: Buffer): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  const text = bytes.toString("utf8")
  if (text.trim() === "") return { ok: true, value: {} }
  const result = decodeJson(text)
  return result._tag === "Success" ? { ok: true, value: result.value } : { ok: false }
}

/** Split text into streaming deltas of about two words; the deltas concatenate to the text exactly. */
export const textDeltas = (text: string): ReadonlyArray<string> => {
  const words = text.match(/\s*\S+/g) ?? []
  const out: Array<string> = []
  for (let i = 0; i < words.length; i += 2) out.push(words.slice(i, i + 2).join(""))
  const covered = out.join("").length
  if (covered < text.length) {
    if (out.length === 0) out.push(text.slice(covered))
    else out[out.length - 1] += text.slice(covered)
  }
  return out.length === 0 ? [""] : out
}

const jsonDeltas = (json: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (let i = 0; i < json.length; i += 12) out.push(json.slice(i, i + 12))
  return out.length === 0 ? [""] : out
}

const isCompiled = (s: Scenario.ScenarioInput | Scenario.Scenario): s is Scenario.Scenario =>
  "models" in s && s.models instanceof Map

const compile = (s: Scenario.ScenarioInput | Scenario.Scenario | undefined): Scenario.Scenario =>
  s === undefined ? Scenario.defaultScenario() : isCompiled(s) ? s : Scenario.make(s)

const providerOf = (id: string): string => {
  const vendor = id.split(".")[0] ?? id
  return vendor.charAt(0).toUpperCase() + vendor.slice(1)
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/** Start an emulator; resolves once it listens. */
export const start = async (options: Options = {}): Promise<EmulatorHandle> => {
  let scenario = compile(options.scenario)
  const defaultRegion = options.defaultRegion ?? "us-east-1"
  const maxLogEntries = Math.max(1, options.maxLogEntries ?? 100_000)
  let log: Array<RequestRecord> = []
  let logGeneration = 0
  let counters = new Map<string, number>()
  let buckets = new Map<string, Scenario.TokenBucket>()
  let active = 0
  const sockets = new Set<net.Socket>()

  const resetState = () => {
    log = []
    logGeneration++
    counters = new Map()
    buckets = new Map()
  }

  const nextCount = (region: string, modelId: string): number => {
    const key = `${region}\u0000${modelId}`
    const n = counters.get(key) ?? 0
    counters.set(key, n + 1)
    return n
  }

  const take = (key: string, throttle: Scenario.Throttle | undefined, now: number): boolean => {
    if (throttle === undefined) return true
    let bucket = buckets.get(key)
    if (bucket === undefined || bucket.throttle !== throttle) {
      bucket = new Scenario.TokenBucket(throttle, now)
      buckets.set(key, bucket)
    }
    return bucket.take(now)
  }

  const admit = (region: string, resolved: Scenario.Resolved): boolean => {
    const now = performance.now()
    const perRegion = scenario.document.regionThrottle?.[region] ?? scenario.document.regionThrottle?.["*"]
    return take(`region\u0000${region}`, perRegion, now) &&
      take(`model\u0000${region}\u0000${resolved.modelId}`, resolved.throttle, now)
  }

  // -- runtime -------------------------------------------------------------------------------

  const runtime = async (ex: Exchange, op: Operation, requestedId: string, body: Buffer): Promise<void> => {
    const resolved = Scenario.resolve(scenario, ex.region, requestedId)
    if (resolved.availability !== "offered") {
      return sendError(ex, availabilityErrors[resolved.availability](requestedId))
    }
    if (!admit(ex.region, resolved)) return sendError(ex, wire(429, "ThrottlingException", messages.throttled))
    const n = nextCount(ex.region, resolved.modelId)
    const rand = (stream: string) => Scenario.random(scenario.seed, ex.region, resolved.modelId, n, stream)
    const fate = rand("fate")
    const timeoutDraw = fate()
    const errorDraw = fate()
    const errorKind = fate()
    if (timeoutDraw < resolved.timeoutRate) return // held until the client gives up
    if (errorDraw < resolved.errorRate5xx) {
      return sendError(
        ex,
        errorKind < 0.5
          ? wire(500, "InternalServerException", messages.internal)
          : wire(503, "ServiceUnavailableException", messages.unavailable)
      )
    }
    const parsed = parseJson(body)
    if (op === "InvokeModel" || op === "InvokeModelWithResponseStream") {
      if (!parsed.ok) return sendError(ex, malformed(undefined, [], []))
      return invoke(ex, op, resolved, parsed.value, rand)
    }
    if (resolved.kind !== "chat") return sendError(ex, wire(400, "ValidationException", messages.notChatModel))
    const request = parsed.ok ? decodeConverse(parsed.value) : undefined
    if (request === undefined || request._tag === "Failure") {
      const message = "1 validation error detected: the request body does not match ConverseRequest"
      return sendError(ex, wire(400, "ValidationException", message))
    }
    const streaming = op === "ConverseStream"
    const check = validateConverse(request.value, resolved, streaming)
    if (check !== undefined) return sendError(ex, check)
    const answer = Responder.respond(request.value, resolved.quality, rand("answer"))
    const timing = rand("timing")
    return streaming ? converseStream(ex, resolved, answer, timing) : converse(ex, resolved, answer, timing)
  }

  const validateConverse = (request: ConverseBody, resolved: Scenario.Resolved, streaming: boolean) => {
    if (request.messages.length === 0 || request.messages[0]!.role !== "user") {
      return wire(
        400,
        "ValidationException",
        "A conversation must start with a user message. Try again with a conversation that starts with a user message."
      )
    }
    const failed = capabilityChecks.find((c) =>
      resolved.capabilities[c.capability] === "no" && c.applies(request, streaming)
    )
    return failed === undefined ? undefined : wire(400, "ValidationException", failed.message)
  }

  const answerDelay = (resolved: Scenario.Resolved, tokens: number, timing: () => number) =>
    Scenario.sampleTokensDelay(resolved.latency, tokens, timing) * scenario.timeScale

  const converse = async (
    ex: Exchange,
    resolved: Scenario.Resolved,
    answer: Responder.Answer,
    timing: () => number
  ) => {
    const ttft = Scenario.sampleTtft(resolved.latency.ttftMs, timing) * scenario.timeScale
    if (!(await wait(ex, ttft + answerDelay(resolved, answer.outputTokens, timing)))) return
    sendJson(ex, 200, {
      output: { message: { role: "assistant", content: answer.content } },
      stopReason: answer.stopReason,
      usage: usage(answer),
      metrics: { latencyMs: Math.round(performance.now() - ex.started) }
    })
  }

  const usage = (answer: Responder.Answer) => ({
    inputTokens: answer.inputTokens,
    outputTokens: answer.outputTokens,
    totalTokens: answer.inputTokens + answer.outputTokens
  })

  const startStream = (ex: Exchange, extra: Record<string, string> = {}): boolean => {
    if (ex.closed) return false
    ex.status = 200
    ex.headersSent = true
    ex.res.writeHead(200, { ...baseHeaders(ex), "content-type": "application/vnd.amazon.eventstream", ...extra })
    return true
  }

  const endStream = (ex: Exchange, last?: Uint8Array) => {
    if (ex.closed) return
    ex.ended = true
    ex.res.end(last)
  }

  const breakPoint = (resolved: Scenario.Resolved, deltas: number): number | undefined =>
    resolved.streamBreakAfterDeltas ??
      (resolved.quality === "broken-stream" ? Math.max(1, Math.floor(deltas / 2)) : undefined)

  const converseStream = async (
    ex: Exchange,
    resolved: Scenario.Resolved,
    answer: Responder.Answer,
    timing: () => number
  ) => {
    const blocks = answer.content.map((block, index) =>
      "text" in block
        ? { index, start: undefined, deltas: textDeltas(block.text).map((text) => ({ text })) }
        : {
          index,
          start: { toolUse: { toolUseId: block.toolUse.toolUseId, name: block.toolUse.name } },
          deltas: jsonDeltas(JSON.stringify(block.toolUse.input)).map((input) => ({ toolUse: { input } }))
        }
    )
    const total = blocks.reduce((n, b) => n + b.deltas.length, 0)
    const breakAfter = breakPoint(resolved, total)
    const ttft = Scenario.sampleTtft(resolved.latency.ttftMs, timing) * scenario.timeScale
    if (!(await wait(ex, ttft)) || !startStream(ex)) return
    ex.res.write(EventStream.event("messageStart", { role: "assistant" }))
    let sent = 0
    const broken = (): boolean => {
      if (breakAfter === undefined || sent < breakAfter) return false
      ex.errorName = resolved.streamBreakException
      const body = streamExceptions[resolved.streamBreakException] as { message: string }
      endStream(ex, EventStream.exception(resolved.streamBreakException, body))
      return true
    }
    for (const block of blocks) {
      if (block.start !== undefined) {
        ex.res.write(EventStream.event("contentBlockStart", { start: block.start, contentBlockIndex: block.index }))
      }
      for (const delta of block.deltas) {
        if (broken()) return
        ex.res.write(EventStream.event("contentBlockDelta", { delta, contentBlockIndex: block.index }))
        sent++
        const tokens = Responder.tokenCount("text" in delta ? delta.text : delta.toolUse.input)
        if (!(await wait(ex, answerDelay(resolved, Math.max(1, tokens), timing)))) return
      }
      ex.res.write(EventStream.event("contentBlockStop", { contentBlockIndex: block.index }))
    }
    if (broken()) return
    ex.res.write(EventStream.event("messageStop", { stopReason: answer.stopReason }))
    const latencyMs = Math.round(performance.now() - ex.started)
    endStream(ex, EventStream.event("metadata", { usage: usage(answer), metrics: { latencyMs } }))
  }

  // -- InvokeModel -----------------------------------------------------------------------------

  const invoke = async (
    ex: Exchange,
    op: Operation,
    resolved: Scenario.Resolved,
    body: unknown,
    rand: (stream: string) => () => number
  ) => {
    const timing = rand("timing")
    const result = resolved.kind === "embedding"
      ? embedding(resolved.modelId, body)
      : resolved.kind === "chat"
      ? nativeChat(resolved, body, rand("answer"))
      : { error: wire(400, "ValidationException", "The emulator does not serve this modality through InvokeModel.") }
    if ("error" in result) return sendError(ex, result.error)
    const ttft = Scenario.sampleTtft(resolved.latency.ttftMs, timing) * scenario.timeScale
    if (op === "InvokeModel") {
      if (!(await wait(ex, ttft + answerDelay(resolved, result.outputTokens, timing)))) return
      return sendJson(ex, 200, result.body)
    }
    if (!(await wait(ex, ttft)) || !startStream(ex, { "x-amzn-bedrock-content-type": "application/json" })) return
    const bytes = Buffer.from(JSON.stringify(result.body)).toString("base64")
    endStream(ex, EventStream.event("chunk", { bytes }))
  }

  const embedding = (modelId: string, body: unknown) => {
    const tokens = (text: string) => Responder.tokenCount(text)
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

  /** A chat model through InvokeModel: Anthropic Messages bodies for `anthropic.*`, Nova-style `messages` otherwise. */
  const nativeChat = (resolved: Scenario.Resolved, body: unknown, rand: () => number) => {
    const anthropic = resolved.modelId.startsWith("anthropic.")
    const record = typeof body === "object" && body !== null ? body as Record<string, unknown> : {}
    if (!Array.isArray(record["messages"])) {
      return { error: malformed(body, ["messages"], ["messages"]) }
    }
    const toBlocks = (content: unknown): ReadonlyArray<Record<string, unknown>> =>
      typeof content === "string"
        ? [{ text: content }]
        : Array.isArray(content)
        ? content.map((b: Record<string, unknown>) => (b["type"] === "text" ? { text: b["text"] } : b))
        : []
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

  // -- control plane ---------------------------------------------------------------------------

  const modelSummary = (resolved: Scenario.Resolved, region: string) => {
    const info = resolved.info
    const outputModality = resolved.kind === "chat"
      ? "TEXT"
      : resolved.kind === "embedding"
      ? "EMBEDDING"
      : (info?.modality ?? "TEXT").toUpperCase()
    return {
      modelArn: `arn:aws:bedrock:${region}::foundation-model/${resolved.modelId}`,
      modelId: resolved.modelId,
      modelName: info?.name ?? resolved.modelId,
      providerName: info?.vendor ?? providerOf(resolved.modelId),
      inputModalities: resolved.capabilities.vision === "yes" ? ["TEXT", "IMAGE"] : ["TEXT"],
      outputModalities: [outputModality],
      responseStreamingSupported: resolved.kind === "chat" && resolved.capabilities.streaming !== "no",
      customizationsSupported: [],
      inferenceTypesSupported: resolved.availability === "profile-only" ? ["INFERENCE_PROFILE"] : ["ON_DEMAND"],
      modelLifecycle: {
        status: resolved.availability === "legacy" || info?.lifecycle.status === "LEGACY" ? "LEGACY" : "ACTIVE"
      }
    }
  }

  const listed = (a: Scenario.Availability) => a !== "not-offered" && a !== "eol"

  const foundationModels = (region: string) =>
    Scenario.knownModelIds(scenario)
      .map((id) => Scenario.resolve(scenario, region, id))
      .filter((r) => listed(r.availability))
      .map((r) => modelSummary(r, region))

  const profileSummary = (resolved: Scenario.Resolved, profileId: string, region: string) => {
    const geography = profileId.slice(0, profileId.indexOf("."))
    const name = resolved.info?.name ?? resolved.modelId
    const vendor = resolved.info?.vendor ?? providerOf(resolved.modelId)
    const served = (resolved.info?.regions ?? [])
      .map((r) => r.region)
      .filter((r) => geography === "global" || geographiesOf(r as Region).includes(geography))
    const regions = served.length > 0 ? served : [region]
    return {
      inferenceProfileName: `${geography.toUpperCase()} ${vendor} ${name}`,
      description: `Routes requests to ${vendor} ${name} in ${regions.join(", ")}.`,
      createdAt: CREATED_AT,
      updatedAt: CREATED_AT,
      inferenceProfileArn: `arn:aws:bedrock:${region}:${ACCOUNT}:inference-profile/${profileId}`,
      models: regions.map((r) => ({ modelArn: `arn:aws:bedrock:${r}::foundation-model/${resolved.modelId}` })),
      inferenceProfileId: profileId,
      status: "ACTIVE",
      type: "SYSTEM_DEFINED"
    }
  }

  const inferenceProfiles = (region: string) => {
    const out: Array<ReturnType<typeof profileSummary>> = []
    for (const id of Scenario.knownModelIds(scenario)) {
      const base = Scenario.resolve(scenario, region, id)
      const candidates = base.info !== undefined
        ? base.info.profiles
        : base.availability === "profile-only"
        ? [`${geographiesOf(region as Region)[0] ?? "global"}.${id}`]
        : []
      for (const profileId of candidates) {
        const via = Scenario.resolve(scenario, region, profileId)
        if (listed(via.availability)) out.push(profileSummary(via, profileId, region))
      }
    }
    return out
  }

  const controlPlane = (ex: Exchange, op: Operation, id: string | undefined, query: URLSearchParams) => {
    const region = ex.region
    if (op === "ListFoundationModels") {
      const provider = query.get("byProvider")?.toLowerCase()
      const output = query.get("byOutputModality")
      const inference = query.get("byInferenceType")
      const summaries = foundationModels(region).filter((m) =>
        (provider === undefined || m.providerName.toLowerCase() === provider) &&
        (output === null || m.outputModalities.includes(output)) &&
        (inference === null || m.inferenceTypesSupported.includes(inference))
      )
      return sendJson(ex, 200, { modelSummaries: summaries })
    }
    if (op === "GetFoundationModel") {
      const resolved = Scenario.resolve(scenario, region, id!)
      if (resolved.availability === "eol") return sendError(ex, availabilityErrors.eol(id!))
      if (resolved.availability === "not-offered" || resolved.profileId !== undefined) {
        return sendError(ex, availabilityErrors["not-offered"](id!))
      }
      return sendJson(ex, 200, { modelDetails: modelSummary(resolved, region) })
    }
    const profiles = query.get("type") === "APPLICATION" ? [] : inferenceProfiles(region)
    if (op === "ListInferenceProfiles") {
      const max = Math.min(1000, Math.max(1, Number(query.get("maxResults") ?? 1000) || 1000))
      const offset = Number(Buffer.from(query.get("nextToken") ?? "", "base64").toString("utf8") || 0) || 0
      const page = profiles.slice(offset, offset + max)
      const next = offset + max < profiles.length ? Buffer.from(String(offset + max)).toString("base64") : undefined
      return sendJson(ex, 200, { inferenceProfileSummaries: page, ...(next === undefined ? {} : { nextToken: next }) })
    }
    const wanted = id!.replace(/^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:inference-profile\//, "")
    const found = profiles.find((p) => p.inferenceProfileId === wanted)
    // Wording of this not-found message was not captured from the real service.
    return found === undefined
      ? sendError(ex, wire(404, "ResourceNotFoundException", `Inference profile ${wanted} not found.`))
      : sendJson(ex, 200, found)
  }

  // -- routing ---------------------------------------------------------------------------------

  const runtimeRoutes: Record<string, Operation> = {
    converse: "Converse",
    "converse-stream": "ConverseStream",
    invoke: "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream"
  }

  const runtimeOperations: ReadonlySet<Operation> = new Set(Object.values(runtimeRoutes))

  const route = (method: string, segments: ReadonlyArray<string>): { op: Operation; id: string | undefined } => {
    const [first, second, third] = segments
    if (method === "POST" && first === "model" && second !== undefined && segments.length === 3) {
      return { op: runtimeRoutes[third!] ?? "Unknown", id: second }
    }
    if (method === "GET" && first === "foundation-models") {
      return segments.length === 1
        ? { op: "ListFoundationModels", id: undefined }
        : { op: "GetFoundationModel", id: second }
    }
    if (method === "GET" && first === "inference-profiles") {
      return segments.length === 1
        ? { op: "ListInferenceProfiles", id: undefined }
        : { op: "GetInferenceProfile", id: second }
    }
    return { op: "Unknown", id: undefined }
  }

  const handle = async (ex: Exchange): Promise<void> => {
    const url = new URL(ex.req.url ?? "/", "http://emulator")
    const raw = url.pathname.split("/").filter((s) => s !== "")
    const decoded = raw.map((s) => {
      try {
        return decodeURIComponent(s)
      } catch {
        return undefined // malformed percent-encoding: the client's fault, answered with a 400 below
      }
    })
    if (decoded.some((s) => s === undefined)) {
      return sendError(ex, wire(400, "ValidationException", "The provided model identifier is invalid."))
    }
    const segments = decoded as Array<string>
    const { id, op } = route(ex.req.method ?? "GET", segments)
    ex.operation = op
    ex.modelId = id
    const authorization = header(ex.req.headers, "authorization")
    const scope = authorization === undefined
      ? undefined
      : /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\/[^/]+\/aws4_request/.exec(authorization)
    ex.region = scope?.[2] ?? defaultRegion
    const body = await readBody(ex.req)
    if (authorization === undefined) {
      return sendError(ex, wire(403, "MissingAuthenticationTokenException", messages.missingToken))
    }
    const credential = scope === null || scope === undefined
      ? undefined
      : credentialErrors.find((c) => scope[1]!.includes(c.marker))
    if (credential !== undefined) return sendError(ex, credential.error)
    if (op === "Unknown") return sendError(ex, wire(404, "UnknownOperationException", "Unknown operation"))
    if (runtimeOperations.has(op)) return runtime(ex, op, id!, body)
    return controlPlane(ex, op, id, url.searchParams)
  }

  const onRequest = (req: Req, res: Res): void => {
    active++
    const ex: Exchange = {
      req,
      res,
      requestId: randomUUID(),
      at: Date.now(),
      started: performance.now(),
      region: defaultRegion,
      modelId: undefined,
      operation: "Unknown",
      status: 0,
      errorName: undefined,
      headersSent: false,
      ended: false,
      closed: false,
      timers: new Set(),
      wakers: new Set()
    }
    // A request that started before reset() belongs to the forgotten log.
    const generation = logGeneration
    res.on("close", () => {
      if (ex.closed) return
      ex.closed = true
      active--
      for (const timer of ex.timers) clearTimeout(timer)
      for (const wake of [...ex.wakers]) wake()
      if (generation !== logGeneration) return
      log.push({
        at: ex.at,
        region: ex.region,
        modelId: ex.modelId,
        operation: ex.operation,
        status: ex.status,
        errorName: ex.errorName,
        requestId: ex.requestId,
        closedByClient: !ex.ended,
        durationMs: performance.now() - ex.started
      })
      // Trim in batches so appending stays amortised O(1).
      if (log.length >= 2 * maxLogEntries) log = log.slice(-maxLogEntries)
    })
    handle(ex).catch((cause: unknown) => {
      if (ex.headersSent) return endStream(ex)
      sendError(ex, wire(500, "InternalServerException", `${messages.internal} (${String(cause)})`))
    })
  }

  const h1 = http.createServer((req, res) => onRequest(req, res))
  const h2 = http2.createServer((req, res) => onRequest(req as unknown as Req, res as unknown as Res))
  h2.on("sessionError", () => {})
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => {})
    socket.once("data", (chunk: Buffer) => {
      socket.pause()
      socket.unshift(chunk)
      // HTTP/2 prior knowledge starts with the preface "PRI * HTTP/2.0"; no HTTP/1.1 method is "PRI".
      if (chunk.subarray(0, 4).toString("latin1") === "PRI ") {
        // The HTTP/2 session reads the unshifted bytes itself (on the next tick) and then owns the handle.
        h2.emit("connection", socket)
      } else {
        h1.emit("connection", socket)
        socket.resume()
      }
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject)
      resolve()
    })
  })
  const address = server.address() as net.AddressInfo
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address

  let closing: Promise<void> | undefined
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    requests: () => log.slice(-maxLogEntries),
    activeRequests: () => active,
    reset: resetState,
    setScenario: (next) => {
      scenario = compile(next)
      resetState()
    },
    scenario: () => scenario,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        h1.closeAllConnections()
        for (const socket of sockets) socket.destroy()
      })
      return closing
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Effect API
// ---------------------------------------------------------------------------------------------

/** Start an emulator for the lifetime of the scope. */
export const make = (options: Options = {}): Effect.Effect<EmulatorHandle, EmulatorError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => start(options),
      catch: (cause) => new EmulatorError({ message: `cannot start the Bedrock emulator: ${String(cause)}`, cause })
    }),
    (handle) => Effect.promise(() => handle.close())
  )

/** A layer providing a running {@link BedrockEmulator}, stopped when the layer is released. */
export const layer = (options: Options = {}): Layer.Layer<BedrockEmulator, EmulatorError> =>
  Layer.effect(BedrockEmulator, make(options))
