/**
 * Authorization on the server side: the host's authorize hook, asked once per request with the
 * method, the canonical path the router routed and the headers, and turned into the principal the
 * handlers see (`Api.CurrentPrincipal`) — or a 401 (with `WWW-Authenticate: Bearer`), a 403, or a
 * 503 when the hook itself fails. The same check guards the API operations (as the `Authorization`
 * middleware of `Api`) and the plugin's own routes (`/openapi.json`, `/docs`).
 *
 * GET and HEAD need `canRead`; every other method needs `canWrite`. Paths listed as public skip the
 * hook and run as a read-only anonymous principal.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Api from "./Api.ts"
import * as Envelope from "./Envelope.ts"

/** What the authorize hook sees. `path` is relative to the base path (`/jobs/123`), exactly as routed. */
export interface AuthRequest {
  readonly method: string
  readonly path: string
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>
}

/** The hook's refusal: 401 (who are you?) or 403 (not allowed). */
export interface AuthFailure {
  readonly status: 401 | 403
  readonly message?: string | undefined
}

export type Authorize = (
  request: AuthRequest
) => Promise<Api.Principal | AuthFailure> | Api.Principal | AuthFailure

/** The two anonymous modes: `"read"` (GET only) and `"read-write"` (everything). */
export type AnonymousMode = "read" | "read-write"

export const anonymousModes: ReadonlyArray<AnonymousMode> = ["read", "read-write"]

/** How requests are authorized: the host's hook, or an explicit anonymous mode. */
export type Policy =
  | { readonly _tag: "Hook"; readonly authorize: Authorize; readonly publicPaths: ReadonlySet<string> }
  | { readonly _tag: "Anonymous"; readonly mode: AnonymousMode }

const publicPrincipal: Api.Principal = { id: "anonymous", canRead: true, canWrite: false }

const isPrincipal = (u: unknown): u is Api.Principal =>
  Predicate.isObject(u) && typeof u.id === "string" && typeof u.canRead === "boolean" && typeof u.canWrite === "boolean"

const isAuthFailure = (u: unknown): u is AuthFailure => Predicate.isObject(u) && (u.status === 401 || u.status === 403)

/** The refusals an authorization can end in. */
export type Refusal = Api.Unauthorized | Api.Forbidden | Api.ServiceUnavailable

const unavailable = () =>
  Envelope.fail(503, "SERVICE_UNAVAILABLE", "authorization is temporarily unavailable; retry later")

const messageOf = (failure: AuthFailure, fallback: string): string =>
  typeof failure.message === "string" && failure.message !== "" ? failure.message : fallback

/** Ask the hook, logging (at WARN, without the request) when it throws or answers nonsense. */
const askHook = (authorize: Authorize, request: AuthRequest): Effect.Effect<Api.Principal, Refusal> =>
  Effect.callback<Api.Principal, Refusal>((resume) => {
    const hookFailed = (reason: string) =>
      resume(Effect.andThen(Effect.logWarning(`certification API: the authorize hook ${reason}`), Effect.fail(unavailable())))
    // The hook may be sync or async, and may throw either way.
    Promise.resolve().then(() => authorize(request)).then(
      (verdict: unknown) => {
        if (isAuthFailure(verdict)) {
          return resume(Effect.fail(
            verdict.status === 401
              ? Envelope.fail(401, "UNAUTHORIZED", messageOf(verdict, "authentication required"))
              : Envelope.fail(403, "FORBIDDEN", messageOf(verdict, "not allowed"))
          ))
        }
        if (isPrincipal(verdict)) return resume(Effect.succeed(verdict))
        hookFailed("returned neither a principal { id, canRead, canWrite } nor { status: 401 | 403 }")
      },
      (cause: unknown) => hookFailed(cause instanceof Error ? `threw ${cause.name}: ${cause.message}` : "threw")
    )
  })

/** The principal of one request under the policy (before the permission check). */
const decide = (policy: Policy, request: AuthRequest): Effect.Effect<Api.Principal, Refusal> => {
  if (policy._tag === "Anonymous") {
    return Effect.succeed({ id: "anonymous", canRead: true, canWrite: policy.mode === "read-write" })
  }
  if (policy.publicPaths.has(request.path)) return Effect.succeed(publicPrincipal)
  return askHook(policy.authorize, request)
}

const readMethods: ReadonlySet<string> = new Set(["GET", "HEAD"])

/** Authorize the current (gated) request: its principal, or the 401/403/503 to answer. */
export const authorize = (policy: Policy) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const queryAt = request.url.indexOf("?")
    const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt)
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(request.headers)) headers[name] = value
    return Effect.flatMap(decide(policy, { method: request.method, path, headers }), (principal) => {
      const needsWrite = !readMethods.has(request.method)
      if (needsWrite ? principal.canWrite : principal.canRead) return Effect.succeed(principal)
      return Effect.fail(
        Envelope.fail(403, "FORBIDDEN", `principal "${principal.id}" lacks ${needsWrite ? "write" : "read"} permission`)
      )
    })
  })

/** The `Authorization` middleware of `Api`: every operation runs with the principal the hook granted. */
export const layer = (policy: Policy): Layer.Layer<Api.Authorization> =>
  Layer.succeed(Api.Authorization)({
    bearer: (httpEffect) =>
      Effect.flatMap(authorize(policy), (principal) => Effect.provideService(httpEffect, Api.CurrentPrincipal, principal))
  })

/** The same check for routes outside the `HttpApi` (`/openapi.json`, `/docs`), answering with the envelope. */
export const routeMiddleware = (policy: Policy) =>
  HttpRouter.middleware((httpEffect) =>
    Effect.matchEffect(authorize(policy), {
      onFailure: (error) => Effect.succeed(Envelope.response(statusOf(error), error.error.code, error.error.message)),
      onSuccess: () => httpEffect
    })
  ).layer

const statusOf = (error: Refusal): number =>
  error instanceof Api.Unauthorized ? 401 : error instanceof Api.Forbidden ? 403 : 503
