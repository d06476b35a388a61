/**
 * Hostile traffic against both documented Node mounts — the Express host (`server.ts`) and the plugin
 * on a bare `node:http` server (`plainNodeHost.ts`) — each its own process on PostgreSQL + Redis, with
 * a separate worker. Every row of `hostileCases.ts` goes over a raw TCP socket (fetch cannot send
 * `Host: a b` or a broken chunk), and for each the test checks: the documented answer (a 4xx JSON
 * envelope, or the documented success), no stack trace or file path in the bytes, the process still
 * answers `/health`, and no PostgreSQL row was added, removed or changed. Then races: concurrent
 * retries and one Idempotency-Key across both processes, double cancel, retry during cancel.
 */
import { BedrockEmulator, Scenario } from "@myia/certification/emulator"
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import postgres from "postgres"
import { afterAll, beforeAll } from "vitest"
import { toEnv } from "../src/config.ts"
import { base, type Case, cases, type Expect, ro, rw } from "./hostileCases.ts"
import { requireServices, runConfig, runName } from "./services.ts"

const services = await requireServices()

const run = runName("hostile")
const good = "amazon.nova-lite-v1:0"
const wrong = "amazon.nova-micro-v1:0"
const slow = "amazon.nova-pro-v1:0"

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

interface Proc {
  readonly child: ChildProcess
  readonly output: () => string
}

const start = (file: string, env: Record<string, string>): Proc => {
  const child = spawn(process.execPath, ["--conditions=@myia/source", fileURLToPath(new URL(file, import.meta.url))], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  return { child, output: () => output }
}

const portOf = (proc: Proc): Promise<number> =>
  new Promise((resolve, reject) => {
    const check = () => {
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(proc.output())
      if (match) resolve(Number(match[1]))
    }
    proc.child.stdout!.on("data", check)
    proc.child.once("exit", (code) => reject(new Error(`exited with ${code}: ${proc.output()}`)))
    check()
  })

const stop = (proc: Proc | undefined): Promise<void> =>
  proc === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => {
      proc.child.once("exit", () => resolve())
      proc.child.kill("SIGTERM")
    })

// ---------------------------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------------------------

interface Answer {
  readonly status: number | "closed"
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly raw: string
}

const dechunk = (body: string): string => {
  let out = ""
  let rest = body
  for (;;) {
    const end = rest.indexOf("\r\n")
    const size = parseInt(rest.slice(0, end), 16)
    if (end === -1 || !Number.isFinite(size) || size === 0) return out
    out += rest.slice(end + 2, end + 2 + size)
    rest = rest.slice(end + 2 + size + 2)
  }
}

/** Send bytes on a fresh connection and read until the server closes it (every request asks it to). */
const send = (port: number, request: string | Buffer, truncate = false): Promise<Answer> =>
  new Promise((resolve) => {
    const socket = Net.connect(port, "127.0.0.1")
    const chunks: Array<Buffer> = []
    const done = () => {
      clearTimeout(timer)
      // Interim 1xx answers (100 Continue) come before the final one.
      const raw = Buffer.concat(chunks).toString("latin1").replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, "")
      const head = raw.indexOf("\r\n\r\n")
      const status = /^HTTP\/1\.1 (\d{3})/.exec(raw)
      if (status === null || head === -1) return resolve({ status: "closed", headers: {}, body: "", raw })
      const headers: Record<string, string> = {}
      for (const line of raw.slice(0, head).split("\r\n").slice(1)) {
        const colon = line.indexOf(":")
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      const payload = raw.slice(head + 4)
      const body = headers["transfer-encoding"] === "chunked" ? dechunk(payload) : payload
      resolve({ status: Number(status[1]), headers, body: Buffer.from(body, "latin1").toString("utf8"), raw })
    }
    const timer = setTimeout(() => socket.destroy(), 10_000)
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("close", done)
    socket.on("error", () => undefined)
    const bytes = typeof request === "string" ? Buffer.from(request, "utf8") : request
    socket.write(withConnectionClose(bytes))
    if (truncate) socket.end()
  })

