/**
 * Mounting: one call builds the certification API for a host, as a Node `(req, res, next?)` handler
 * (Express, Fastify, `node:http`) and a Fetch `(Request) => Promise<Response>` handler (Hono, Bun,
 * Deno, serverless), both on Effect's own HTTP stack over one router: `@effect/platform-node`'s
 * `NodeHttpServer.makeHandler` for Node and `HttpEffect.toWebHandlerWith` for Fetch.
 *
 * A request first passes the `RequestGate` (canonical target relative to the base path, known
 * method, JSON body within the byte limit), then the router; every operation is authorized by the
 * host's hook (`Auth`) before its inputs are decoded through `Inputs`. Anything the framework
 * itself refuses (decode errors, unknown routes, bodies cut at the limit) becomes an envelope here:
 * nothing a client sends produces a 5xx, a stack trace or a path. For what Node's HTTP parser
 * refuses before any handler runs (a malformed request line or header), install `clientError`.
 *
 * ```ts
 * import express from "express"
 * import { createCertificationHandler } from "@myia/certification-http"
 *
 * const certification = createCertificationHandler({
 *   certification: { storage, queue, worker: false },
 *   basePath: "/api/certification-queue",
 *   authorize: ({ headers }) => headers.authorization === `Bearer ${token}`
 *     ? { id: "admin", canRead: true, canWrite: true }
 *     : { status: 401 }
 * })
 * app.use("/api/certification-queue", certification.node)
 * const server = app.listen(3001)
 * server.on("clientError", certification.clientError)
 * ```
 *
 * @since 0.1.0
 */
import { Certification, CertificationClient, ClockSkew, Registry } from "@myia/certification"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as HttpEffect from "effect/http/HttpEffect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiError from "effect/http-api/HttpApiError"
import * as HttpApiScalar from "effect/http-api/HttpApiScalar"
import * as OpenApi from "effect/http-api/OpenApi"
import type * as Http from "node:http"
import type * as Stream from "node:stream"
import * as Api from "./Api.ts"
import * as Auth from "./Auth.ts"
import * as Dashboard from "./Dashboard.ts"
import * as Envelope from "./Envelope.ts"
import * as Handlers from "./Handlers.ts"
import * as RequestGate from "./RequestGate.ts"

export type AuthRequest = Auth.AuthRequest
export type AuthFailure = Auth.AuthFailure
export type Authorize = Auth.Authorize
export type Principal = Api.Principal

export interface Options {
  /**
   * The certification system: the options of `createCertification` (storage, queue, bedrock, worker…),
   * or a layer providing `Certification` and `Registry` for hosts that wire it themselves.
   */
  readonly certification:
    | CertificationClient.CreateOptions
    | Layer.Layer<Certification.Certification | Registry.Registry, unknown>
  /** Where the host mounts the API, e.g. `/api/certification-queue` (default: the root). */
  readonly basePath?: string | undefined
  /** Required unless `anonymous` is set: decides who is calling and what they may do. */
  readonly authorize?: Authorize | undefined
  /** Allow calls without an authorize hook: exactly `"read"` (GET only) or `"read-write"`. Never the default. */
  readonly anonymous?: Auth.AnonymousMode | undefined
  /** Paths (relative to the base path) served without authorization. Default `["/health", "/ready"]`. */
  readonly publicPaths?: ReadonlyArray<string> | undefined
  /** Largest accepted request body in bytes; larger is a 413. Default 64 KiB. */
  readonly maxBodyBytes?: number | undefined
  /** Largest `limit` of paginated endpoints; larger is a 400. Default (and maximum) 100. */
  readonly maxPageSize?: number | undefined
  /** Serve the Scalar API reference at `/docs` (default true). */
  readonly docs?: boolean | undefined
  /**
   * Serve the dashboard at `/ui` (default true). Its page and assets hold no data and are served
   * without the authorize hook; every call the page makes goes through the API and the hook.
   */
  readonly dashboard?: boolean | undefined
  /** Prometheus text for `/metrics`; default: every metric of the process's default registry. */
  readonly metrics?: Effect.Effect<string> | undefined
  /** Issue 18: milliseconds between heartbeat events on the SSE stream. Default 15000. */
  readonly sseHeartbeatMillis?: number | undefined
  /**
   * Issue 15: GET /ready answers `degraded` (still 200) when this process's clock is off from the
   * database's by more than this many milliseconds. Default 5000 (`CERTIFICATION_MAX_CLOCK_SKEW` for workers).
   */
  readonly maxClockSkewMillis?: number | undefined
}

