import { BedrockEmulator } from "@myia/certification/emulator"
import { assert, describe, it } from "@effect/vitest"
import { toEnv } from "../src/config.ts"
import { endpointSuite, good, type Host, listening, node, stop } from "./endpointSuite.ts"
import { dropSchema, requireServices, runConfig, runName } from "./services.ts"

// The shared endpoint suite on PostgreSQL + Redis, with the server and the worker as separate
// processes, as in production (and because vitest's resolve conditions make Node's require() load the
// ESM build of Express's CommonJS dependencies). Each run has its own schema, Redis prefix and queue.
const services = await requireServices()

const run = runName("eh")

const start = async (): Promise<Host> => {
  const emulator = await BedrockEmulator.start({ port: 0 })
  const config = runConfig(run, emulator.url)
  const server = node("server.ts", {
    ...toEnv(config),
    PORT: "0",
    CERTIFICATION_API_TOKEN: "rw-token",
    CERTIFICATION_API_READ_TOKEN: "ro-token"
  })
  let worker: ReturnType<typeof node> | undefined
  const close = async () => {
    await Promise.all([stop(worker), stop(server)])
    await emulator.close()
    await dropSchema(run)
  }
  const origin = await listening(server).catch(async (error) => {
    await close()
    throw error
  })
  worker = node("worker.ts", toEnv(config))
  return { origin, emulator, close }
}

describe.skipIf(!services)("Express host on PostgreSQL + Redis", () => {
  endpointSuite("with a separate worker process", start, (host) => {
    const auth = { authorization: "Bearer rw-token" }
    const read = { authorization: "Bearer ro-token" }
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = auth) => {
      const response = await fetch(`${host().origin}${path}`, {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      return { status: response.status, json: (await response.json()) as any }
    }

    it("the API answers 401 without a token and 403 for the read-only token on writes", async () => {
      assert.strictEqual((await call("GET", "/history", undefined, {})).status, 401)
      const denied = await call("POST", "/certify-model", { modelId: good, region: "us-east-1" }, read)
      assert.strictEqual(denied.status, 403)
      assert.strictEqual((await call("GET", "/history", undefined, read)).status, 200)
    })

    it("a queued job can be cancelled", async () => {
      const created = await call("POST", "/certify-all", { regions: ["eu-west-1", "ap-northeast-1"] })
      assert.strictEqual(created.status, 201)
      const cancelled = await call("DELETE", `/jobs/${created.json.data.jobId}`)
      assert.strictEqual(cancelled.status, 200)
      assert.strictEqual(cancelled.json.data.status, "CANCELLED")
    })

    it("health, ready, metrics, openapi.json and docs are served (health, ready, docs and openapi without a token)", async () => {
      const origin = host().origin
      assert.strictEqual((await fetch(`${origin}/health`)).status, 200)
      const ready = await fetch(`${origin}/ready`)
      assert.strictEqual(ready.status, 200)
      assert.strictEqual(((await ready.json()) as { data: { clock: { reference: string } } }).data.clock.reference, "database")
      assert.strictEqual((await fetch(`${origin}/openapi.json`)).status, 200)
      assert.strictEqual((await fetch(`${origin}/docs`)).status, 200)
      assert.strictEqual((await fetch(`${origin}/metrics`, { headers: read })).status, 200)
    })
  })
})
