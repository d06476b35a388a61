/**
 * The endpoint suite's calls through the typed client (`@myia/certification-http/client`, issue 18):
 * a `(method, path, body)` call is routed to the client method of that endpoint, and the client's
 * answer (data, or a tagged error with its status and code) is turned back into the `{status, json}`
 * envelope the suite asserts on. So the same suite checks plain HTTP, the Effect client and the
 * Promise client against one host.
 */
import * as Client from "@myia/certification-http/client"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as FetchHttpClient from "effect/http/FetchHttpClient"

/** How the suite reaches the API. */
export type Via = "fetch" | "effect-client" | "promise-client"

type Request = Record<string, unknown>

interface Route {
  readonly method: string
  readonly path: RegExp
  readonly group: string
  readonly endpoint: string
  /** The status the endpoint answers on success (some answer 201 or 200 by what they did). */
  readonly status: number | ((data: any) => number)
  readonly request: (match: RegExpMatchArray, query: URLSearchParams, body: unknown) => Request
}

/** Query parameters as the client takes them: digits become numbers (pagination), the rest stays text. */
const queryOf = (query: URLSearchParams): Request =>
  Object.fromEntries([...query].map(([key, value]) => [key, /^\d+$/.test(value) ? Number(value) : value]))

const job = (match: RegExpMatchArray) => ({ params: { jobId: decodeURIComponent(match[1]!) } })

/** Every endpoint the suite calls, by method and path. */
const routes: ReadonlyArray<Route> = [
  { method: "POST", path: /^\/certify-model$/, group: "certify", endpoint: "certifyModel", status: 201, request: (_, __, payload) => ({ payload }) },
  { method: "POST", path: /^\/certify-multiple$/, group: "certify", endpoint: "certifyMultiple", status: 201, request: (_, __, payload) => ({ payload }) },
  { method: "POST", path: /^\/certify-all$/, group: "certify", endpoint: "certifyAll", status: 201, request: (_, __, payload) => ({ payload }) },
  { method: "GET", path: /^\/jobs\/([^/]+)$/, group: "jobs", endpoint: "getJob", status: 200, request: (m, q) => ({ ...job(m), query: queryOf(q) }) },
  {
    method: "GET",
    path: /^\/jobs\/([^/]+)\/units\/([^/]+)$/,
    group: "jobs",
    endpoint: "getJobUnit",
    status: 200,
    request: (m) => ({ params: { jobId: decodeURIComponent(m[1]!), unitId: decodeURIComponent(m[2]!) } })
  },
  { method: "DELETE", path: /^\/jobs\/([^/]+)$/, group: "jobs", endpoint: "cancel", status: 200, request: job },
  { method: "POST", path: /^\/jobs\/([^/]+)\/retry$/, group: "jobs", endpoint: "retry", status: 201, request: job },
  { method: "GET", path: /^\/history$/, group: "results", endpoint: "history", status: 200, request: (_, q) => ({ query: queryOf(q) }) },
  { method: "GET", path: /^\/certifications$/, group: "results", endpoint: "certifications", status: 200, request: (_, q) => ({ query: queryOf(q) }) },
  { method: "GET", path: /^\/stats$/, group: "results", endpoint: "stats", status: 200, request: () => ({}) },
  { method: "GET", path: /^\/regions$/, group: "results", endpoint: "regions", status: 200, request: () => ({}) },
  { method: "GET", path: /^\/models$/, group: "results", endpoint: "models", status: 200, request: (_, q) => ({ query: queryOf(q) }) },
  { method: "GET", path: /^\/principal$/, group: "session", endpoint: "principal", status: 200, request: () => ({}) },
  {
    method: "POST",
    path: /^\/recertify$/,
    group: "recertification",
    endpoint: "recertify",
    status: (data) => (data?.jobId === null ? 200 : 201),
    request: (_, __, payload) => ({ payload })
  },
  { method: "GET", path: /^\/schedule$/, group: "recertification", endpoint: "getSchedule", status: 200, request: () => ({}) },
  { method: "PUT", path: /^\/schedule$/, group: "recertification", endpoint: "putSchedule", status: 200, request: (_, __, payload) => ({ payload }) },
  { method: "POST", path: /^\/jobs\/([^/]+)\/pause$/, group: "recertification", endpoint: "pause", status: 200, request: job },
  { method: "POST", path: /^\/jobs\/([^/]+)\/resume$/, group: "recertification", endpoint: "resume", status: 200, request: job },
  { method: "GET", path: /^\/registry\/diff$/, group: "registry", endpoint: "registryDiff", status: 200, request: (_, q) => ({ query: queryOf(q) }) }
]

const routeOf = (method: string, path: string) => {
  const url = new URL(path, "http://host")
  for (const route of routes) {
    const match = method === route.method ? url.pathname.match(route.path) : null
    if (match !== null) return { route, match, query: url.searchParams }
  }
  throw new Error(`no typed-client route for ${method} ${path}`)
}

type Outcome = { readonly ok: true; readonly data: unknown } | { readonly ok: false; readonly error: Client.ClientError }

/** One call through the chosen client, as the `{status, json}` the suite reads. */
export const clientCall = (via: Exclude<Via, "fetch">, origin: string, token: string) => {
  const promiseClient = Client.makePromise({ baseUrl: origin, token }) as unknown as Record<string, Record<string, (r: Request) => Promise<unknown>>>
  const run = (group: string, endpoint: string, request: Request): Promise<Outcome> =>
    via === "promise-client"
      ? promiseClient[group]![endpoint]!(request).then(
        (data): Outcome => ({ ok: true, data }),
        (error: Client.ClientError): Outcome => ({ ok: false, error })
      )
      : Effect.runPromise(
        Client.make({ baseUrl: origin, token }).pipe(
          Effect.flatMap((client) =>
            (client as unknown as Record<string, Record<string, (r: Request) => Effect.Effect<unknown, Client.ClientError>>>)[
              group
            ]![endpoint]!(request)
          ),
          Effect.match({ onSuccess: (data): Outcome => ({ ok: true, data }), onFailure: (error): Outcome => ({ ok: false, error }) }),
          Effect.provide(FetchHttpClient.layer)
        )
      )
  return async (method: string, path: string, body?: string): Promise<{ status: number; json: any }> => {
    const { route, match, query } = routeOf(method, path)
    const outcome = await run(route.group, route.endpoint, route.request(match, query, body === undefined ? undefined : JSON.parse(body)))
    if (outcome.ok) {
      const status = typeof route.status === "number" ? route.status : route.status(outcome.data)
      return { status, json: { status: "success", data: outcome.data } }
    }
    const { status, code, message, details } = outcome.error
    return { status, json: { status: "error", error: details === undefined ? { code, message } : { code, message, details } } }
  }
}

/** The progress events of a job through the chosen client, until the stream ends. */
export const clientEvents = async (via: Exclude<Via, "fetch">, origin: string, token: string, jobId: string) => {
  if (via === "promise-client") {
    const out: Array<unknown> = []
    for await (const event of await Client.makePromise({ baseUrl: origin, token }).jobs.events({ params: { jobId: jobId as any } })) {
      out.push(event.data)
    }
    return out
  }
  return Effect.runPromise(
    Client.make({ baseUrl: origin, token }).pipe(
      Effect.flatMap((client) => client.jobs.events({ params: { jobId: jobId as any } })),
      Effect.flatMap((stream) => Stream.runCollect(Stream.map(stream, (event) => event.data as unknown))),
      Effect.provide(FetchHttpClient.layer)
    )
  )
}
