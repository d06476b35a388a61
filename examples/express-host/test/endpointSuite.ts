import { BedrockEmulator, Scenario } from "@myia/certification/emulator"
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"
import { clientCall, clientEvents, type Via } from "./clientTransport.ts"

// The endpoint coverage both Express host tests share: the same test body runs against the memory
// adapters (embedded worker) and against PostgreSQL + Redis (separate worker process), so the two hosts
// cannot drift apart. Each caller owns its setup; the suite only needs an origin and the emulator.

/** A running host: its HTTP origin, the Bedrock emulator it calls, and how to stop both. */
export interface Host {
  readonly origin: string
  readonly emulator: BedrockEmulator.EmulatorHandle
  readonly close: () => Promise<void>
}

/** Spawn a host script (server or worker) as its own Node process with extra environment. */
export const node = (file: string, env: Record<string, string>): ChildProcess =>
  spawn(process.execPath, ["--conditions=@myia/source", fileURLToPath(new URL(`../src/${file}`, import.meta.url))], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"]
  })

/** Resolve the server's origin once it logs that it listens; reject if it exits first. */
export const listening = (server: ChildProcess): Promise<string> =>
  new Promise<string>((resolve, reject) => {
    let out = ""
    server.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening on (http:\/\/\S+)/.exec(out)
      if (match) resolve(match[1]!.replace("localhost", "127.0.0.1"))
    })
    server.once("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)))
  })

/** SIGTERM a child process and wait for it to exit (no-op if it never started or already exited). */
export const stop = (child: ChildProcess | undefined): Promise<void> =>
  child === undefined || child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => {
      child.once("exit", () => resolve())
      child.kill("SIGTERM")
    })

/** A model the default account certifies in every region these tests use. */
export const good = "amazon.nova-lite-v1:0"
// Answers every prompt wrongly, so its units end FAILED (the retry case).
const wrong = "amazon.nova-micro-v1:0"
// Twenty seconds before the first token, so a job of these is still running when the test cancels it.
const slow = ["amazon.nova-pro-v1:0", "meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-70b-instruct-v1:0"]
const terminal = ["COMPLETED", "FAILED", "CANCELLED"]

// The default account, minus its randomly denied models, plus slow models and one model that answers
// wrongly in the given regions.
const scenario = (wrongIn: string | ReadonlyArray<string>): Scenario.ScenarioInput => ({
  ...Scenario.defaultScenarioInput(),
  rules: [
    { models: wrong, regions: wrongIn, quality: "wrong" as const },
    { models: slow, regions: "*", latency: { ttftMs: { min: 20_000, max: 20_000 }, tokensPerSecond: 1_000 } }
  ]
})

/**
 * Register the shared endpoint tests under `name` against the host `start` brings up; `extra` may add
 * host-specific tests, which run after the shared ones (the shared tests count every job in history).
 */
