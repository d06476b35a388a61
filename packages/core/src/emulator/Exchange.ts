/**
 * One request/response exchange as the emulator's handlers see it, over either protocol (HTTP/1.1
 * or h2c), and the few ways to answer it: a JSON body, a Bedrock wire error, an event stream, a wait
 * that ends early when the client goes away, or a dropped connection. The exchange also collects
 * what the request log records (operation, region, status, error name).
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as Schema from "effect/Schema"
import type * as Scenario from "./Scenario.ts"
import type { WireError } from "./WireError.ts"

/** The operations the emulator serves. */
export type Operation =
  | "Converse"
  | "ConverseStream"
  | "InvokeModel"
  | "InvokeModelWithResponseStream"
  | "CountTokens"
  | "ListFoundationModels"
  | "GetFoundationModel"
  | "ListInferenceProfiles"
  | "GetInferenceProfile"
  | "CreateInferenceProfile"
  | "DeleteInferenceProfile"
  | "GetFoundationModelAvailability"
  | "GetCallerIdentity"
  | "Unknown"

/** Request headers, as both Node HTTP stacks give them. */
export type Headers = Record<string, string | ReadonlyArray<string> | undefined>

/** The request side both `http.IncomingMessage` and `http2.Http2ServerRequest` offer. */
export interface Req {
  readonly method?: string | undefined
  readonly url?: string | undefined
  readonly headers: Headers
  on(event: "data", listener: (chunk: Buffer) => void): unknown
  on(event: "end" | "close", listener: () => void): unknown
  on(event: "error", listener: (error: Error) => void): unknown
}

/** The response side both `http.ServerResponse` and `http2.Http2ServerResponse` offer. */
export interface Res {
  writeHead(status: number, headers: Record<string, string>): unknown
  write(chunk: Uint8Array | string): boolean
  end(chunk?: Uint8Array | string): unknown
  on(event: "close", listener: () => void): unknown
}

/** One exchange in flight. */
export interface Exchange {
  readonly req: Req
  readonly res: Res
  readonly clock: Clock.Clock
  /** Tear the transport down without an answer (the client sees a network error). */
  readonly drop: () => void
  readonly requestId: string
  /** Arrival time, epoch ms from `clock`. */
  readonly at: number
  /** Arrival, `performance.now()` (durations only). */
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

/** A runtime call: the exchange, the scenario it arrived under, its resolved behaviour and its seeded draws. */
export interface Call {
  readonly ex: Exchange
  readonly scenario: Scenario.Scenario
  readonly resolved: Scenario.Resolved
  /** The request's PRNG for a named stream (`fate`, `answer`, `timing`), seeded by (seed, region, model, n). */
  readonly rand: (stream: string) => () => number
  /** A scripted error drawn for this streaming call, sent as an exception frame mid-stream. */
  readonly midStream: Scenario.ScriptedError | undefined
}

const MAX_BODY = 25_000_000

/** A header's first value. */
export const header = (headers: Headers, name: string): string | undefined => {
  const v = headers[name]
  return typeof v === "string" ? v : v?.[0]
}

const baseHeaders = (ex: Exchange): Record<string, string> => ({
  "x-amzn-RequestId": ex.requestId,
  date: new Date(ex.clock.currentTimeMillisUnsafe()).toUTCString()
})

/** Answer with a JSON body (no-op once the client left or an answer started). */
export const sendJson = (ex: Exchange, status: number, body: unknown, extra: Record<string, string> = {}): void => {
  if (ex.closed || ex.headersSent) return
  ex.status = status
  ex.headersSent = true
  ex.ended = true
  ex.res.writeHead(status, { ...baseHeaders(ex), "content-type": "application/json", ...extra })
  ex.res.end(JSON.stringify(body))
}

/** Answer with a Bedrock error: its status, `x-amzn-ErrorType` and `{ message, ...extra }` body. */
export const sendError = (ex: Exchange, error: WireError): void => {
  ex.errorName = error.name
  sendJson(ex, error.status, { message: error.message, ...error.extra }, {
    "x-amzn-ErrorType": `${error.name}:http://internal.amazon.com/coral/com.amazon.bedrock/`
  })
}

/** Start a 200 event-stream answer; false when the client already left. */
export const startStream = (ex: Exchange, extra: Record<string, string> = {}): boolean => {
  if (ex.closed) return false
  ex.status = 200
  ex.headersSent = true
  ex.res.writeHead(200, { ...baseHeaders(ex), "content-type": "application/vnd.amazon.eventstream", ...extra })
  return true
}

/** End a started answer, optionally with a last chunk. */
export const endStream = (ex: Exchange, last?: Uint8Array): void => {
  if (ex.closed) return
  ex.ended = true
  ex.res.end(last)
}

/** Tear the connection down without an answer (recorded as status 0, error `ConnectionReset`). */
export const resetConnection = (ex: Exchange): void => {
  if (ex.closed) return
  ex.errorName = "ConnectionReset"
  ex.ended = true
  ex.drop()
}

/** Wait `ms`, or less if the client goes away; resolves false when it did. */
export const wait = (ex: Exchange, ms: number): Promise<boolean> =>
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

/** The request body (kept up to 25 MB; the rest is read and dropped). */
export const readBody = (req: Req): Promise<Buffer> =>
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

/** A body as JSON: an empty body is `{}`; `ok: false` when it is not JSON. */
export const parseJson = (bytes: Buffer): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  const text = bytes.toString("utf8")
  if (text.trim() === "") return { ok: true, value: {} }
  const result = decodeJson(text)
  return result._tag === "Success" ? { ok: true, value: result.value } : { ok: false }
}
