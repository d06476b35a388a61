/**
 * What every request passes before the router: the request target is made relative to the base
 * path and must be canonical, the method must be one the API uses, and a body must be plain JSON
 * within the size limit. A request that fails gets its 4xx envelope here, so the router, the
 * authorize hook and the handlers only ever see requests they can take at face value.
 *
 * **Canonical paths.** The router matches exactly the path the authorize hook sees: no empty
 * segments (`//x`, trailing `/`), no dot segments, no percent-encoding, no `;` or `\`. (Ids in this
 * API are letters, digits, `_` and `-`, so a client never needs any of them.) The router is strict
 * too (case-sensitive, no slash folding), so no other spelling reaches a route.
 *
 * **Bodies.** Every body of this API is JSON, whatever `Content-Type` says (an odd one does not
 * change that; a body that is not JSON is a 400). Any `Content-Encoding` but `identity` is a 415; a
 * declared `Content-Length` over the limit is a 413 before anything is read, and Effect's
 * `MaxBodySize` cuts a longer stream. An empty body reads as `{}`, so the 400 names the missing
 * fields.
 *
 * @since 0.1.0
 */
import * as ByteSize from "effect/ByteSize"
import * as Effect from "effect/Effect"
import * as Headers from "effect/http/Headers"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Envelope from "./Envelope.ts"

/** The methods the API serves (HEAD is answered as GET). */
export const methods: ReadonlyArray<string> = ["GET", "HEAD", "POST", "PUT", "DELETE"]

const methodSet: ReadonlySet<string> = new Set(methods)

/** Longest accepted request target (path and query); Node itself caps the whole head at 16 KiB. */
export const maxTargetLength = 4096

// RFC 3986 pchar without "%" (no percent-encoding) and ";" (path parameters).
const segmentPattern = /^[A-Za-z0-9\-._~!$&'()*+,=:@]+$/

/** A refusal: the status, the envelope's code and message, and extra headers. */
export interface Refusal {
  readonly status: number
  readonly code: string
  readonly message: string
  readonly details?: unknown
  readonly headers?: Readonly<Record<string, string>>
}

const invalidPath = (message: string): Refusal => ({ status: 400, code: "INVALID_PATH", message })

/** Drop the scheme and authority of an absolute-form target (`http://host/x?y` → `/x?y`), nothing else. */
export const originForm = (target: string): string => {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target)
  if (match === null) return target
  const rest = target.slice(match[0].length)
  return rest === "" || rest[0] === "?" ? `/${rest}` : rest
}

/** Why a path (no query) is not canonical, or `undefined` when it is. */
export const pathIssue = (path: string): string | undefined => {
  if (path[0] !== "/") return "the request target must be a path starting with /"
  if (path === "/") return undefined
  const segments = path.slice(1).split("/")
  for (const segment of segments) {
    if (segment === "") return "the path must not contain empty segments (// or a trailing /)"
    if (segment === "." || segment === "..") return "the path must not contain . or .. segments"
    if (!segmentPattern.test(segment)) {
      return "the path may only contain letters, digits and - . _ ~ ! $ & ' ( ) * + , = : @ (no percent-encoding)"
    }
  }
  return undefined
}

/**
 * Check a request target against the base path: the target relative to the base path, `null` when
 * it lies outside it, or a refusal.
 */
export const relativeTarget = (target: string, basePath: string): string | null | Refusal => {
  if (target.length > maxTargetLength) {
    return { status: 414, code: "URI_TOO_LONG", message: `the request target is longer than ${maxTargetLength} characters` }
  }
  const form = originForm(target)
  if (form.includes("#")) return invalidPath("the request target must not contain a fragment (#)")
  const queryAt = form.indexOf("?")
  const path = queryAt === -1 ? form : form.slice(0, queryAt)
  const query = queryAt === -1 ? "" : form.slice(queryAt)
  const issue = pathIssue(path)
  if (issue !== undefined) return invalidPath(issue)
  if (basePath === "") return form
  if (path === basePath) return `/${query}`
  if (!path.startsWith(`${basePath}/`)) return null
  return path.slice(basePath.length) + query
}

const isRefusal = (u: string | null | Refusal): u is Refusal => u !== null && typeof u === "object"

/** The parts of a Node request the mount reads (Express adds `originalUrl`, `baseUrl` and `body`). */
export interface NodeRequestLike {
  readonly httpVersion?: string | undefined
  readonly headers?: Readonly<Record<string, string | ReadonlyArray<string> | undefined>> | undefined
  readonly url?: string | undefined
  readonly originalUrl?: string | undefined
  readonly baseUrl?: string | undefined
  readonly readableEnded?: boolean | undefined
  readonly body?: unknown
}

