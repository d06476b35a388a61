/**
 * A local Bedrock: a real HTTP server on 127.0.0.1 that the unmodified AWS SDK clients talk to.
 *
 * It serves the runtime (`Converse`, `ConverseStream`, `InvokeModel` and
 * `InvokeModelWithResponseStream` with each model family's native bodies and streaming events,
 * `CountTokens`) and the control plane (`ListFoundationModels`, `GetFoundationModel`,
 * `ListInferenceProfiles`, `GetInferenceProfile`, and `CreateInferenceProfile` /
 * `DeleteInferenceProfile` for application profiles), with Bedrock's wire formats and checks: requests
 * validated against AWS's service model and Bedrock's own rules, `x-amzn-ErrorType` errors with the
 * real messages, event-stream frames with CRCs and mid-stream exception frames. One port speaks both
 * h2c (the runtime client's default `NodeHttp2Handler`) and HTTP/1.1 (`NodeHttpHandler`, the
 * control-plane client): each connection's first bytes decide. The region comes from the SigV4
 * credential scope, so one emulator plays every region. What each (region, model) does is the
 * {@link Scenario}; answers come from the generic `Responder`, never from the certification suite.
 *
 * This module is the server and its handle; the `Router` and one handler module per operation
 * family (`ConverseHandler`, `ConverseStreamHandler`, `InvokeModelHandler`, `CountTokensHandler`,
 * `ControlPlaneHandler`) answer the requests. Plain Node users call {@link start}; Effect users
 * {@link make} (scoped) or {@link layer}, which read wall time from the `Clock` in context.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { endStream, type Exchange, type Req, type Res, sendError } from "./Exchange.ts"
import * as RequestLog from "./RequestLog.ts"
import * as Router from "./Router.ts"
import type * as Scenario from "./Scenario.ts"
import * as State from "./State.ts"
import { internalError } from "./WireError.ts"

export { capabilityChecks } from "./ConverseHandler.ts"
export { textDeltas } from "./ConverseStreamHandler.ts"
export { countMessages } from "./CountTokensHandler.ts"
export type { Operation } from "./Exchange.ts"
export type { RequestRecord } from "./RequestLog.ts"
export { availabilityErrors, credentialErrors, messages, streamExceptions, type WireError } from "./WireError.ts"

/** A running emulator. */
export interface EmulatorHandle {
  /** `http://127.0.0.1:<port>`: give it to the SDK client as `endpoint`. */
  readonly url: string
  readonly port: number
  /** Every finished request so far, oldest first. */
  readonly requests: () => ReadonlyArray<RequestLog.RequestRecord>
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
  /**
   * Wall time for the `Date` header and the request log's `at`. {@link start} defaults to Effect's
   * default clock, {@link make} and {@link layer} to the `Clock` in context (so `TestClock` drives it).
   * Latencies and throttle buckets use real monotonic time whatever the clock.
   */
  readonly clock?: Clock.Clock | undefined
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

const listen = (server: net.Server, port: number, host: string): Promise<void> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve()
    })
  })

/** Start an emulator; resolves once it listens. */
export const start = async (options: Options = {}): Promise<EmulatorHandle> => {
  const state = State.make(options.scenario)
  const context: Router.Context = { state, defaultRegion: options.defaultRegion ?? "us-east-1" }
  const clock = options.clock ?? Clock.Clock.defaultValue()
  const log = RequestLog.make(Math.max(1, options.maxLogEntries ?? 100_000))
  const sockets = new Set<net.Socket>()
  let active = 0

  const onRequest = (req: Req, res: Res, drop: () => void): void => {
    active++
    const ex: Exchange = {
      req,
      res,
      clock,
      drop,
      requestId: randomUUID(),
      at: clock.currentTimeMillisUnsafe(),
      started: performance.now(),
      region: context.defaultRegion,
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
    const record = log.begin()
    res.on("close", () => {
      if (ex.closed) return
      ex.closed = true
      active--
      for (const timer of ex.timers) clearTimeout(timer)
      for (const wake of [...ex.wakers]) wake()
      record(ex)
    })
    Router.handle(ex, context).catch((cause: unknown) => {
      if (ex.headersSent) return endStream(ex)
      sendError(ex, internalError(cause))
    })
  }

  const h1 = http.createServer((req, res) => onRequest(req, res, () => req.socket.destroy()))
  // Over HTTP/2 only the request's stream is reset: other streams on the connection carry on.
  const resetStream = (req: http2.Http2ServerRequest) => () => req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
  const h2 = http2.createServer((req, res) => onRequest(req as unknown as Req, res as unknown as Res, resetStream(req)))
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

  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1")
  const address = server.address() as net.AddressInfo
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address

  const reset = () => {
    log.reset()
    state.reset()
  }
  let closing: Promise<void> | undefined
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    requests: log.entries,
    activeRequests: () => active,
    reset,
    setScenario: (next) => {
      state.setScenario(next)
      log.reset()
    },
    scenario: state.scenario,
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

/** Start an emulator for the lifetime of the scope; without `options.clock` it reads the `Clock` in context. */
export const make = (options: Options = {}): Effect.Effect<EmulatorHandle, EmulatorError, Scope.Scope> =>
  Effect.clockWith((clock) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: () => start({ ...options, clock: options.clock ?? clock }),
        catch: (cause) => new EmulatorError({ message: `cannot start the Bedrock emulator: ${String(cause)}`, cause })
      }),
      (handle) => Effect.promise(() => handle.close())
    )
  )

/** A layer providing a running {@link BedrockEmulator}, stopped when the layer is released. */
export const layer = (options: Options = {}): Layer.Layer<BedrockEmulator, EmulatorError> =>
  Layer.effect(BedrockEmulator, make(options))
