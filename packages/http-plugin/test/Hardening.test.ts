/**
 * The plugin's defences one by one, through the Fetch handler and a bare node:http server: start-up
 * refuses options that would open the API by accident, `/openapi.json` declares the bearer scheme on
 * every protected operation, the authorize hook sees exactly the routed path, a failing hook is a 503
 * that leaks nothing, a failing backend is a generic 503 logged at WARN once per outage, and a body a
 * host parser already consumed is served from `req.body`.
 */
import { Storage } from "@myia/certification"
import { createCertificationHandler, Handlers, HttpPlugin } from "@myia/certification-http"
import * as Memory from "@myia/certification-memory"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { TestClock } from "effect/testing"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

const base = "/api/certification-queue"
const certification = { storage: Memory.MemoryStorage.layer, queue: Memory.MemoryQueue.layer(), worker: false as const, logLevel: "None" as const }

type Handler = ReturnType<typeof createCertificationHandler>
const handlers: Array<Handler> = []
const plugin = (options: Omit<HttpPlugin.Options, "certification"> & Partial<Pick<HttpPlugin.Options, "certification">>) => {
  const handler = createCertificationHandler({ certification, basePath: base, ...options } as HttpPlugin.Options)
  handlers.push(handler)
  return handler
}
afterAll(async () => {
  await Promise.all(handlers.map((h) => h.dispose()))
})

const call = async (handler: Handler, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) => {
  const response = await handler.fetch(new Request(`http://host${base}${path}`, { method, ...init }))
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, json: JSON.parse(text) as any }
}

describe("start-up refuses options that would open the API by accident", () => {
  const refusals: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    ["no authorize and no anonymous", {}, "an `authorize` hook is required"],
    ["authorize: null (anonymous reads before)", { authorize: null }, "`authorize` must be a function (got null)"],
    ["authorize as a string", { authorize: "yes" }, "`authorize` must be a function (got string)"],
    ["anonymous: \"bogus\"", { anonymous: "bogus" }, "exactly \"read\" or \"read-write\" (got \"bogus\")"],
    ["anonymous: true", { anonymous: true }, "(got true)"],
    ["anonymous in upper case", { anonymous: "READ" }, "(got \"READ\")"],
    ["both authorize and anonymous", { authorize: () => ({ status: 401 }), anonymous: "read" }, "not both"],
    ["a base path with an empty segment", { anonymous: "read", basePath: "/api//x" }, "`basePath` must be a canonical path"],
    ["a base path with percent-encoding", { anonymous: "read", basePath: "/api%2Fx" }, "`basePath` must be a canonical path"],
    ["maxBodyBytes 0", { anonymous: "read", maxBodyBytes: 0 }, "`maxBodyBytes` must be a whole number"],
    ["maxBodyBytes fractional", { anonymous: "read", maxBodyBytes: 1.5 }, "`maxBodyBytes` must be a whole number"],
    ["maxBodyBytes as a string", { anonymous: "read", maxBodyBytes: "64k" }, "`maxBodyBytes` must be a whole number"],
    ["maxPageSize over 100", { anonymous: "read", maxPageSize: 101 }, "`maxPageSize` must be a whole number from 1 to 100"],
    ["publicPaths not an array", { anonymous: "read", publicPaths: "/health" }, "`publicPaths` must be an array"],
    ["a public path without a slash", { anonymous: "read", publicPaths: ["health"] }, "`publicPaths[]` must be a canonical path"]
  ]
  it.each(refusals)("%s", (_name, options, message) => {
    const error = (() => {
      try {
        createCertificationHandler({ certification, ...options } as unknown as HttpPlugin.Options)
      } catch (error) {
        return error
      }
      return undefined
    })()
    assert.instanceOf(error, HttpPlugin.PluginConfigError)
    assert.include((error as Error).message, message)
  })

  it("a base path without its leading slash or with a trailing slash is normalized", async () => {
    const handler = plugin({ anonymous: "read", basePath: "api/certification-queue/" })
    assert.strictEqual((await call(handler, "GET", "/health")).status, 200)
  })
})

describe("/openapi.json declares the bearer scheme", () => {
  const operations = (spec: any) =>
    Object.entries(spec.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method, security: op.security }))
    )

  it("every protected operation requires it; public paths do not", async () => {
    const handler = plugin({ authorize: () => ({ id: "x", canRead: true, canWrite: true }) })
    const spec = (await call(handler, "GET", "/openapi.json")).json
    assert.deepStrictEqual(spec.components.securitySchemes.bearer, { type: "http", scheme: "Bearer" })
    const all = operations(spec)
    assert.isAtLeast(all.length, 14)
    for (const op of all) {
      assert.deepStrictEqual(op.security, ["/health", "/ready"].includes(op.path) ? [] : [{ bearer: [] }], `${op.method} ${op.path}`)
    }
  })

  it("under anonymous access no operation requires it", async () => {
    const spec = (await call(plugin({ anonymous: "read-write" }), "GET", "/openapi.json")).json
    for (const op of operations(spec)) assert.deepStrictEqual(op.security, [], `${op.method} ${op.path}`)
  })
})