/** A mounted API. */
export interface CertificationHandler {
  /** Node handler for Express, Fastify (`.raw`) and `node:http`; calls `next()` for paths outside the base path. */
  readonly node: (req: Http.IncomingMessage, res: Http.ServerResponse, next?: (error?: unknown) => void) => void
  /** Fetch handler; requests outside the base path get a 404 envelope. */
  readonly fetch: (request: Request) => Promise<Response>
  /**
   * For `server.on("clientError", …)` on the host's Node server: answers what Node's HTTP parser
   * refuses before any handler runs (malformed request line or headers, headers too large) with
   * the JSON envelope instead of Node's bare `400`.
   */
  readonly clientError: (error: Error, socket: Stream.Duplex) => void
  /** Stop the router, the embedded worker (if any) and release connections. */
  readonly dispose: () => Promise<void>
}

/** The construction was invalid (e.g. no authorize hook and no explicit anonymous access). */
export class PluginConfigError extends Error {
  override readonly name = "PluginConfigError"
}

const defaults = { maxBodyBytes: 64 * 1024, maxPageSize: 100, publicPaths: ["/health", "/ready"] } as const

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const configError = (message: string) => new PluginConfigError(`createCertificationHandler: ${message}`)

const policyOf = (options: Options, publicPaths: ReadonlySet<string>): Auth.Policy => {
  const { authorize, anonymous } = options
  if (authorize !== undefined && anonymous !== undefined) {
    throw configError("pass either `authorize` or `anonymous`, not both")
  }
  if (authorize !== undefined) {
    if (typeof authorize !== "function") {
      throw configError(`\`authorize\` must be a function (got ${authorize === null ? "null" : typeof authorize})`)
    }
    return { _tag: "Hook", authorize, publicPaths }
  }
  if (anonymous !== undefined) {
    if (!Auth.anonymousModes.includes(anonymous)) {
      throw configError(`\`anonymous\` must be exactly "read" or "read-write" (got ${JSON.stringify(anonymous)})`)
    }
    return { _tag: "Anonymous", mode: anonymous }
  }
  throw configError(
    "an `authorize` hook is required; to allow anonymous access, pass `anonymous: \"read\"` or " +
      "`anonymous: \"read-write\"` explicitly"
  )
}

const canonicalPath = (name: string, value: unknown): string => {
  if (typeof value !== "string" || RequestGate.pathIssue(value) !== undefined) {
    throw configError(`\`${name}\` must be a canonical path such as "/api/certification-queue" (got ${JSON.stringify(value)})`)
  }
  return value
}

/** `api/x/` → `/api/x`; the root is `""`. */
const basePathOf = (base: unknown): string => {
  if (base === undefined || base === "" || base === "/") return ""
  if (typeof base !== "string") return canonicalPath("basePath", base)
  const withSlash = base.startsWith("/") ? base : `/${base}`
  return canonicalPath("basePath", withSlash.endsWith("/") ? withSlash.slice(0, -1) : withSlash)
}

const positiveInt = (name: string, value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max) {
    throw configError(`\`${name}\` must be a whole number from 1 to ${max} (got ${JSON.stringify(value)})`)
  }
  return value
}

const publicPathsOf = (paths: unknown): ReadonlySet<string> => {
  if (paths === undefined) return new Set(defaults.publicPaths)
  if (!Array.isArray(paths)) throw configError("`publicPaths` must be an array of paths")
  return new Set(paths.map((p) => canonicalPath("publicPaths[]", p)))
}

// ---------------------------------------------------------------------------------------------
// Framework failures → envelopes
// ---------------------------------------------------------------------------------------------

const isMalformedJson = (error: HttpApiError.HttpApiSchemaError): boolean =>
  error.kind === "Payload" && error.cause.issue._tag === "InvalidValue" &&
  error.cause.issue.annotations?.message === "Expected a valid JSON body"

const tooLarge = (maxBodyBytes: number) =>
  Envelope.response(413, "PAYLOAD_TOO_LARGE", `request body is over the limit of ${maxBodyBytes} bytes`, {
    details: { limit: maxBodyBytes }
  })