/**
 * The target of a Node request relative to the plugin. Under Express, `req.url` is already relative
 * to the mount path (`req.baseUrl`), so Express's own matching decides; on `node:http` (or a router
 * that does not strip) the base path is removed here.
 */
export const nodeTarget = (req: NodeRequestLike, basePath: string): string | null | Refusal => {
  // RFC 9112 §3.2 (Node refuses this itself, without a body, unless the server sets requireHostHeader: false).
  if (req.httpVersion === "1.1" && req.headers?.host === undefined) {
    return { status: 400, code: "MISSING_HOST", message: "an HTTP/1.1 request needs a Host header" }
  }
  const url = req.url ?? "/"
  const mounted = typeof req.baseUrl === "string" && req.baseUrl !== ""
  return mounted ? relativeTarget(url, "") : relativeTarget(req.originalUrl ?? url, basePath)
}

const bodyMethods: ReadonlySet<string> = new Set(["POST", "PUT", "DELETE"])

const headerIssue = (request: HttpServerRequest.HttpServerRequest, maxBodyBytes: number): Refusal | undefined => {
  const headers = request.headers
  const encoding = headers["content-encoding"]
  if (encoding !== undefined && encoding.trim().toLowerCase() !== "identity") {
    return {
      status: 415,
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: "request bodies must not be compressed (Content-Encoding must be identity or absent)"
    }
  }
  const length = headers["content-length"]
  if (length !== undefined && Number(length) > maxBodyBytes) {
    return {
      status: 413,
      code: "PAYLOAD_TOO_LARGE",
      message: `request body is over the limit of ${maxBodyBytes} bytes`,
      details: { limit: maxBodyBytes }
    }
  }
  return undefined
}

/** Whether the request has a body: a non-zero Content-Length, a chunked transfer, or a Fetch body stream. */
const hasBody = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const length = request.headers["content-length"]
  if (length !== undefined) return length !== "0"
  if (request.headers["transfer-encoding"] !== undefined) return true
  return request.source instanceof Request && request.source.body !== null
}

/** A request with the same method and headers and this JSON text as its body. */
const withBody = (request: HttpServerRequest.HttpServerRequest, url: string, text: string) => {
  const headers = new globalThis.Headers()
  for (const [name, value] of Object.entries(request.headers)) {
    if (name !== "content-length" && name !== "transfer-encoding" && name !== "host") headers.set(name, value)
  }
  headers.set("content-type", "application/json")
  const web = new Request("http://localhost/", { method: request.method, headers, body: text })
  return HttpServerRequest.fromWeb(web).modify({ url })
}

/** How the mount reads the target (Node or Fetch) and the body limit the gate enforces. */
export interface GateOptions {
  readonly maxBodyBytes: number
  readonly target: (request: HttpServerRequest.HttpServerRequest) => string | null | Refusal
}

/** The envelope response of a refusal. */
export const refusalResponse = (refusal: Refusal) =>
  Envelope.response(refusal.status, refusal.code, refusal.message, {
    ...(refusal.details === undefined ? {} : { details: refusal.details }),
    ...(refusal.headers === undefined ? {} : { headers: refusal.headers })
  })

const refuse = (refusal: Refusal) => Effect.succeed(refusalResponse(refusal))

/**
 * Run `app` behind the gate: the request it sees has the relative, canonical target as its URL
 * and its body capped at `maxBodyBytes`.
 */
export const make = (options: GateOptions) =>
<E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    if (!methodSet.has(request.method)) {
      return refuse({
        status: 405,
        code: "METHOD_NOT_ALLOWED",
        message: `method ${request.method} is not allowed`,
        headers: { allow: methods.join(", ") }
      })
    }
    const target = options.target(request)
    if (target === null) return refuse({ status: 404, code: "NOT_FOUND", message: "no such endpoint" })
    if (isRefusal(target)) return refuse(target)
    const issue = headerIssue(request, options.maxBodyBytes)
    if (issue !== undefined) return refuse(issue)
    const source = request.source as NodeRequestLike
    // A host body parser (express.json()) consumed the stream already: serve its result.
    const consumed = source.readableEnded === true && source.body !== undefined && bodyMethods.has(request.method)
    const routed = consumed
      ? withBody(request, target, JSON.stringify(source.body))
      : (request.method === "POST" || request.method === "PUT") && !hasBody(request)
      ? withBody(request, target, "{}")
      : bodyMethods.has(request.method)
      ? request.modify({ url: target, headers: Headers.set(request.headers, "content-type", "application/json") })
      : request.modify({ url: target })
    return app.pipe(
      Effect.provideService(HttpServerRequest.HttpServerRequest, routed),
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(options.maxBodyBytes))
    )
  })
