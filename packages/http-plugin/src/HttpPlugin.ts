/**
 * Mounting: one call builds the certification API for a host, as a Node `(req, res, next?)` handler
 * (Express, Fastify, `node:http`) and a Fetch `(Request) => Promise<Response>` handler (Hono, Bun,
 * Deno, serverless), both over the same Effect router.
 *
 * Before a request reaches the API it is authorized through the host's hook (401/403), its body is
 * held to a byte limit (413, checked before parsing) and parsed as JSON (400 when malformed).
 * Decode failures inside the API (bodies, params, queries) become 400 envelopes naming the field;
 * unknown routes a 404 envelope; nothing a client sends can produce a 500.
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
 * ```
 *
 * @since 0.1.0
 */
import { Certification, CertificationClient, Registry } from "@myia/certification"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SchemaIssue from "effect/SchemaIssue"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiError from "effect/http-api/HttpApiError"
import * as HttpApiScalar from "effect/http-api/HttpApiScalar"
import * as OpenApi from "effect/http-api/OpenApi"
import type * as Http from "node:http"
import * as Api from "./Api.ts"
import * as Handlers from "./Handlers.ts"

/** What the authorize hook sees. `path` is relative to the base path (`/jobs/123`). */
export interface AuthRequest {
  readonly method: string
  readonly path: string
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>
}

export type Principal = Handlers.Principal

/** The hook's refusal: 401 (who are you?) or 403 (not allowed). */
export interface AuthFailure {
  readonly status: 401 | 403
  readonly message?: string | undefined
}

export type Authorize = (request: AuthRequest) => Promise<Principal | AuthFailure> | Principal | AuthFailure

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
  /** Allow calls without an authorize hook: `"read"` (GET only) or `"read-write"`. Never the default. */
  readonly anonymous?: "read" | "read-write" | undefined
  /** Paths (relative to the base path) served without authorization. Default `["/health"]`. */
  readonly publicPaths?: ReadonlyArray<string> | undefined
  /** Largest accepted request body in bytes; larger is a 413 before parsing. Default 64 KiB. */
  readonly maxBodyBytes?: number | undefined
  /** Largest `limit` of paginated endpoints; larger is a 400. Default (and maximum) 100. */
  readonly maxPageSize?: number | undefined
  /** Serve the Scalar API reference at `/docs` (default true). */
  readonly docs?: boolean | undefined
  /** Prometheus text for `/metrics`; default: every metric of the process's default registry. */
  readonly metrics?: Effect.Effect<string> | undefined
}

/** A mounted API. */
export interface CertificationHandler {
  /** Node handler for Express, Fastify (`.raw`) and `node:http`; calls `next()` for paths outside the base path. */
  readonly node: (req: Http.IncomingMessage, res: Http.ServerResponse, next?: (error?: unknown) => void) => void
  /** Fetch handler; requests outside the base path get a 404 envelope. */
  readonly fetch: (request: Request) => Promise<Response>
  /** Stop the router, the embedded worker (if any) and release connections. */
  readonly dispose: () => Promise<void>
}

/** The construction was invalid (e.g. no authorize hook and no explicit anonymous access). */
export class PluginConfigError extends Error {
  override readonly name = "PluginConfigError"
}

const defaults = { maxBodyBytes: 64 * 1024, maxPageSize: 100, publicPaths: ["/health"] } as const

const isAuthFailure = (u: Principal | AuthFailure): u is AuthFailure => "status" in u

/** A JSON error envelope as a Fetch response. */
export const errorResponse = (status: number, code: string, message: string, details?: unknown): Response =>
  Response.json(
    { status: "error", error: details === undefined ? { code, message } : { code, message, details } },
    { status }
  )