/** An envelope for every failure the router, the decoders or the body reader can produce. */
const failureResponse = (maxBodyBytes: number) => (cause: Cause.Cause<unknown>) => {
  const failure = Cause.squash(cause)
  if (HttpApiError.HttpApiSchemaError.is(failure)) {
    return Effect.succeed(
      isMalformedJson(failure)
        ? Envelope.response(400, "MALFORMED_JSON", "request body is not valid JSON")
        : Envelope.validation(failure)
    )
  }
  if (HttpApiError.HttpApiPayloadTooLarge.is(failure)) {
    return Effect.succeed(tooLarge(maxBodyBytes))
  }
  if (HttpServerError.isHttpServerError(failure)) {
    const reason = failure.reason
    switch (reason._tag) {
      case "RouteNotFound":
        return Effect.succeed(
          reason.description === undefined
            ? Envelope.response(404, "NOT_FOUND", "no such endpoint")
            : Envelope.response(400, "INVALID_PATH", "a path parameter is too long")
        )
      case "RequestParseError":
        return Effect.succeed(
          reason.reason === "BodyTooLarge"
            ? tooLarge(maxBodyBytes)
            : Envelope.response(400, "MALFORMED_REQUEST", "the request body could not be read")
        )
    }
  }
  // A client that went away interrupts its request: nothing failed, nobody reads the answer.
  if (Cause.hasInterruptsOnly(cause)) {
    return Effect.as(Effect.logDebug("certification API: request interrupted"), clientClosed)
  }
  return Effect.as(
    Effect.logError("certification API: unexpected failure", cause),
    Envelope.response(500, "INTERNAL_ERROR", "internal error")
  )
}

const clientClosed = Envelope.response(499, "CLIENT_CLOSED", "client closed the request")

/** Every 401 names the scheme it expects. */
const challenge = (response: HttpServerResponse.HttpServerResponse) =>
  response.status === 401 && response.headers["www-authenticate"] === undefined
    ? HttpServerResponse.setHeader(response, "www-authenticate", "Bearer")
    : response

/** Issue 18: an event stream is never cached, and proxies (nginx) pass it through unbuffered. */
const sseHeaders = (response: HttpServerResponse.HttpServerResponse) =>
  response.body._tag === "Stream" && (response.body.contentType ?? "").startsWith("text/event-stream")
    ? HttpServerResponse.setHeaders(response, { "cache-control": "no-cache", "x-accel-buffering": "no" })
    : response

const withEnvelopes = (maxBodyBytes: number) =>
<E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  app.pipe(Effect.catchCause(failureResponse(maxBodyBytes)), Effect.map(challenge), Effect.map(sseHeaders))

// ---------------------------------------------------------------------------------------------
// Assembly
// ---------------------------------------------------------------------------------------------

const serviceLayer = (
  certification: Options["certification"]
): Layer.Layer<Certification.Certification | Registry.Registry, unknown> =>
  Layer.isLayer(certification)
    ? certification as Layer.Layer<Certification.Certification | Registry.Registry, unknown>
    : Layer.merge(
      CertificationClient.layer(certification as CertificationClient.CreateOptions),
      Registry.layerWith((certification as CertificationClient.CreateOptions).registry ?? {})
    )

/** The OpenAPI document as served: the base path as server, public operations without security. */
const servedApi = (basePath: string, policy: Auth.Policy, maxPageSize: number) =>
  Api.CertificationApi.annotateMerge(OpenApi.annotations({
    servers: [{ url: basePath === "" ? "/" : basePath }],
    transform: (document) => {
      const spec = Api.refineDocument(document, { maxPageSize })
      const open = (path: string) => policy._tag === "Anonymous" || policy.publicPaths.has(path)
      for (const [path, operations] of Object.entries(spec.paths as Record<string, Record<string, any>>)) {
        if (!open(path)) continue
        for (const operation of Object.values(operations)) operation.security = []
      }
      return spec
    }
  }))

// The router matches exactly what the gate let through and the hook saw: no case or slash folding.
const routerConfig = {
  caseSensitive: true,
  ignoreTrailingSlash: false,
  ignoreDuplicateSlashes: false,
  maxParamLength: RequestGate.maxTargetLength
}

/** Status and envelope for what Node's parser refuses, by its error code. */
const clientErrors: Readonly<Record<string, RequestGate.Refusal>> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: "HEADERS_TOO_LARGE", message: "request headers are too large" },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: "REQUEST_TIMEOUT", message: "the request took too long to arrive" }
}

const malformed: RequestGate.Refusal = {
  status: 400,
  code: "MALFORMED_REQUEST",
  message: "the request could not be parsed as HTTP/1.1"
}

const statusText: Readonly<Record<number, string>> = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" }

