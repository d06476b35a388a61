import { BedrockEmulator } from "@myia/certification/testing"
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"

// Same shape as ExpressHost.test.ts, on the memory adapters: no PostgreSQL or Redis, so this file
// always runs. The server is its own process (Express cannot be imported inside vitest workers) and,
// because a memory queue lives in one process, it runs the worker itself.
const good = "amazon.nova-lite-v1:0"

describe("Express host on the memory adapters with an embedded worker", () => {
  let emulator: BedrockEmulator.EmulatorHandle
  let server: ChildProcess
  let origin: string
  const auth = { authorization: "Bearer rw-token" }

  beforeAll(async () => {
    emulator = await BedrockEmulator.start({ port: 0 })
    server = spawn(
      process.execPath,
      ["--conditions=@myia/source", fileURLToPath(new URL("../src/server.ts", import.meta.url))],
      {
        env: {
          ...process.env,
          CERTIFICATION_ADAPTERS: "memory",
          // Points nowhere: the memory host must not touch PostgreSQL or Redis at all.
          DATABASE_URL: "postgres://nobody@127.0.0.1:1/none",
          REDIS_URL: "redis://127.0.0.1:1",
          BEDROCK_ENDPOINT: emulator.url,
          CERTIFICATION_CONCURRENCY: "2",
          PORT: "0",
          CERTIFICATION_API_TOKEN: "rw-token",
          CERTIFICATION_API_READ_TOKEN: "ro-token"
        },
        stdio: ["ignore", "pipe", "inherit"]
      }
    )
    origin = await new Promise<string>((resolve, reject) => {
      let out = ""
      server.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        const match = /listening on (http:\/\/\S+)/.exec(out)
        if (match) resolve(match[1]!.replace("localhost", "127.0.0.1"))
      })
      server.once("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)))
    })
  })

  afterAll(async () => {
    if (server !== undefined && server.exitCode === null) {
      await new Promise<void>((resolve) => {
        server.once("exit", () => resolve())
        server.kill("SIGTERM")
      })
    }
    await emulator?.close()
  })

  const call = async (method: string, path: string, body?: string) => {
    const response = await fetch(`${origin}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body })
    })
    return { status: response.status, json: (await response.json()) as any }
  }

  /** Poll the job every 100 ms until it is terminal (bounded by the test timeout). */
  const pollUntilTerminal = async (jobId: string) => {
    const seen = new Set<string>()
    for (;;) {
      const job = await call("GET", `/jobs/${jobId}`)
      assert.strictEqual(job.status, 200, JSON.stringify(job.json))
      seen.add(job.json.data.status)
      if (["COMPLETED", "FAILED", "CANCELLED"].includes(job.json.data.status)) return { job: job.json.data, seen }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  it("certify → poll → complete: the embedded worker runs the units and the API reports the verdicts", async () => {
    const created = await call("POST", "/certify-multiple", JSON.stringify({ modelIds: [good], regions: ["us-east-1", "us-west-2"] }))
    assert.strictEqual(created.status, 201, JSON.stringify(created.json))
    assert.strictEqual(created.json.status, "success")
    assert.strictEqual(created.json.data.totalJobs, 2)

    const { job } = await pollUntilTerminal(created.json.data.jobId)
    assert.strictEqual(job.status, "COMPLETED")
    assert.strictEqual(job.createdBy, "api-token")
    assert.strictEqual(job.processedModels, 2)
    assert.strictEqual(job.successCount, 2)
    assert.deepStrictEqual(
      job.certifications.map((c: any) => [c.region, c.status, c.model.apiModelId]).sort(),
      [["us-east-1", "CERTIFIED", good], ["us-west-2", "CERTIFIED", good]]
    )
    assert.isTrue(job.certifications.every((c: any) => c.tests.length > 0 && c.score >= 80))

    const history = await call("GET", "/history")
    assert.strictEqual(history.json.data.pagination.total, 1)
    assert.strictEqual(history.json.data.jobs[0].id, job.id)
    const certs = await call("GET", "/certifications?region=us-west-2")
    assert.deepStrictEqual(certs.json.data.certifications.map((c: any) => c.status), ["CERTIFIED"])
  })

  // Each row: a bad request, the documented status and error code, and a fragment of the message.
  const badInput: ReadonlyArray<readonly [string, string, string, string | undefined, number, string, string]> = [
    ["unknown region", "POST", "/certify-model", JSON.stringify({ modelId: good, region: "nowhere-1" }), 400, "VALIDATION_ERROR", "region"],
    ["malformed JSON", "POST", "/certify-model", "{\"modelId\":", 400, "MALFORMED_JSON", "not valid JSON"],
    ["missing field", "POST", "/certify-model", JSON.stringify({ modelId: good }), 400, "VALIDATION_ERROR", "region"],
    ["unknown model", "POST", "/certify-model", JSON.stringify({ modelId: "acme.nope-v1:0", region: "us-east-1" }), 400, "MODELS_NOT_CERTIFIABLE", "acme.nope-v1:0"],
    ["page size over the limit", "GET", "/history?limit=101", undefined, 400, "VALIDATION_ERROR", "limit"],
    ["unknown job", "GET", "/jobs/no-such-job", undefined, 404, "JOB_NOT_FOUND", "no-such-job"]
  ]

  it("every bad-input row gets its 4xx envelope with a specific message and creates no job", async () => {
    const before = (await call("GET", "/history")).json.data.pagination.total
    for (const [name, method, path, body, status, code, fragment] of badInput) {
      const response = await call(method, path, body)
      assert.strictEqual(response.status, status, `${name}: ${JSON.stringify(response.json)}`)
      assert.strictEqual(response.json.status, "error", name)
      assert.strictEqual(response.json.error.code, code, `${name}: ${JSON.stringify(response.json)}`)
      assert.include(JSON.stringify(response.json.error), fragment, name)
    }
    assert.strictEqual((await call("GET", "/history")).json.data.pagination.total, before)
  })
})
