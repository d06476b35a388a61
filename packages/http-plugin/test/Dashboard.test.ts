/**
 * The dashboard as the plugin serves it (issue 19): the committed bundle is what the sources build
 * to and stays within the size budget; the shell and its assets are served without the authorize
 * hook and hold no data; caching, compression and the Content-Security-Policy; the opt-out; and
 * `GET /principal`, which the page asks to know what to show, goes through the hook like all data.
 * The page itself is driven in a real browser by `examples/express-host/test/Dashboard.test.ts`.
 */
import { createCertificationHandler, Dashboard } from "@myia/certification-http"
import * as Memory from "@myia/certification-memory"
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Zlib from "node:zlib"
import { afterAll } from "vitest"
import { readSse } from "../dashboard/sse.ts"
import { generate, outputFile } from "../scripts/build-dashboard.ts"

const base = "/api/certification-queue"
const readToken = "read-token"

/** Every hook call, to prove the page and its assets never reach it. */
const hookCalls: Array<string> = []

const make = (options: { dashboard?: boolean } = {}) =>
  createCertificationHandler({
    certification: { storage: Memory.MemoryStorage.layer, queue: Memory.MemoryQueue.layer(), worker: false },
    basePath: base,
    authorize: ({ headers, path }) => {
      hookCalls.push(path)
      return headers.authorization === `Bearer ${readToken}`
        ? { id: "reader", canRead: true, canWrite: false }
        : { status: 401 }
    },
    ...options
  })

const plugin = make()
const without = make({ dashboard: false })

afterAll(async () => {
  await plugin.dispose()
  await without.dispose()
})

const get = (path: string, headers: Record<string, string> = {}, handler = plugin) =>
  handler.fetch(new Request(`http://host${base}${path}`, { headers }))

const gunzip = async (response: Response) => Zlib.gunzipSync(Buffer.from(await response.arrayBuffer())).toString()

describe("dashboard assets", () => {
  it("the committed bundle is what scripts/build-dashboard.ts makes of dashboard/ (rebuild it when this fails)", async () => {
    assert.strictEqual(Fs.readFileSync(outputFile, "utf8"), await generate())
  })

  it("shell, script and stylesheet together are at most 150 KB gzipped", async () => {
    let total = 0
    for (const path of [Dashboard.path, Dashboard.scriptPath, Dashboard.stylePath]) {
      const response = await get(path, { "accept-encoding": "gzip" })
      assert.strictEqual(response.status, 200, path)
      total += (await response.arrayBuffer()).byteLength
    }
    assert.isAtMost(total, 150 * 1024)
    assert.isAbove(total, 1024) // a real bundle, not an empty file
  })
})