export const endpointSuite = (
  name: string,
  start: () => Promise<Host>,
  extra?: (host: () => Host) => void,
  // Issue 18: the same tests through the typed client (Effect or Promise) instead of plain fetch.
  options: { readonly via?: Via } = {}
) =>
  describe(name, () => {
    let host: Host
    let emulator: BedrockEmulator.EmulatorHandle
    let origin: string
    const auth = { authorization: "Bearer rw-token" }

    beforeAll(async () => {
      host = await start()
      emulator = host.emulator
      origin = host.origin
      emulator.setScenario(scenario("*"))
    })

    afterAll(async () => {
      await host?.close()
    })

    const via = options.via ?? "fetch"
    const call = async (method: string, path: string, body?: string) => {
      if (via !== "fetch") return clientCall(via, origin, "rw-token")(method, path, body)
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
        const job = await call("GET", `/jobs/${jobId}?includeTests=true`)
        assert.strictEqual(job.status, 200, JSON.stringify(job.json))
        seen.add(job.json.data.status)
        if (terminal.includes(job.json.data.status)) return { job: job.json.data, seen }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }

    it("certify → poll → complete: the worker runs the units and the API reports the verdicts", async () => {
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

    /** Read an SSE response's `data:` lines until the stream ends or a terminal job-status arrives. */
    const readEvents = async (response: Response) => {
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
      const events: Array<any> = []
      let buffer = ""
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return events
        buffer += value
        const lines = buffer.split("\n")
        buffer = lines.pop()!
        for (const line of lines) {
          if (!line.startsWith("data:")) continue
          const event = JSON.parse(line.slice(5))
          events.push(event)
          if (event.type === "job-status" && terminal.includes(event.status)) {
            await reader.cancel()
            return events
          }
        }
      }
    }

    it("the SSE stream reports the job's units and ends on a terminal job-status", async () => {
      const body = JSON.stringify({ modelIds: [good], regions: ["us-east-1", "eu-west-1"] })
      const created = await call("POST", "/certify-multiple", body)
      assert.strictEqual(created.status, 201, JSON.stringify(created.json))
      const jobId = created.json.data.jobId
      if (via !== "fetch") {
        const events: Array<any> = await clientEvents(via, origin, "rw-token", jobId)
        assert.isTrue(events.every((e) => e.jobId === jobId), JSON.stringify(events))
        assert.strictEqual(events.at(-1).status, "COMPLETED", JSON.stringify(events))
        assert.strictEqual(new Set(events.filter((e) => e.type === "unit-completed").map((e) => e.unitId)).size, 2)
        const unknown = await clientEvents(via, origin, "rw-token", "no-such-job").then(() => undefined, (e) => e)
        assert.strictEqual(unknown?._tag, "JobNotFound")
        return
      }
      const response = await fetch(`${origin}/jobs/${jobId}/events`, { headers: auth })
      assert.strictEqual(response.status, 200)
      assert.include(response.headers.get("content-type") ?? "", "text/event-stream")
      const events = await readEvents(response)
      assert.isTrue(events.every((e) => e.jobId === jobId), JSON.stringify(events))
      const last = events.at(-1)
      assert.strictEqual(last.type, "job-status", JSON.stringify(events))
      assert.strictEqual(last.status, "COMPLETED", JSON.stringify(events))
      const completed = events.filter((e) => e.type === "unit-completed")
      assert.strictEqual(new Set(completed.map((e) => e.unitId)).size, 2, JSON.stringify(events))
      const job = await call("GET", `/jobs/${jobId}`)
      assert.strictEqual(job.json.data.status, last.status)

      const unknown = await fetch(`${origin}/jobs/no-such-job/events`, { headers: auth })
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(((await unknown.json()) as any).error.code, "JOB_NOT_FOUND")
    })

    it("cancelling a running multi-model job answers CANCELLED, a second cancel is a 409, an unknown id a 404", async () => {
      const created = await call("POST", "/certify-multiple", JSON.stringify({ modelIds: slow, regions: ["us-east-1"] }))
      assert.strictEqual(created.status, 201, JSON.stringify(created.json))
      const jobId = created.json.data.jobId
      for (;;) {
        const job = await call("GET", `/jobs/${jobId}`)
        assert.notInclude(terminal, job.json.data.status, "the slow job finished before it could be cancelled")
        if (job.json.data.status === "PROCESSING") break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const cancelled = await call("DELETE", `/jobs/${jobId}`)
      assert.strictEqual(cancelled.status, 200, JSON.stringify(cancelled.json))
      assert.strictEqual(cancelled.json.status, "success")
      assert.strictEqual(cancelled.json.data.id, jobId)
      assert.strictEqual(cancelled.json.data.status, "CANCELLED")
      // Each slow unit needs several one-second calls: none had finished, so none has a verdict.
      const units = (await call("GET", `/jobs/${jobId}`)).json.data.certifications
      assert.deepStrictEqual(units.map((u: any) => u.status), slow.map(() => "CANCELLED"), JSON.stringify(units))

      const again = await call("DELETE", `/jobs/${jobId}`)
      assert.strictEqual(again.status, 409, JSON.stringify(again.json))
      assert.strictEqual(again.json.error.code, "JOB_CONFLICT")
      const unknown = await call("DELETE", "/jobs/no-such-job")
      assert.strictEqual(unknown.status, 404, JSON.stringify(unknown.json))
      assert.strictEqual(unknown.json.error.code, "JOB_NOT_FOUND")

      // Interrupted units write nothing after the cancel: the job stays CANCELLED.
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.strictEqual((await call("GET", `/jobs/${jobId}`)).json.data.status, "CANCELLED")
    })

    let failedJobId = ""
    it("retry re-runs only the FAILED units of a job, as a new job", async () => {
      const body = JSON.stringify({ modelIds: [good, wrong], regions: ["us-east-1", "us-west-2"] })
      const created = await call("POST", "/certify-multiple", body)
      assert.strictEqual(created.status, 201, JSON.stringify(created.json))
      const { job } = await pollUntilTerminal(created.json.data.jobId)
      failedJobId = job.id
      const verdicts = (j: any) => j.certifications.map((c: any) => [c.model.apiModelId, c.region, c.status]).sort()
      assert.deepStrictEqual(verdicts(job), [
        [good, "us-east-1", "CERTIFIED"],
        [good, "us-west-2", "CERTIFIED"],
        [wrong, "us-east-1", "FAILED"],
        [wrong, "us-west-2", "FAILED"]
      ])
      assert.strictEqual(job.failureCount, 2)

      // The account's fault is fixed in us-east-1 only: the retry certifies there and fails again in us-west-2.
      emulator.setScenario(scenario(["us-west-2"]))
      try {
        const retried = await call("POST", `/jobs/${job.id}/retry`)
        assert.strictEqual(retried.status, 201, JSON.stringify(retried.json))
        assert.notStrictEqual(retried.json.data.jobId, job.id)
        assert.strictEqual(retried.json.data.type, "RECERTIFY")
        assert.strictEqual(retried.json.data.totalJobs, 2)
        assert.deepStrictEqual(retried.json.data.modelIds, [wrong])
        const { job: again } = await pollUntilTerminal(retried.json.data.jobId)
        assert.deepStrictEqual(verdicts(again), [[wrong, "us-east-1", "CERTIFIED"], [wrong, "us-west-2", "FAILED"]])
      } finally {
        emulator.setScenario(scenario("*"))
      }
      const unknown = await call("POST", "/jobs/no-such-job/retry")
      assert.strictEqual(unknown.status, 404, JSON.stringify(unknown.json))
      assert.strictEqual(unknown.json.error.code, "JOB_NOT_FOUND")
    })

    it("history filters by status and type, and pagination totals count the filtered jobs", async () => {
      const all = (await call("GET", "/history?limit=100")).json.data
      assert.isAtLeast(all.pagination.total, 4)
      assert.strictEqual(all.jobs.length, all.pagination.total)
      const filters: ReadonlyArray<readonly [string, (job: any) => boolean]> = [
        ["status=COMPLETED", (j) => j.status === "COMPLETED"],
        ["status=CANCELLED", (j) => j.status === "CANCELLED"],
        ["status=FAILED", (j) => j.status === "FAILED"],
        ["type=MULTIPLE_MODELS", (j) => j.type === "MULTIPLE_MODELS"],
        ["type=SINGLE_MODEL", (j) => j.type === "SINGLE_MODEL"],
        ["type=RECERTIFY", (j) => j.type === "RECERTIFY"],
        ["status=CANCELLED&type=MULTIPLE_MODELS", (j) => j.status === "CANCELLED" && j.type === "MULTIPLE_MODELS"]
      ]
      for (const [query, keep] of filters) {
        const expected = all.jobs.filter(keep).map((j: any) => j.id).sort()
        const page = (await call("GET", `/history?${query}&limit=100`)).json.data
        assert.deepStrictEqual(page.jobs.map((j: any) => j.id).sort(), expected, query)
        assert.strictEqual(page.pagination.total, expected.length, query)
      }
      assert.include(all.jobs.filter((j: any) => j.status === "CANCELLED").map((j: any) => j.type), "MULTIPLE_MODELS")

      // Page through two at a time: the pages are disjoint, cover every job, and agree on the totals.
      const limit = 2
      const totalPages = Math.ceil(all.pagination.total / limit)
      const seen: Array<string> = []
      for (let page = 1; page <= totalPages + 1; page++) {
        const data = (await call("GET", `/history?page=${page}&limit=${limit}`)).json.data
        assert.deepStrictEqual(data.pagination, { page, limit, total: all.pagination.total, totalPages })
        const expected = page <= totalPages ? Math.min(limit, all.pagination.total - (page - 1) * limit) : 0
        assert.strictEqual(data.jobs.length, expected)
        seen.push(...data.jobs.map((j: any) => j.id))
      }
      assert.deepStrictEqual(seen, all.jobs.map((j: any) => j.id))
    })

    it("certifications filter by model, region and verdict", async () => {
      const all = (await call("GET", "/certifications?limit=100")).json.data
      assert.strictEqual(all.certifications.length, all.pagination.total)
      assert.includeMembers(all.certifications.map((c: any) => c.status), ["CERTIFIED", "FAILED"])
      const filters: ReadonlyArray<readonly [string, (c: any) => boolean]> = [
        [`modelId=${wrong}`, (c) => c.modelId === wrong],
        ["region=eu-west-1", (c) => c.region === "eu-west-1"],
        ["status=FAILED", (c) => c.status === "FAILED"],
        [
          `modelId=${good}&region=us-east-1&status=CERTIFIED`,
          (c) => c.modelId === good && c.region === "us-east-1" && c.status === "CERTIFIED"
        ]
      ]
      for (const [query, keep] of filters) {
        const expected = all.certifications.filter(keep).map((c: any) => c.id).sort()
        assert.isAbove(expected.length, 0, query)
        const data = (await call("GET", `/certifications?${query}&limit=100`)).json.data
        assert.deepStrictEqual(data.certifications.map((c: any) => c.id).sort(), expected, query)
        assert.strictEqual(data.pagination.total, expected.length, query)
      }
    })

    it("stats, regions and models answer their documented shapes", async () => {
      const stats = await call("GET", "/stats")
      assert.strictEqual(stats.status, 200)
      const history = (await call("GET", "/history?limit=100")).json.data
      const byStatus: Record<string, number> = {}
      for (const job of history.jobs) byStatus[job.status] = (byStatus[job.status] ?? 0) + 1
      for (const [status, count] of Object.entries(byStatus)) {
        assert.strictEqual(stats.json.data.jobsByStatus[status], count, status)
      }
      assert.isAbove(stats.json.data.unitsByVerdict.CERTIFIED, 0)
      assert.isAbove(stats.json.data.unitsByVerdict.FAILED, 0)
      const east = stats.json.data.unitsByRegion.find((r: any) => r.region === "us-east-1")
      assert.isAtLeast(east.total, east.passed)
      assert.isAbove(east.passed, 0)
      assert.deepStrictEqual(Object.keys(stats.json.data.queue).sort(), ["active", "delayed", "failed", "waiting"])

      const regions = await call("GET", "/regions")
      assert.strictEqual(regions.status, 200)
      const ids = regions.json.data.map((r: any) => r.id)
      assert.includeMembers(ids, ["us-east-1", "us-west-2", "eu-west-1"])
      assert.isTrue(regions.json.data.every((r: any) => typeof r.name === "string" && r.name.length > 0))

      const models = await call("GET", "/models?region=us-east-1")
      assert.strictEqual(models.status, 200)
      const entry = models.json.data.find((m: any) => m.id === good)
      assert.strictEqual(entry.certifiability.region, "us-east-1")
      assert.isTrue(entry.certifiability.certifiable)
      assert.strictEqual(entry.latest.find((l: any) => l.region === "us-east-1").status, "CERTIFIED")
      assert.isTrue(models.json.data.every((m: any) => m.certifiability !== null && typeof m.vendor === "string"))
      const unscoped = await call("GET", "/models")
      assert.isTrue(unscoped.json.data.every((m: any) => m.certifiability === null))
    })

    // Continuous certification (issue 14): recertify by selection, the schedule, pause and resume.
    it("recertify, schedule, certifications by expiry and verdict, pause and resume answer their documented shapes", async () => {
      // Latest results by expiry and verdict: every result here is fresh (30 days).
      const day = 86_400_000
      const inAMonth = new Date(Date.now() + 31 * day).toISOString()
      const soon = (await call("GET", `/certifications?expiringBefore=${inAMonth}&verdict=FAILED,CERTIFIED&limit=100`)).json.data
      assert.isAbove(soon.pagination.total, 0)
      assert.isTrue(soon.certifications.every((c: any) => ["FAILED", "CERTIFIED"].includes(c.status) && c.expiresAt < inAMonth))
      const past = (await call("GET", "/certifications?expiringBefore=2001-01-01T00:00:00.000Z")).json.data
      assert.strictEqual(past.pagination.total, 0)

      // Nothing matches: 200 with jobId null and why.
      const none = await call("POST", "/recertify", JSON.stringify({ modelIds: ["amazon.titan-text-lite-v1"] }))
      assert.strictEqual(none.status, 200, JSON.stringify(none.json))
      assert.isNull(none.json.data.jobId)
      assert.include(none.json.data.reason, "no latest result")
      // The FAILED results of the wrong model: a RECERTIFY job with the reason of each pair.
      const redo = await call("POST", "/recertify", JSON.stringify({ modelIds: [wrong], verdicts: ["FAILED"] }))
      assert.strictEqual(redo.status, 201, JSON.stringify(redo.json))
      assert.strictEqual(redo.json.data.job.type, "RECERTIFY")
      assert.isAbove(redo.json.data.selected.length, 0)
      assert.isTrue(redo.json.data.selected.every((s: any) => s.modelId === wrong && s.reason === "requested"))
      const { job } = await pollUntilTerminal(redo.json.data.jobId)
      assert.strictEqual(job.type, "RECERTIFY")

      // The schedule: off until changed; the read-only token cannot change it.
      const schedule = await call("GET", "/schedule")
      assert.strictEqual(schedule.status, 200)
      assert.strictEqual(schedule.json.data.leadTimeDays, 3)
      assert.strictEqual(schedule.json.data.retryAfterHours, 6)
      const readOnly = await fetch(`${origin}/schedule`, {
        method: "PUT",
        headers: { authorization: "Bearer ro-token", "content-type": "application/json" },
        body: JSON.stringify({ enabled: true, schedule: "every 1h" })
      })
      assert.strictEqual(readOnly.status, 403)
      assert.strictEqual(((await readOnly.json()) as any).error.code, "FORBIDDEN")
      const changed = await call("PUT", "/schedule", JSON.stringify({ enabled: true, schedule: "0 3 * * *", leadTimeDays: 5 }))
      assert.strictEqual(changed.status, 200, JSON.stringify(changed.json))
      assert.strictEqual(changed.json.data.source, "stored")
      assert.match(changed.json.data.nextRunAt, /T03:00:00\.000Z$/)
      assert.strictEqual((await call("GET", "/schedule")).json.data.leadTimeDays, 5)
      const off = await call("PUT", "/schedule", JSON.stringify({ enabled: false }))
      assert.strictEqual(off.json.data.nextRunAt, null)

      // Pause a running job, pause it twice, resume, resume the running job, then cancel it.
      const created = await call("POST", "/certify-multiple", JSON.stringify({ modelIds: slow, regions: ["us-east-1"] }))
      const jobId = created.json.data.jobId
      for (;;) {
        const j = await call("GET", `/jobs/${jobId}`)
        assert.notInclude(terminal, j.json.data.status)
        if (j.json.data.status === "PROCESSING") break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const paused = await call("POST", `/jobs/${jobId}/pause`)
      assert.strictEqual(paused.status, 200, JSON.stringify(paused.json))
      assert.strictEqual(paused.json.data.status, "PAUSED")
      const twice = await call("POST", `/jobs/${jobId}/pause`)
      assert.strictEqual(twice.status, 409, JSON.stringify(twice.json))
      assert.strictEqual(twice.json.error.code, "JOB_CONFLICT")
      const resumed = await call("POST", `/jobs/${jobId}/resume`)
      assert.strictEqual(resumed.status, 200, JSON.stringify(resumed.json))
      assert.strictEqual(resumed.json.data.status, "PROCESSING")
      const running = await call("POST", `/jobs/${jobId}/resume`)
      assert.strictEqual(running.status, 409, JSON.stringify(running.json))
      assert.include(running.json.error.message, "not PAUSED")
      assert.strictEqual((await call("DELETE", `/jobs/${jobId}`)).json.data.status, "CANCELLED")
    })

    // Each row: a bad request, the documented status and error code, and a fragment of the message.
    // Paths may be functions: they name jobs the earlier tests left behind.
    type Row = readonly [string, string, string | (() => string), string | undefined, number, string, string]
    const manyModels = Array.from({ length: 101 }, (_, i) => `acme.model-${i}-v1:0`)
    const badInput: ReadonlyArray<Row> = [
      ["unknown region", "POST", "/certify-model", JSON.stringify({ modelId: good, region: "nowhere-1" }), 400, "VALIDATION_ERROR", "region"],
      ["malformed JSON", "POST", "/certify-model", "{\"modelId\":", 400, "MALFORMED_JSON", "not valid JSON"],
      ["missing field", "POST", "/certify-model", JSON.stringify({ modelId: good }), 400, "VALIDATION_ERROR", "region"],
      ["model id of the wrong type", "POST", "/certify-model", JSON.stringify({ modelId: 42, region: "us-east-1" }), 400, "VALIDATION_ERROR", "modelId"],
      ["model list of the wrong type", "POST", "/certify-multiple", JSON.stringify({ modelIds: good, regions: ["us-east-1"] }), 400, "VALIDATION_ERROR", "modelIds"],
      ["region list of the wrong type", "POST", "/certify-multiple", JSON.stringify({ modelIds: [good], regions: [1] }), 400, "VALIDATION_ERROR", "regions"],
      ["body is not an object", "POST", "/certify-model", JSON.stringify([good, "us-east-1"]), 400, "VALIDATION_ERROR", ""],
      ["unknown model", "POST", "/certify-model", JSON.stringify({ modelId: "acme.nope-v1:0", region: "us-east-1" }), 400, "MODELS_NOT_CERTIFIABLE", "acme.nope-v1:0"],
      ["body over the size limit", "POST", "/certify-multiple", JSON.stringify({ modelIds: [good], regions: ["us-east-1"], pad: "x".repeat(70_000) }), 413, "PAYLOAD_TOO_LARGE", "limit"],
      ["more models than a job may hold", "POST", "/certify-multiple", JSON.stringify({ modelIds: manyModels, regions: ["us-east-1"] }), 400, "VALIDATION_ERROR", "at most 100 models"],
      ["page size over the limit", "GET", "/history?limit=101", undefined, 400, "VALIDATION_ERROR", "limit"],
      ["page zero", "GET", "/history?page=0", undefined, 400, "VALIDATION_ERROR", "page"],
      ["page not a number", "GET", "/history?page=two", undefined, 400, "VALIDATION_ERROR", "page"],
      ["fractional page size", "GET", "/certifications?limit=1.5", undefined, 400, "VALIDATION_ERROR", "limit"],
      ["unknown status filter", "GET", "/history?status=DONE", undefined, 400, "VALIDATION_ERROR", "status"],
      ["unknown verdict filter", "GET", "/certifications?status=GREAT", undefined, 400, "VALIDATION_ERROR", "status"],
      ["unknown job", "GET", "/jobs/no-such-job", undefined, 404, "JOB_NOT_FOUND", "no-such-job"],
      ["cancelling a finished job", "DELETE", () => `/jobs/${failedJobId}`, undefined, 409, "JOB_CONFLICT", "status"],
      ["retrying a job with nothing to retry", "POST", () => `/jobs/${finishedJobId()}/retry`, undefined, 409, "JOB_CONFLICT", "no FAILED"],
      // Continuous certification (issue 14).
      ["recertify with an unknown field", "POST", "/recertify", JSON.stringify({ expiringWithinDays: 3, everything: true }), 400, "VALIDATION_ERROR", "everything"],
      ["recertify with negative days", "POST", "/recertify", JSON.stringify({ expiringWithinDays: -1 }), 400, "VALIDATION_ERROR", "expiringWithinDays"],
      ["recertify with an unknown verdict", "POST", "/recertify", JSON.stringify({ verdicts: ["GREAT"] }), 400, "VALIDATION_ERROR", "verdicts"],
      ["recertify with an unknown region", "POST", "/recertify", JSON.stringify({ regions: ["moon-1"] }), 400, "VALIDATION_ERROR", "regions"],
      ["schedule with a bad cron", "PUT", "/schedule", JSON.stringify({ schedule: "61 * * * *" }), 400, "VALIDATION_ERROR", "schedule"],
      ["schedule with a bad interval", "PUT", "/schedule", JSON.stringify({ schedule: "every 5 fortnights" }), 400, "VALIDATION_ERROR", "fortnights"],
      ["schedule with negative days", "PUT", "/schedule", JSON.stringify({ leadTimeDays: -3 }), 400, "VALIDATION_ERROR", "leadTimeDays"],
      ["schedule with an unknown field", "PUT", "/schedule", JSON.stringify({ every: "1h" }), 400, "VALIDATION_ERROR", "every"],
      ["expiry filter that is not an instant", "GET", "/certifications?expiringBefore=tomorrow", undefined, 400, "VALIDATION_ERROR", "expiringBefore"],
      ["unknown verdict in the verdict filter", "GET", "/certifications?verdict=CERTIFIED,GREAT", undefined, 400, "VALIDATION_ERROR", "GREAT"],
      ["pausing a finished job", "POST", () => `/jobs/${finishedJobId()}/pause`, undefined, 409, "JOB_CONFLICT", "cannot be paused"],
      ["resuming a job that is not paused", "POST", () => `/jobs/${finishedJobId()}/resume`, undefined, 409, "JOB_CONFLICT", "not PAUSED"],
      ["pausing an unknown job", "POST", "/jobs/no-such-job/pause", undefined, 404, "JOB_NOT_FOUND", "no-such-job"]
    ]
    // Requests a typed client cannot send (raw bodies, wrong types, values its own schemas refuse
    // before sending): checked over plain HTTP only.
    const rawOnly = new Set([
      "unknown region",
      "malformed JSON",
      "missing field",
      "model id of the wrong type",
      "model list of the wrong type",
      "region list of the wrong type",
      "body is not an object",
      "body over the size limit",
      "page zero",
      "page not a number",
      "fractional page size",
      "unknown status filter",
      "unknown verdict filter",
      "recertify with an unknown field",
      "recertify with an unknown verdict",
      "recertify with an unknown region",
      "schedule with an unknown field",
      "expiry filter that is not an instant",
      "unknown verdict in the verdict filter"
    ])
    let finishedIds: Array<string> = []
    const finishedJobId = () => finishedIds[0]!

    it("every bad-input row gets its 4xx envelope with a specific message and changes nothing", async () => {
      const before = (await call("GET", "/history?limit=100")).json.data
      const certsBefore = (await call("GET", "/certifications?limit=100")).json.data
      // A job whose units all passed: nothing to retry.
      finishedIds = before.jobs.filter((j: any) => j.status === "COMPLETED" && j.failureCount === 0)
        .map((j: any) => j.id)
      assert.isAbove(finishedIds.length, 0)
      for (const [name, method, path, body, status, code, fragment] of badInput) {
        if (via !== "fetch" && rawOnly.has(name)) continue
        const response = await call(method, typeof path === "function" ? path() : path, body)
        assert.isBelow(response.status, 500, name)
        assert.strictEqual(response.status, status, `${name}: ${JSON.stringify(response.json)}`)
        assert.strictEqual(response.json.status, "error", name)
        assert.strictEqual(response.json.error.code, code, `${name}: ${JSON.stringify(response.json)}`)
        assert.isString(response.json.error.message, name)
        assert.include(JSON.stringify(response.json.error), fragment, name)
      }
      assert.deepStrictEqual((await call("GET", "/history?limit=100")).json.data, before)
      assert.deepStrictEqual((await call("GET", "/certifications?limit=100")).json.data, certsBefore)
    })

    extra?.(() => host)
  })