/** `["modelIds", 0, "x"]` → `modelIds[0].x`. */
const fieldPath = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>, root: string): string => {
  let out = ""
  for (const segment of path) {
    const key = typeof segment === "object" && segment !== null ? segment.key : segment
    out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`
  }
  return out === "" ? root : out
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

const rootNames = { Payload: "body", Params: "path", Query: "query", Headers: "headers" } as const

const envelope = (status: number, code: string, message: string, details?: unknown) =>
  HttpServerResponse.jsonUnsafe(
    { status: "error", error: details === undefined ? { code, message } : { code, message, details } },
    { status }
  )

/**
 * Turns the framework's own failures (decode errors, unknown routes, defects) into envelopes, so a
 * client never sees the framework's default shape.
 */
const ErrorEnvelopes = HttpRouter.middleware(
  (httpEffect) =>
    // Typed as the input: the router's types insist unknown errors stay visible, and we handle them all.
    Effect.catchCause(httpEffect, (cause) => {
      const failure = Cause.squash(cause)
      if (HttpApiError.HttpApiSchemaError.is(failure)) {
        const root = failure.kind in rootNames ? rootNames[failure.kind as keyof typeof rootNames] : "body"
        const issues = formatIssues(failure.cause.issue).issues.map((i) => ({
          field: fieldPath(i.path ?? [], root),
          message: i.message
        }))
        const message = issues.map((i) => `${i.field}: ${i.message}`).join("; ")
        return Effect.succeed(envelope(400, "VALIDATION_ERROR", message, { issues }))
      }
      if (HttpApiError.HttpApiPayloadTooLarge.is(failure)) {
        return Effect.succeed(envelope(413, "PAYLOAD_TOO_LARGE", "request body is too large"))
      }
      const reason = (failure as { readonly reason?: { readonly _tag?: string } }).reason?._tag
      if (reason === "RouteNotFound") return Effect.succeed(envelope(404, "NOT_FOUND", "no such endpoint"))
      if (reason === "RequestParseError") return Effect.succeed(envelope(400, "MALFORMED_REQUEST", "the request could not be parsed"))
      // A client that went away interrupts its request: nothing failed, nobody reads the answer.
      if (Cause.hasInterruptsOnly(cause)) {
        return Effect.as(Effect.logDebug("certification API: request interrupted"), envelope(499, "CLIENT_CLOSED", "client closed the request"))
      }
      return Effect.as(
        Effect.logError("certification API: unexpected failure", cause),
        envelope(500, "INTERNAL_ERROR", "internal error")
      )
    }) as typeof httpEffect,
  { global: true }
)

const serviceLayer = (
  certification: Options["certification"]
): Layer.Layer<Certification.Certification | Registry.Registry, unknown> =>
  Layer.isLayer(certification)
    ? certification as Layer.Layer<Certification.Certification | Registry.Registry, unknown>
    : Layer.merge(
      CertificationClient.layer(certification as CertificationClient.CreateOptions),
      Registry.layerWith((certification as CertificationClient.CreateOptions).registry ?? {})
    )

const normalizeBase = (base: string | undefined): string => {
  if (base === undefined || base === "" || base === "/") return ""
  const withSlash = base.startsWith("/") ? base : `/${base}`
  return withSlash.endsWith("/") ? withSlash.slice(0, -1) : withSlash
}

/** Read a body stream, giving up (with `null`) as soon as it passes `max` bytes. */
const readLimited = async (body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array | null> => {
  if (body === null) return new Uint8Array(0)
  const reader = body.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => undefined)
      return null
    }
    chunks.push(value)
  }
  const out = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
}

const bodyMethods = new Set(["POST", "PUT", "PATCH"])

/**
 * Build the API. Throws `PluginConfigError` when there is no authorize hook and anonymous access
 * was not chosen explicitly.
 */
export const createCertificationHandler = (options: Options): CertificationHandler => {
  if (options.authorize === undefined && options.anonymous === undefined) {
    throw new PluginConfigError(
      "createCertificationHandler: an `authorize` hook is required; to allow anonymous access, pass " +
        "`anonymous: \"read\"` or `anonymous: \"read-write\"` explicitly"
    )
  }
  const basePath = normalizeBase(options.basePath)
  const maxBodyBytes = options.maxBodyBytes ?? defaults.maxBodyBytes
  const maxPageSize = Math.min(options.maxPageSize ?? defaults.maxPageSize, 100)
  const publicPaths = new Set(options.publicPaths ?? defaults.publicPaths)
  const anonymous: Principal = {
    id: "anonymous",
    canRead: true,
    canWrite: options.anonymous === "read-write"
  }
  const authorize: Authorize = options.authorize ?? (() => anonymous)

  const api = Api.CertificationApi.annotateMerge(
    OpenApi.annotations({ servers: [{ url: basePath === "" ? "/" : basePath }] })
  )

  const routes = HttpApiBuilder.layer(api, { openapiPath: "/openapi.json" }).pipe(
    Layer.provide(Handlers.layer({ maxPageSize, metrics: options.metrics ?? Handlers.defaultMetrics }))
  )
  const app = Layer.mergeAll(
    routes,
    options.docs === false ? Layer.empty : HttpApiScalar.layer(api, { path: "/docs" }),
    ErrorEnvelopes
  ).pipe(
    Layer.provide(serviceLayer(options.certification)),
    Layer.provide(HttpServer.layerServices)
  )
  const web = HttpRouter.toWebHandler(app, { disableLogger: true })

  const fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url)
    if (basePath !== "" && url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`)) {
      return errorResponse(404, "NOT_FOUND", "no such endpoint")
    }
    const path = url.pathname.slice(basePath.length) || "/"
    const method = request.method.toUpperCase()

    let principal: Principal = anonymous
    if (!publicPaths.has(path)) {
      const headers: Record<string, string> = {}
      request.headers.forEach((value, key) => {
        headers[key] = value
      })
      let verdict: Principal | AuthFailure
      try {
        verdict = await authorize({ method, path, headers })
      } catch (error) {
        console.error("certification API: the authorize hook threw", error)
        return errorResponse(500, "INTERNAL_ERROR", "authorization failed")
      }
      if (isAuthFailure(verdict)) {
        return verdict.status === 401
          ? errorResponse(401, "UNAUTHORIZED", verdict.message ?? "authentication required")
          : errorResponse(403, "FORBIDDEN", verdict.message ?? "not allowed")
      }
      const needsWrite = method !== "GET" && method !== "HEAD"
      if (needsWrite ? !verdict.canWrite : !verdict.canRead) {
        return errorResponse(
          403,
          "FORBIDDEN",
          `principal "${verdict.id}" lacks ${needsWrite ? "write" : "read"} permission`
        )
      }
      principal = verdict
    }

    let body: Uint8Array | null = null
    const headers = new Headers(request.headers)
    if (bodyMethods.has(method)) {
      const declared = Number(request.headers.get("content-length") ?? "0")
      if (declared > maxBodyBytes) {
        return errorResponse(413, "PAYLOAD_TOO_LARGE", `request body is over the limit of ${maxBodyBytes} bytes`, {
          limit: maxBodyBytes
        })
      }
      const bytes = await readLimited(request.body, maxBodyBytes)
      if (bytes === null) {
        return errorResponse(413, "PAYLOAD_TOO_LARGE", `request body is over the limit of ${maxBodyBytes} bytes`, {
          limit: maxBodyBytes
        })
      }
      const text = new TextDecoder().decode(bytes)
      if (text.trim() === "") {
        body = new TextEncoder().encode("{}")
      } else {
        try {
          JSON.parse(text)
        } catch (error) {
          return errorResponse(400, "MALFORMED_JSON", `request body is not valid JSON: ${(error as Error).message}`)
        }
        body = bytes
      }
      // Every payload of this API is JSON; a missing or odd content type should not change that.
      headers.set("content-type", "application/json")
      headers.set("content-length", String(body.byteLength))
    }
    const inner = new Request(new URL(`${path}${url.search}`, url.origin), {
      method,
      headers,
      signal: request.signal,
      ...(body === null ? {} : { body: body.slice().buffer })
    })
    return web.handler(inner, Context.make(Handlers.CurrentPrincipal, principal))
  }

  const node = (req: Http.IncomingMessage, res: Http.ServerResponse, next?: (error?: unknown) => void): void => {
    const original = (req as { originalUrl?: string }).originalUrl ?? req.url ?? "/"
    const pathname = original.split("?")[0] ?? "/"
    if (basePath !== "" && pathname !== basePath && !pathname.startsWith(`${basePath}/`)) {
      if (next !== undefined) return next()
    }
    const controller = new AbortController()
    res.on("close", () => controller.abort())
    const headers = new Headers()
    for (const [key, value] of Object.entries(req.headers)) {
      if (value === undefined) continue
      headers.set(key, Array.isArray(value) ? value.join(", ") : value)
    }
    const method = (req.method ?? "GET").toUpperCase()
    // A host body parser (express.json()) may have consumed the stream already.
    const parsed = (req as { body?: unknown }).body
    const consumed = req.readableEnded && parsed !== undefined
    const body = !bodyMethods.has(method)
      ? undefined
      : consumed
      ? JSON.stringify(parsed)
      : (new ReadableStream<Uint8Array>({
        start(c) {
          req.on("data", (chunk: Buffer) => c.enqueue(new Uint8Array(chunk)))
          req.on("end", () => c.close())
          req.on("error", (e) => c.error(e))
        },
        cancel() {
          req.resume()
        }
      }))
    if (consumed) headers.delete("content-length")
    const request = new Request(`http://${req.headers.host ?? "localhost"}${original}`, {
      method,
      headers,
      signal: controller.signal,
      ...(body === undefined ? {} : { body, duplex: "half" } as RequestInit)
    })
    fetch(request).then(
      (response) => writeResponse(response, res),
      (error: unknown) => {
        if (next !== undefined) return next(error)
        res.statusCode = 500
        res.end()
      }
    )
  }

  return { fetch, node, dispose: web.dispose }
}

const writeResponse = async (response: Response, res: Http.ServerResponse): Promise<void> => {
  res.statusCode = response.status
  response.headers.forEach((value, key) => res.setHeader(key, value))
  if (response.body === null) {
    res.end()
    return
  }
  res.flushHeaders()
  const reader = response.body.getReader()
  res.on("close", () => {
    reader.cancel().catch(() => undefined)
  })
  for (;;) {
    const { done, value } = await reader.read().catch(() => ({ done: true as const, value: undefined }))
    if (done) break
    res.write(value)
  }
  res.end()
}