/** Add `Connection: close` after the request line unless the request sets Connection itself. */
const withConnectionClose = (bytes: Buffer): Buffer => {
  const text = bytes.toString("latin1")
  const eol = text.indexOf("\r\n")
  if (eol === -1 || /\r\nconnection:/i.test(text.slice(0, text.indexOf("\r\n\r\n") + 2))) return bytes
  return Buffer.concat([bytes.subarray(0, eol + 2), Buffer.from("Connection: close\r\n"), bytes.subarray(eol + 2)])
}

// No stack frame, source file, dependency path or absolute path may ever reach a client.
const leak = /at [^\n]*\([^)\n]*:\d+:\d+\)|\/work\/|node_modules|\.ts:\d|\/home\/|\/usr\/|\/tmp\/|file:\/\//

const expected = (want: Expect): ReadonlyArray<number | "closed"> =>
  typeof want.status === "number" || want.status === "closed" ? [want.status] : want.status

/** The answer is the documented one: its status, and a JSON envelope (an error with its code). */
const checkAnswer = (answer: Answer, want: Expect, options: { readonly isHead: boolean; readonly envelope: boolean }) => {
  assert.include(expected(want), answer.status, answer.raw.slice(0, 600))
  assert.notMatch(answer.raw, leak)
  if (answer.status === "closed") return
  assert.isBelow(answer.status, 500, answer.raw.slice(0, 600))
  assert.match(answer.headers["content-type"] ?? "", /^application\/json/, answer.raw.slice(0, 600))
  if (options.isHead) return assert.strictEqual(answer.body, "")
  const json = JSON.parse(answer.body) as { status: string; openapi?: string; error?: { code: string; message: string } }
  if (!options.envelope) return assert.match(json.openapi ?? "", /^3\./)
  if (answer.status >= 400) {
    assert.strictEqual(json.status, "error")
    assert.isString(json.error?.message)
    if (want.code !== undefined) assert.strictEqual(json.error?.code, want.code, answer.body)
    if (answer.status === 401) assert.strictEqual(answer.headers["www-authenticate"], "Bearer")
  } else {
    assert.strictEqual(json.status, "success")
  }
}

// ---------------------------------------------------------------------------------------------
// Suite
// ---------------------------------------------------------------------------------------------