const clientError = (error: Error, socket: Stream.Duplex): void => {
  const code = (error as { readonly code?: string }).code ?? ""
  const pending = (socket as { readonly _httpMessage?: { readonly headersSent?: boolean } })._httpMessage
  if (code === "ECONNRESET" || !socket.writable || pending?.headersSent === true) {
    socket.destroy()
    return
  }
  const refusal = clientErrors[code] ?? malformed
  const body = JSON.stringify(Envelope.body(refusal.code, refusal.message))
  socket.end(
    `HTTP/1.1 ${refusal.status} ${statusText[refusal.status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  )
}

/**
 * Build the API. Throws `PluginConfigError` when the options are invalid: no authorize hook and no
 * explicit anonymous mode, a hook that is not a function, an anonymous mode other than `"read"` /
 * `"read-write"`, or a malformed base path, public path or limit.
 */
export const createCertificationHandler = (options: Options): CertificationHandler => {
  const publicPaths = publicPathsOf(options.publicPaths)
  const policy = policyOf(options, publicPaths)
  const basePath = basePathOf(options.basePath)
  const maxBodyBytes = positiveInt("maxBodyBytes", options.maxBodyBytes, defaults.maxBodyBytes)
  const maxPageSize = positiveInt("maxPageSize", options.maxPageSize, defaults.maxPageSize, Api.maxPageSizeLimit)

  const api = servedApi(basePath, policy, maxPageSize)
  const apiRoutes = HttpApiBuilder.layer(api).pipe(
    Layer.provide(Handlers.layer({
      maxPageSize,
      metrics: options.metrics ?? Handlers.defaultMetrics,
      sseHeartbeat: positiveInt("sseHeartbeatMillis", options.sseHeartbeatMillis, 15_000),
      maxClockSkewMillis: positiveInt("maxClockSkewMillis", options.maxClockSkewMillis, ClockSkew.defaultThresholdMillis)
    })),
    Layer.provide(Auth.layer(policy))
  )
  const openapi = HttpRouter.use((router) => {
    const spec = OpenApi.fromApi(api)
    return router.add("GET", "/openapi.json", Effect.sync(() => HttpServerResponse.jsonUnsafe(spec)))
  })
  const ownRoutes = Layer.mergeAll(
    openapi,
    options.docs === false ? Layer.empty : HttpApiScalar.layer(api, { path: "/docs" })
  ).pipe(Layer.provide(Auth.routeMiddleware(policy)))
  // Issue 19: the dashboard (no data in it, so outside the authorization middleware).
  const dashboardRoutes = options.dashboard === false ? Layer.empty : Dashboard.routes
  const services = Layer.merge(serviceLayer(options.certification), HttpServer.layerServices)

  const scope = Scope.makeUnsafe()
  const gateFor = (target: (request: HttpServerRequest.HttpServerRequest) => ReturnType<typeof RequestGate.relativeTarget>) =>
    RequestGate.make({ maxBodyBytes, target })
  const nodeGate = gateFor((request) => RequestGate.nodeTarget(request.source as RequestGate.NodeRequestLike, basePath))
  const webGate = gateFor((request) => RequestGate.relativeTarget(request.url, basePath))

  const built = Effect.runPromise(Effect.gen(function*() {
    const context = yield* Layer.buildWithScope(services, scope)
    const router = yield* HttpRouter.toHttpEffect(Layer.mergeAll(apiRoutes, ownRoutes, dashboardRoutes)).pipe(
      Effect.provideService(HttpRouter.RouterConfig, routerConfig),
      Effect.provideContext(Context.add(context, Scope.Scope, scope))
    )
    const app = withEnvelopes(maxBodyBytes)(router)
    const node = yield* NodeHttpServer.makeHandler(nodeGate(app), { scope }).pipe(Effect.provideContext(context))
    const web = HttpEffect.toWebHandlerWith<never, HttpServerRequest.HttpServerRequest | Scope.Scope>(
      context as Context.Context<never>
    )(webGate(app))
    return { node, web }
  }))
  // A failed build must not be an unhandled rejection at start-up; each request answers 503 instead.
  built.catch((cause: unknown) => {
    Effect.runFork(Effect.logWarning("certification API: the certification system failed to start", cause))
  })
  let ready: Awaited<typeof built> | undefined
  built.then((handlers) => (ready = handlers), () => undefined)

  const startFailed = () =>
    Response.json(Envelope.body("SERVICE_UNAVAILABLE", "the certification service is unavailable"), { status: 503 })

  const fetch = (request: Request): Promise<Response> =>
    ready !== undefined ? ready.web(request) : built.then((h) => h.web(request), startFailed)

  const node = (req: Http.IncomingMessage, res: Http.ServerResponse, next?: (error?: unknown) => void): void => {
    if (next !== undefined && RequestGate.nodeTarget(req as RequestGate.NodeRequestLike, basePath) === null) {
      return next()
    }
    if (ready !== undefined) return ready.node(req, res)
    built.then((h) => h.node(req, res), () => {
      const body = JSON.stringify(Envelope.body("SERVICE_UNAVAILABLE", "the certification service is unavailable"))
      res.writeHead(503, { "content-type": "application/json" }).end(body)
    })
  }

  let disposing: Promise<void> | undefined
  const dispose = () => disposing ??= Effect.runPromise(Scope.close(scope, Exit.void))

  return { fetch, node, clientError, dispose }
}
