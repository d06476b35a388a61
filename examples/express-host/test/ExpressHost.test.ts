import { BedrockEmulator } from "@myia/certification/testing"
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import postgres from "postgres"
import { afterAll, beforeAll } from "vitest"
import { fromEnv, toEnv } from "../src/config.ts"

// The server runs as its own process, as in production (and because vitest's resolve conditions
// make Node's require() load the ESM build of Express's CommonJS dependencies).
const node = (file: string, env: Record<string, string>) =>
  spawn(process.execPath, ["--conditions=@myia/source", fileURLToPath(new URL(file, import.meta.url))], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"]
  })

const reachable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.end()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const services = (await reachable(5432)) && (await reachable(6379))
if (!services && process.env.CI !== undefined) {
  throw new Error("PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are required when CI is set")
}

const run = `eh_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`
const good = "amazon.nova-lite-v1:0"

describe.skipIf(!services)("Express host on PostgreSQL + Redis with a separate worker process", () => {
  let emulator: BedrockEmulator.EmulatorHandle
  let server: ChildProcess
  let worker: ChildProcess
  let origin: string
  const auth = { authorization: "Bearer rw-token" }
  const read = { authorization: "Bearer ro-token" }

  beforeAll(async () => {
    emulator = await BedrockEmulator.start({ port: 0 })
    const config = {
      ...fromEnv({}),
      schema: run,
      redisPrefix: run,
      queueName: `q-${run}`,
      concurrency: 2,
      bedrockEndpoint: emulator.url
    }
    server = node("../src/server.ts", {
      ...toEnv(config),
      PORT: "0",
      CERTIFICATION_API_TOKEN: "rw-token",
      CERTIFICATION_API_READ_TOKEN: "ro-token"
    })
    origin = await new Promise<string>((resolve, reject) => {
      let out = ""
      server.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        const match = /listening on (http:\/\/\S+)/.exec(out)
        if (match) resolve(match[1]!.replace("localhost", "127.0.0.1"))
      })
      server.once("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)))
    })
    worker = node("../src/worker.ts", toEnv(config))
  })

  afterAll(async () => {
    await Promise.all([worker, server].map((child) =>
      child === undefined || child.exitCode !== null
        ? undefined
        : new Promise<void>((resolve) => {
          child.once("exit", () => resolve())
          child.kill("SIGTERM")
        })
    ))
    await emulator?.close()
    const sql = postgres("postgres://postgres@127.0.0.1:5432/test", { max: 1, onnotice: () => {} })
    await sql.unsafe(`drop schema if exists "${run}" cascade`)
    await sql.end()
  })

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = auth) => {
    const response = await fetch(`${origin}${path}`, {
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

  it("a job certified through the API is run by the worker process and streamed over SSE", async () => {
    const created = await call("POST", "/certify-multiple", { modelIds: [good], regions: ["us-east-1", "us-west-2"] })
    assert.strictEqual(created.status, 201, JSON.stringify(created.json))
    const jobId = created.json.data.jobId
    const events = await fetch(`${origin}/jobs/${jobId}/events`, { headers: auth })
    const lines = (await events.text()).split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5)))
    assert.strictEqual(lines[lines.length - 1].status, "COMPLETED")
    assert.isTrue(lines.some((e) => e.type === "unit-completed"), "unit events from the worker process")
    const job = await call("GET", `/jobs/${jobId}`)
    assert.strictEqual(job.json.data.status, "COMPLETED")
    assert.strictEqual(job.json.data.createdBy, "api-token")
    assert.deepStrictEqual(job.json.data.certifications.map((c: any) => c.status), ["CERTIFIED", "CERTIFIED"])
  })

  it("history, certifications, stats, regions and models read from PostgreSQL", async () => {
    const history = await call("GET", "/history?limit=1")
    assert.strictEqual(history.json.data.pagination.total, 1)
    const certs = await call("GET", "/certifications?region=us-west-2")
    assert.strictEqual(certs.json.data.certifications.length, 1)
    const stats = await call("GET", "/stats")
    assert.strictEqual(stats.json.data.unitsByVerdict.CERTIFIED, 2)
    assert.isAtLeast((await call("GET", "/regions")).json.data.length, 20)
    const models = await call("GET", "/models?region=us-east-1")
    assert.isTrue(models.json.data.find((m: any) => m.id === good).latest.length === 1)
  })

  it("cancel of a finished job is a 409 and retry with nothing failed is a 409; bad input is a 400", async () => {
    const [job] = (await call("GET", "/history")).json.data.jobs
    assert.strictEqual((await call("DELETE", `/jobs/${job.id}`)).status, 409)
    assert.strictEqual((await call("POST", `/jobs/${job.id}/retry`)).status, 409)
    assert.strictEqual((await call("GET", "/jobs/nope")).status, 404)
    const bad = await call("POST", "/certify-model", { modelId: good, region: "nowhere-1" })
    assert.strictEqual(bad.status, 400)
    assert.strictEqual((await call("GET", "/history")).json.data.pagination.total, 1)
  })

  it("a queued job can be cancelled", async () => {
    const created = await call("POST", "/certify-all", { regions: ["eu-west-1", "ap-northeast-1"] })
    assert.strictEqual(created.status, 201)
    const cancelled = await call("DELETE", `/jobs/${created.json.data.jobId}`)
    assert.strictEqual(cancelled.status, 200)
    assert.strictEqual(cancelled.json.data.status, "CANCELLED")
  })

  it("health, metrics, openapi.json and docs are served (health, docs and openapi without a token)", async () => {
    assert.strictEqual((await fetch(`${origin}/health`)).status, 200)
    assert.strictEqual((await fetch(`${origin}/openapi.json`)).status, 200)
    assert.strictEqual((await fetch(`${origin}/docs`)).status, 200)
    assert.strictEqual((await fetch(`${origin}/metrics`, { headers: read })).status, 200)
  })
})