describe("dashboard routes", () => {
  it("the shell, script and stylesheet are served without the authorize hook and hold no data", async () => {
    hookCalls.length = 0
    const shell = await get(Dashboard.path)
    assert.strictEqual(shell.status, 200)
    assert.match(shell.headers.get("content-type") ?? "", /^text\/html/)
    const html = await shell.text()
    assert.strictEqual(html, Dashboard.shell)
    // Relative URLs: under any base path the page finds its assets and the API next to it.
    assert.include(html, `src="ui/app-`)
    assert.notMatch(html, /https?:\/\//)
    const script = await get(Dashboard.scriptPath)
    assert.strictEqual(script.status, 200)
    assert.match(script.headers.get("content-type") ?? "", /^text\/javascript/)
    assert.isAbove((await script.text()).length, 1000)
    const style = await get(Dashboard.stylePath)
    assert.match(style.headers.get("content-type") ?? "", /^text\/css/)
    assert.deepStrictEqual(hookCalls, [])
  })

  it("assets are immutable for a year; the shell revalidates and answers 304 to its ETag", async () => {
    const script = await get(Dashboard.scriptPath)
    assert.strictEqual(script.headers.get("cache-control"), "public, max-age=31536000, immutable")
    const shell = await get(Dashboard.path)
    assert.strictEqual(shell.headers.get("cache-control"), "no-cache")
    const etag = shell.headers.get("etag")
    assert.isString(etag)
    const again = await get(Dashboard.path, { "if-none-match": etag! })
    assert.strictEqual(again.status, 304)
    assert.strictEqual(await again.text(), "")
  })

  it("bodies are compressed by Accept-Encoding (brotli preferred, then gzip, else identity)", async () => {
    const plain = await (await get(Dashboard.scriptPath)).text()
    const gz = await get(Dashboard.scriptPath, { "accept-encoding": "gzip, deflate" })
    assert.strictEqual(gz.headers.get("content-encoding"), "gzip")
    assert.strictEqual(gz.headers.get("vary"), "accept-encoding")
    assert.strictEqual(await gunzip(gz), plain)
    const br = await get(Dashboard.scriptPath, { "accept-encoding": "gzip, br" })
    assert.strictEqual(br.headers.get("content-encoding"), "br")
    assert.strictEqual(Zlib.brotliDecompressSync(Buffer.from(await br.arrayBuffer())).toString(), plain)
    const refused = await get(Dashboard.scriptPath, { "accept-encoding": "br;q=0, gzip;q=0" })
    assert.isNull(refused.headers.get("content-encoding"))
    assert.strictEqual(await refused.text(), plain)
    const gzBytes = (await (await get(Dashboard.scriptPath, { "accept-encoding": "gzip" })).arrayBuffer()).byteLength
    assert.isBelow(gzBytes, plain.length / 2)
  })

  it("a Content-Security-Policy lets the page reach its own origin only", async () => {
    const csp = (await get(Dashboard.path)).headers.get("content-security-policy") ?? ""
    assert.include(csp, "default-src 'none'")
    assert.include(csp, "connect-src 'self'")
    assert.include(csp, "script-src 'self'")
    assert.notInclude(csp, "unsafe-inline")
    assert.notInclude(csp, "http")
  })

  it("dashboard: false serves no page (404) and the API is unchanged", async () => {
    assert.strictEqual((await get(Dashboard.path, {}, without)).status, 404)
    assert.strictEqual((await get(Dashboard.scriptPath, {}, without)).status, 404)
    assert.strictEqual((await get("/principal", { authorization: `Bearer ${readToken}` }, without)).status, 200)
  })

  it("GET /principal goes through the hook: the read token is read-only, no token is a 401", async () => {
    hookCalls.length = 0
    const reader = await get("/principal", { authorization: `Bearer ${readToken}` })
    assert.strictEqual(reader.status, 200)
    assert.deepStrictEqual(await reader.json(), { status: "success", data: { id: "reader", canRead: true, canWrite: false } })
    const nobody = await get("/principal")
    assert.strictEqual(nobody.status, 401)
    assert.strictEqual(((await nobody.json()) as any).error.code, "UNAUTHORIZED")
    assert.deepStrictEqual(hookCalls, ["/principal", "/principal"])
  })
})

describe("the page's SSE reader", () => {
  it("yields each message's id and data, across chunk boundaries and CRLF, and skips heartbeats and comments", async () => {
    const wire = [
      "id: 1\nevent: message\ndata: {\"n\":1}\n\n",
      "event: heartbeat\ndata: \n\n",
      ": a comment\n\n",
      "id: 2\r\ndata: {\"n\":\r\ndata: 2}\r\n\r\n",
      "data: {\"n\":3}\n\n"
    ].join("")
    // Cut the stream every 7 bytes so events and lines arrive in pieces.
    const bytes = new TextEncoder().encode(wire)
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7))
        controller.close()
      }
    })
    const seen: Array<[string | undefined, string]> = []
    await readSse(body, (id, data) => void seen.push([id, data]))
    assert.deepStrictEqual(seen, [["1", "{\"n\":1}"], ["2", "{\"n\":\n2}"], [undefined, "{\"n\":3}"]])
  })
})