describe.skipIf(!services)("hostile traffic against the Express and node:http mounts (PostgreSQL + Redis)", () => {
  let emulator: BedrockEmulator.EmulatorHandle
  let sql: postgres.Sql
  const procs: Array<Proc> = []
  const ports: Record<"express" | "plain", number> = { express: 0, plain: 0 }

  beforeAll(async () => {
    emulator = await BedrockEmulator.start({
      port: 0,
      scenario: {
        ...Scenario.defaultScenarioInput(),
        rules: [
          { models: wrong, regions: "*", quality: "wrong" as const },
          { models: slow, regions: "*", latency: { ttftMs: { min: 20_000, max: 20_000 }, tokensPerSecond: 1_000 } }
        ]
      }
    })
    const config = runConfig(run, emulator.url)
    const env = { ...toEnv(config), PORT: "0", CERTIFICATION_API_TOKEN: "rw-token", CERTIFICATION_API_READ_TOKEN: "ro-token" }
    const express = start("../src/server.ts", env)
    procs.push(express)
    ports.express = await portOf(express)
    // The plain host and the worker start after the first process migrated the schema.
    const plain = start("./plainNodeHost.ts", env)
    procs.push(plain, start("../src/worker.ts", toEnv(config)))
    ports.plain = await portOf(plain)
    sql = postgres("postgres://postgres@127.0.0.1:5432/test", { max: 2, onnotice: () => {} })
  })

  afterAll(async () => {
    await Promise.all(procs.map(stop))
    await emulator?.close()
    await sql?.unsafe(`drop schema if exists "${run}" cascade`)
    await sql?.end()
  })

  /** Every row of the three tables, as text: unchanged means no row was added, removed or rewritten. */
  const snapshot = async () => {
    const rows = await sql.unsafe(`
      SELECT (SELECT count(*) FROM "${run}".jobs) AS jobs, (SELECT count(*) FROM "${run}".units) AS units,
        (SELECT count(*) FROM "${run}".latest_results) AS latest,
        (SELECT coalesce(md5(string_agg(j::text, '' ORDER BY j.id)), '') FROM "${run}".jobs j) AS jobs_hash,
        (SELECT coalesce(md5(string_agg(u::text, '' ORDER BY u.id)), '') FROM "${run}".units u) AS units_hash`)
    return rows[0]
  }

  const alive = async (host: "express" | "plain") => {
    for (const proc of procs) assert.isNull(proc.child.exitCode, proc.output().slice(-2000))
    const health = await send(ports[host], `GET ${base}/health HTTP/1.1\r\nHost: localhost\r\n\r\n`)
    assert.strictEqual(health.status, 200, health.raw)
  }

  for (const host of ["express", "plain"] as const) {
    const rows = cases.filter((row) => host === "plain" || row.plainOnly !== true)
    describe(`${host === "express" ? "Express host" : "node:http mount"}: ${rows.length} hostile requests`, () => {
      it.each(rows)("$name", async (row: Case) => {
        const before = await snapshot()
        const answer = await send(ports[host], row.request, row.truncate === true)
        const want = host === "plain" && row.plain !== undefined ? row.plain : row.expect
        const isHead = (typeof row.request === "string" ? row.request : row.request.toString("latin1")).startsWith("HEAD ")
        checkAnswer(answer, want, { isHead, envelope: row.envelope !== false })
        await alive(host)
        assert.deepStrictEqual(await snapshot(), before, "PostgreSQL rows changed")
      })
    })
  }

  // -------------------------------------------------------------------------------------------
  // Races (over fetch: these requests are well-formed)
  // -------------------------------------------------------------------------------------------

  const call = async (host: "express" | "plain", method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`http://127.0.0.1:${ports[host]}${base}${path}`, {
      method,
      headers: { authorization: rw, ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    assert.notMatch(text, leak)
    assert.isBelow(response.status, 500, text)
    return { status: response.status, json: JSON.parse(text) as any }
  }

  const until = async (jobId: string, done: (job: any) => boolean) => {
    for (;;) {
      const job = (await call("express", "GET", `/jobs/${jobId}`)).json.data
      if (done(job)) return job
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  const terminal = (job: any) => ["COMPLETED", "FAILED", "CANCELLED"].includes(job.status)
  const children = async (jobId: string) =>
    Number((await sql.unsafe(`SELECT count(*) AS n FROM "${run}".jobs WHERE parent_job_id = $1`, [jobId]))[0]!.n)

  it("five concurrent retries of one job, across both processes, create one RECERTIFY job", async () => {
    const created = await call("express", "POST", "/certify-model", { modelId: wrong, region: "us-east-1" })
    const job = await until(created.json.data.jobId, terminal)
    assert.strictEqual(job.certifications[0].status, "FAILED")
    const hosts = ["express", "plain", "express", "plain", "express"] as const
    const retries = await Promise.all(hosts.map((host) => call(host, "POST", `/jobs/${job.id}/retry`)))
    assert.strictEqual(new Set(retries.map((r) => r.json.data.jobId)).size, 1, JSON.stringify(retries))
    assert.deepStrictEqual(retries.map((r) => r.status).sort(), [200, 200, 200, 200, 201])
    assert.strictEqual(await children(job.id), 1)
    await until(retries[0]!.json.data.jobId, terminal)
  })

  it("one Idempotency-Key sent to both processes at once creates one job; another body under it is a 409", async () => {
    const key = `hostile-${crypto.randomUUID()}`
    const body = { modelIds: [good], regions: ["eu-west-1"] }
    const before = Number((await snapshot())!.jobs)
    const answers = await Promise.all(
      (["express", "plain", "express", "plain"] as const).map((host) =>
        call(host, "POST", "/certify-multiple", body, { "idempotency-key": key })
      )
    )
    assert.strictEqual(new Set(answers.map((a) => a.json.data.jobId)).size, 1)
    assert.deepStrictEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 201])
    assert.strictEqual(Number((await snapshot())!.jobs), before + 1)
    const other = await call("plain", "POST", "/certify-multiple", { ...body, regions: ["eu-west-2"] }, { "idempotency-key": key })
    assert.strictEqual(other.status, 409)
    assert.strictEqual(other.json.error.code, "IDEMPOTENCY_CONFLICT")
    assert.strictEqual(Number((await snapshot())!.jobs), before + 1)
    await until(answers[0]!.json.data.jobId, terminal)
  })

  it("a double cancel from both processes: one 200, one 409, every unit CANCELLED and nothing written after", async () => {
    const created = await call("express", "POST", "/certify-multiple", { modelIds: [slow], regions: ["us-east-1", "us-west-2"] })
    const jobId = created.json.data.jobId
    await until(jobId, (job) => job.status === "PROCESSING")
    const cancels = await Promise.all([call("express", "DELETE", `/jobs/${jobId}`), call("plain", "DELETE", `/jobs/${jobId}`)])
    assert.deepStrictEqual(cancels.map((c) => c.status).sort(), [200, 409], JSON.stringify(cancels))
    const read = async () =>
      sql.unsafe(`SELECT status FROM "${run}".units WHERE job_id = $1 ORDER BY id`, [jobId]).then((r) => r.map((u) => u.status))
    assert.deepStrictEqual(await read(), ["CANCELLED", "CANCELLED"])
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.deepStrictEqual(await read(), ["CANCELLED", "CANCELLED"])
    const job = await sql.unsafe(`SELECT status FROM "${run}".jobs WHERE id = $1`, [jobId])
    assert.strictEqual(job[0]!.status, "CANCELLED")
  })

  it("retry during cancel: both answer without a 5xx, the job ends CANCELLED and at most one retry exists", async () => {
    const created = await call("express", "POST", "/certify-multiple", { modelIds: [wrong, slow], regions: ["us-east-1"] })
    const jobId = created.json.data.jobId
    await until(jobId, (job) => job.certifications.some((c: any) => c.status === "FAILED"))
    const [cancel, retry] = await Promise.all([
      call("plain", "DELETE", `/jobs/${jobId}`),
      call("express", "POST", `/jobs/${jobId}/retry`)
    ])
    assert.strictEqual(cancel.status, 200, JSON.stringify(cancel.json))
    assert.include([201, 409], retry.status, JSON.stringify(retry.json))
    assert.isAtMost(await children(jobId), 1)
    const units = await sql.unsafe(`SELECT model_id, status FROM "${run}".units WHERE job_id = $1 ORDER BY model_id`, [jobId])
    assert.deepStrictEqual(units.map((u) => [u.model_id, u.status]), [[wrong, "FAILED"], [slow, "CANCELLED"]])
    if (retry.status === 201) await until(retry.json.data.jobId, terminal)
  })

  it("after all of it both API processes and the worker still run, and none logged an error or a stack", async () => {
    await alive("express")
    await alive("plain")
    for (const proc of procs) {
      assert.notMatch(proc.output(), /\bERROR\b|Unhandled|uncaught/i, proc.output().slice(-3000))
      assert.notMatch(proc.output(), /^\s+at .*\(/m, proc.output().slice(-3000))
    }
    // The read-only token is for reads only, and every answer above came back as JSON.
    assert.strictEqual((await fetch(`http://127.0.0.1:${ports.plain}${base}/history`, { headers: { authorization: ro } })).status, 200)
  })
})