describe("the authorize hook", () => {
  it("sees the method, the routed path without the base path or query, and lower-case headers", async () => {
    const seen: Array<HttpPlugin.AuthRequest> = []
    const handler = plugin({
      authorize: (request) => {
        seen.push(request)
        return { id: "reader", canRead: true, canWrite: false }
      }
    })
    assert.strictEqual((await call(handler, "GET", "/jobs/abc?x=1", { headers: { "X-Token": "t" } })).status, 404)
    assert.strictEqual(seen.length, 1)
    assert.strictEqual(seen[0]!.method, "GET")
    assert.strictEqual(seen[0]!.path, "/jobs/abc")
    assert.strictEqual(seen[0]!.headers["x-token"], "t")
    // Non-canonical spellings are refused before routing, so the hook never sees them. (A Fetch
    // Request has already resolved dot segments; the raw-socket suite of the Express host sends them.)
    for (const path of ["//jobs/abc", "/jobs/abc/", "/jobs/%61bc", "/jobs/abc;x", "/jobs;x/abc"]) {
      assert.strictEqual((await call(handler, "GET", path)).status, 400, path)
    }
    assert.strictEqual(seen.length, 1)
  })

  it("a 401 carries WWW-Authenticate: Bearer and the hook's message", async () => {
    const handler = plugin({ authorize: () => ({ status: 401, message: "who are you?" }) })
    const { status, headers, json } = await call(handler, "GET", "/stats")
    assert.strictEqual(status, 401)
    assert.strictEqual(headers.get("www-authenticate"), "Bearer")
    assert.deepStrictEqual(json.error, { code: "UNAUTHORIZED", message: "who are you?" })
  })

  const broken: ReadonlyArray<readonly [string, HttpPlugin.Authorize]> = [
    ["throws", () => {
      throw new Error("db password is hunter2")
    }],
    ["rejects", () => Promise.reject(new Error("db password is hunter2"))],
    ["returns null", () => null as never],
    ["returns {}", () => ({}) as never],
    ["returns status 500", () => ({ status: 500 }) as never]
  ]
  it.each(broken)("that %s is a generic 503 and leaks nothing", async (_name, authorize) => {
    const { status, text, json } = await call(plugin({ authorize }), "GET", "/stats")
    assert.strictEqual(status, 503)
    assert.strictEqual(json.error.code, "SERVICE_UNAVAILABLE")
    assert.notInclude(text, "hunter2")
  })
})

describe("infrastructure failures", () => {
  const failing = Layer.effect(Storage.Storage)(Effect.map(Memory.MemoryStorage.make, (storage) =>
    Storage.Storage.of({
      ...storage,
      history: () =>
        Effect.fail(new Storage.StorageError({
          operation: "history",
          reason: new Storage.StorageUnavailable({ message: "connect ECONNREFUSED 10.0.0.7:5432 SELECT * FROM secret" })
        }))
    })))

  it("a storage outage is a 503 with a generic message", async () => {
    const handler = plugin({ anonymous: "read", certification: { ...certification, storage: failing } })
    const { status, text, json } = await call(handler, "GET", "/history")
    assert.strictEqual(status, 503)
    assert.strictEqual(json.error.code, "SERVICE_UNAVAILABLE")
    assert.notMatch(text, /ECONNREFUSED|SELECT|10\.0\.0\.7/)
  })

  it.effect("the same backend failure is one WARN per minute; repeats inside it go to DEBUG", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        lines.push(`${logLevel}: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
      })
      const log = Handlers.makeOutageLog()
      const error = { _tag: "StorageError", message: "history: connect ECONNREFUSED" }
      const logged = Effect.provide(
        Effect.provideService(Effect.all([log(error), log(error), log(error)]), References.MinimumLogLevel, "All"),
        Logger.layer([capture])
      )
      yield* logged
      yield* TestClock.adjust("61 seconds")
      yield* logged
      assert.deepStrictEqual(lines.map((l) => l.split(":")[0]), ["Warn", "Debug", "Debug", "Warn", "Debug", "Debug"])
      assert.isTrue(lines.every((l) => !l.includes("\n    at ")))
    }))
})

describe("a body a host parser already read (express.json() before the plugin)", () => {
  it("is taken from req.body", async () => {
    const handler = plugin({ anonymous: "read-write" })
    const server = Http.createServer((req, res) => {
      let text = ""
      req.on("data", (chunk: Buffer) => (text += chunk.toString()))
      req.on("end", () => {
        ;(req as { body?: unknown }).body = JSON.parse(text)
        handler.node(req, res)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as AddressInfo
    const response = await fetch(`http://127.0.0.1:${port}${base}/certify-model`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ modelId: "acme.parsed-v1:0", region: "us-east-1" })
    })
    const json = (await response.json()) as any
    assert.strictEqual(response.status, 400)
    assert.strictEqual(json.error.code, "MODELS_NOT_CERTIFIABLE")
    assert.include(json.error.message, "acme.parsed-v1:0")
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
})
