import { BedrockEmulator } from "@myia/certification/emulator"
import { createCertificationHandler, HttpPlugin } from "@myia/certification-http"
import * as Memory from "@myia/certification-memory"
import { assert, describe, it } from "@effect/vitest"
import * as Http from "node:http"
import * as Zlib from "node:zlib"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll } from "vitest"

const base = "/api/certification-queue"
const good = "amazon.nova-lite-v1:0"
const bad = "amazon.nova-micro-v1:0"

type Handler = ReturnType<typeof createCertificationHandler>

let emulator: BedrockEmulator.EmulatorHandle
/** Runs units (embedded worker) behind a real node:http server. */
let live: Handler
let server: Http.Server
let origin: string
/** No worker: jobs stay QUEUED, so cancel and bad-input checks are deterministic. */
let idle: Handler

const certification = (worker: boolean) => ({
  storage: Memory.MemoryStorage.layer,
  queue: Memory.MemoryQueue.layer(),
  bedrock: { endpoint: emulator.url, credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator" } },
  ...(worker ? {} : { worker: false as const })
})

beforeAll(async () => {
  emulator = await BedrockEmulator.start({
    port: 0,
    scenario: { seed: 7, rules: [{ models: bad, availability: "offered", quality: "wrong" }] }
  })
  live = createCertificationHandler({ certification: certification(true), basePath: base, anonymous: "read-write" })
  server = Http.createServer((req, res) => live.node(req, res))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}${base}`
  idle = createCertificationHandler({
    certification: certification(false),
    basePath: base,
    anonymous: "read-write",
    maxBodyBytes: 1024
  })
})

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await live.dispose()
  await idle.dispose()
  await emulator.close()
})

interface Envelope {
  readonly status: "success" | "error"
  readonly data?: any
  readonly error?: { readonly code: string; readonly message: string; readonly details?: any }
}

/** Over real HTTP, through the Node handler. */
const http = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Envelope }> => {
  const response = await fetch(`${origin}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
  })
  return { status: response.status, json: (await response.json()) as Envelope }
}

/** Through the Fetch handler directly. */
const direct = async (
  handler: Handler,
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string> } = {}
): Promise<{ status: number; json: Envelope }> => {
  const response = await handler.fetch(
    new Request(`http://host${base}${path}`, {
      method,
      headers: { "content-type": "application/json", ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body })
    })
  )
  return { status: response.status, json: (await response.json()) as Envelope }
}

const waitTerminal = async (jobId: string) => {
  for (let i = 0; i < 300; i++) {
    const { json } = await http("GET", `/jobs/${jobId}`)
    if (["COMPLETED", "FAILED", "CANCELLED"].includes(json.data.status)) return json.data
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`job ${jobId} did not finish`)
}

describe("certification HTTP plugin over node:http", () => {
  it("certify-model answers 201 and the job completes with the model's details", async () => {
    const created = await http("POST", "/certify-model", { modelId: good, region: "us-east-1" })
    assert.strictEqual(created.status, 201)
    assert.strictEqual(created.json.status, "success")
    assert.strictEqual(created.json.data.modelId, good)
    assert.strictEqual(created.json.data.region, "us-east-1")
    assert.strictEqual(created.json.data.status, "QUEUED")
    const job = await waitTerminal(created.json.data.jobId)
    assert.strictEqual(job.status, "COMPLETED")
    assert.strictEqual(job.createdBy, "anonymous")
    assert.strictEqual(job.certifications.length, 1)
    const [c] = job.certifications
    assert.strictEqual(c.status, "CERTIFIED")
    assert.strictEqual(c.passed, true)
    assert.strictEqual(c.model.id, good)
    assert.strictEqual(c.model.vendor, "Amazon")
    assert.isString(c.model.name)
    assert.notProperty(c, "lease")
    assert.strictEqual(job.counts.completed, 1)
    assert.strictEqual(job.successCount, 1)
  })

  it("streams progress as Server-Sent Events until the job is terminal", async () => {
    const created = await http("POST", "/certify-multiple", { modelIds: [good, bad], regions: ["us-east-1", "us-west-2"] })
    assert.strictEqual(created.status, 201)
    const response = await fetch(`${origin}/jobs/${created.json.data.jobId}/events`)
    assert.strictEqual(response.status, 200)
    assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/)
    const text = await response.text() // ends only when the server closes the stream
    const events = text.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5)))
    assert.isAbove(events.length, 1)
    assert.strictEqual(events[0].type, "job-status")
    const last = events[events.length - 1]
    assert.strictEqual(last.type, "job-status")
    assert.strictEqual(last.status, "COMPLETED")
  })

  it("retry creates a RECERTIFY job for the FAILED units only", async () => {
    const created = await http("POST", "/certify-multiple", { modelIds: [good, bad], regions: ["us-east-1"] })
    const job = await waitTerminal(created.json.data.jobId)
    const verdicts = Object.fromEntries(job.certifications.map((c: any) => [c.modelId, c.status]))
    assert.deepStrictEqual(verdicts, { [good]: "CERTIFIED", [bad]: "FAILED" })
    const retried = await http("POST", `/jobs/${job.id}/retry`)
    assert.strictEqual(retried.status, 201)
    assert.strictEqual(retried.json.data.type, "RECERTIFY")
    assert.deepStrictEqual(retried.json.data.modelIds, [bad])
    assert.strictEqual(retried.json.data.totalJobs, 1)
    const again = await waitTerminal(retried.json.data.jobId)
    assert.strictEqual(again.parentJobId, job.id)
  })

  it("retry of a job with nothing to retry is a 409", async () => {
    const created = await http("POST", "/certify-model", { modelId: good, region: "us-west-2" })
    await waitTerminal(created.json.data.jobId)
    const retried = await http("POST", `/jobs/${created.json.data.jobId}/retry`)
    assert.strictEqual(retried.status, 409)
    assert.strictEqual(retried.json.error?.code, "JOB_CONFLICT")
  })

  it("history filters by status and type and paginates with totals", async () => {
    const all = await http("GET", "/history?limit=2&page=1")
    assert.strictEqual(all.status, 200)
    assert.strictEqual(all.json.data.jobs.length, 2)
    const { page, limit, total, totalPages } = all.json.data.pagination
    assert.deepStrictEqual([page, limit], [1, 2])
    assert.isAtLeast(total, 4)
    assert.strictEqual(totalPages, Math.ceil(total / 2))
    const recertify = await http("GET", "/history?type=RECERTIFY")
    assert.isAbove(recertify.json.data.jobs.length, 0)
    assert.isTrue(recertify.json.data.jobs.every((j: any) => j.type === "RECERTIFY"))
    const cancelled = await http("GET", "/history?status=CANCELLED")
    assert.strictEqual(cancelled.json.data.pagination.total, 0)
    const last = await http("GET", `/history?limit=2&page=${totalPages}`)
    assert.strictEqual(last.json.data.jobs.length, total - 2 * (totalPages - 1))
  })

  it("certifications lists the latest results filtered by model, region and status", async () => {
    const failed = await http("GET", "/certifications?status=FAILED")
    assert.strictEqual(failed.status, 200)
    assert.isAbove(failed.json.data.certifications.length, 0)
    assert.isTrue(failed.json.data.certifications.every((c: any) => c.status === "FAILED" && c.modelId === bad))
    const west = await http("GET", `/certifications?region=us-west-2&modelId=${encodeURIComponent(good)}`)
    assert.strictEqual(west.json.data.certifications.length, 1)
    assert.strictEqual(west.json.data.certifications[0].region, "us-west-2")
    const paged = await http("GET", "/certifications?limit=1")
    assert.strictEqual(paged.json.data.certifications.length, 1)
    assert.isAbove(paged.json.data.pagination.total, 1)
  })

  it("stats count jobs by status and units by verdict and region, with queue counts", async () => {
    const { status, json } = await http("GET", "/stats")
    assert.strictEqual(status, 200)
    assert.isAtLeast(json.data.jobsByStatus.COMPLETED, 4)
    assert.isAtLeast(json.data.unitsByVerdict.FAILED, 1)
    assert.isTrue(json.data.unitsByRegion.some((r: any) => r.region === "us-east-1" && r.passed >= 1))
    assert.containsAllKeys(json.data.queue, ["waiting", "active", "delayed", "failed"])
  })

  it("regions lists every Bedrock region with its name", async () => {
    const { json } = await http("GET", "/regions")
    assert.deepInclude(json.data, { id: "us-east-1", name: "US East (N. Virginia)" })
    assert.isAtLeast(json.data.length, 20)
  })

  it("models lists the registry with certifiability in a region and the latest result", async () => {
    const { status, json } = await http("GET", "/models?region=us-east-1")
    assert.strictEqual(status, 200)
    assert.isAtLeast(json.data.length, 100)
    const nova = json.data.find((m: any) => m.id === good)
    assert.strictEqual(nova.certifiability.certifiable, true)
    assert.isTrue(nova.latest.some((l: any) => l.region === "us-east-1" && l.status === "CERTIFIED"))
    assert.isTrue(nova.latest.every((l: any) => l.region === "us-east-1"))
    assert.isTrue(json.data.some((m: any) => m.certifiability.certifiable === false && m.certifiability.reason !== null))
  })

  it("health, metrics, openapi.json and docs are served", async () => {
    assert.deepStrictEqual((await http("GET", "/health")).json, { status: "success", data: { status: "ok" } })
    // Issue 15: readiness reads storage and compares the clocks (the memory storage's clock is this one).
    const ready = await http("GET", "/ready")
    assert.strictEqual(ready.status, 200)
    assert.strictEqual(ready.json.data.status, "ready")
    assert.strictEqual(ready.json.data.clock.reference, "database")
    assert.strictEqual(ready.json.data.clock.status, "ok")
    assert.strictEqual(ready.json.data.clock.thresholdMillis, 5_000)
    const metrics = await fetch(`${origin}/metrics`)
    assert.strictEqual(metrics.status, 200)
    assert.match(metrics.headers.get("content-type") ?? "", /text\/plain/)
    const docs = await fetch(`${origin}/docs`)
    assert.strictEqual(docs.status, 200)
    assert.match(await docs.text(), /<html/i)
  })

  it("openapi.json is OpenAPI 3.x with a path for every endpoint", async () => {
    const spec = (await (await fetch(`${origin}/openapi.json`)).json()) as any
    assert.match(spec.openapi, /^3\./)
    const expected: Array<[string, string]> = [
      ["post", "/certify-model"],
      ["post", "/certify-multiple"],
      ["post", "/certify-all"],
      ["get", "/jobs/{jobId}"],
      ["get", "/jobs/{jobId}/events"],
      ["post", "/jobs/{jobId}/retry"],
      ["delete", "/jobs/{jobId}"],
      ["get", "/history"],
      ["get", "/certifications"],
      ["get", "/stats"],
      ["get", "/regions"],
      ["get", "/models"],
      ["get", "/health"],
      ["get", "/ready"],
      ["get", "/metrics"],
      ["get", "/principal"]
    ]
    for (const [method, path] of expected) {
      assert.isDefined(spec.paths[path]?.[method], `${method.toUpperCase()} ${path}`)
    }
    assert.deepStrictEqual(spec.servers, [{ url: base }])
  })

  it("paths outside the base path fall through to next()", async () => {
    const fallthrough = Http.createServer((req, res) =>
      live.node(req, res, () => {
        res.statusCode = 418
        res.end("host")
      })
    )
    await new Promise<void>((resolve) => fallthrough.listen(0, "127.0.0.1", resolve))
    const port = (fallthrough.address() as AddressInfo).port
    const response = await fetch(`http://127.0.0.1:${port}/other`)
    assert.strictEqual(response.status, 418)
    await new Promise<void>((resolve) => fallthrough.close(() => resolve()))
  })
})

describe("certification HTTP plugin: cancel (Fetch handler)", () => {
  it("cancels a queued job, then answers 409 for the finished job and 404 for an unknown one", async () => {
    const created = await direct(idle, "POST", "/certify-all", { body: JSON.stringify({ regions: ["us-east-1"] }) })
    assert.strictEqual(created.status, 201)
    assert.isAbove(created.json.data.totalJobs, 10)
    assert.isArray(created.json.data.skipped)
    const cancelled = await direct(idle, "DELETE", `/jobs/${created.json.data.jobId}`)
    assert.strictEqual(cancelled.status, 200)
    assert.strictEqual(cancelled.json.data.status, "CANCELLED")
    assert.strictEqual(cancelled.json.data.counts.byVerdict.CANCELLED, created.json.data.totalJobs)
    const again = await direct(idle, "DELETE", `/jobs/${created.json.data.jobId}`)
    assert.strictEqual(again.status, 409)
    assert.strictEqual(again.json.error?.code, "JOB_CONFLICT")
    const unknown = await direct(idle, "DELETE", "/jobs/no-such-job")
    assert.strictEqual(unknown.status, 404)
  })
})

/** Each row: a bad request, the status and code it must get, and a word the message must contain. */
const badInputs: ReadonlyArray<{
  readonly name: string
  readonly method: string
  readonly path: string
  readonly body?: string
  readonly status: number
  readonly code: string
  readonly mentions: string
}> = [
  { name: "malformed JSON", method: "POST", path: "/certify-model", body: "{\"modelId\":", status: 400, code: "MALFORMED_JSON", mentions: "JSON" },
  { name: "wrong type", method: "POST", path: "/certify-model", body: JSON.stringify({ modelId: 42, region: "us-east-1" }), status: 400, code: "VALIDATION_ERROR", mentions: "modelId" },
  { name: "missing field", method: "POST", path: "/certify-model", body: JSON.stringify({ modelId: good }), status: 400, code: "VALIDATION_ERROR", mentions: "region" },
  { name: "empty body", method: "POST", path: "/certify-multiple", status: 400, code: "VALIDATION_ERROR", mentions: "modelIds" },
  { name: "array element of wrong type", method: "POST", path: "/certify-multiple", body: JSON.stringify({ modelIds: [good, 7], regions: ["us-east-1"] }), status: 400, code: "VALIDATION_ERROR", mentions: "modelIds[1]" },
  { name: "oversize body", method: "POST", path: "/certify-multiple", body: JSON.stringify({ modelIds: Array.from({ length: 100 }, (_, i) => `vendor.model-${i}`), regions: ["us-east-1"] }), status: 413, code: "PAYLOAD_TOO_LARGE", mentions: "1024" },
  { name: "too many regions", method: "POST", path: "/certify-all", body: JSON.stringify({ regions: ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "sa-east-1", "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2", "il-central-1", "me-central-1", "me-south-1", "af-south-1", "ap-east-2", "ap-northeast-1"] }), status: 400, code: "VALIDATION_ERROR", mentions: "at most 20 regions" },
  { name: "unknown model", method: "POST", path: "/certify-model", body: JSON.stringify({ modelId: "acme.unknown-v1", region: "us-east-1" }), status: 400, code: "MODELS_NOT_CERTIFIABLE", mentions: "acme.unknown-v1" },
  { name: "non-certifiable model (image generation)", method: "POST", path: "/certify-multiple", body: JSON.stringify({ modelIds: [good, "stability.sd3-5-large-v1:0"], regions: ["us-west-2"] }), status: 400, code: "MODELS_NOT_CERTIFIABLE", mentions: "stability.sd3-5-large-v1:0" },
  { name: "unknown region", method: "POST", path: "/certify-model", body: JSON.stringify({ modelId: good, region: "us-east1" }), status: 400, code: "VALIDATION_ERROR", mentions: "us-east1" },
  { name: "page size over the maximum", method: "GET", path: "/history?limit=101", status: 400, code: "VALIDATION_ERROR", mentions: "limit" },
  { name: "page not a number", method: "GET", path: "/history?page=abc", status: 400, code: "VALIDATION_ERROR", mentions: "page" },
  { name: "page zero", method: "GET", path: "/certifications?page=0", status: 400, code: "VALIDATION_ERROR", mentions: "page" },
  { name: "unknown status filter", method: "GET", path: "/history?status=DONE", status: 400, code: "VALIDATION_ERROR", mentions: "status" },
  { name: "unknown region filter", method: "GET", path: "/models?region=mars-1", status: 400, code: "VALIDATION_ERROR", mentions: "mars-1" },
  { name: "unknown job", method: "GET", path: "/jobs/no-such-job", status: 404, code: "JOB_NOT_FOUND", mentions: "no-such-job" },
  { name: "events of an unknown job", method: "GET", path: "/jobs/no-such-job/events", status: 404, code: "JOB_NOT_FOUND", mentions: "no-such-job" },
  { name: "retry of an unknown job", method: "POST", path: "/jobs/no-such-job/retry", status: 404, code: "JOB_NOT_FOUND", mentions: "no-such-job" },
  { name: "unknown route", method: "GET", path: "/nope", status: 404, code: "NOT_FOUND", mentions: "endpoint" }
]

describe("certification HTTP plugin: bad input", () => {
  it.each(badInputs)("$name → $status $code, and nothing is created", async (row) => {
    const before = (await direct(idle, "GET", "/history")).json.data.pagination.total
    const { status, json } = await direct(idle, row.method, row.path, row.body === undefined ? {} : { body: row.body })
    assert.strictEqual(status, row.status, JSON.stringify(json))
    assert.strictEqual(json.status, "error")
    assert.strictEqual(json.error?.code, row.code)
    assert.include(json.error?.message, row.mentions)
    const after = (await direct(idle, "GET", "/history")).json.data.pagination.total
    assert.strictEqual(after, before)
  })

  it("validation errors name each field and why", async () => {
    const { json } = await direct(idle, "POST", "/certify-multiple", { body: JSON.stringify({ modelIds: "x", regions: [1] }) })
    const fields = json.error?.details.issues.map((i: any) => i.field)
    assert.includeMembers(fields, ["modelIds", "regions[0]"])
  })

  it("a declared Content-Length over the limit is refused before the body is read", async () => {
    const { status, json } = await direct(idle, "POST", "/certify-model", {
      body: "{}",
      headers: { "content-length": "999999" }
    })
    assert.strictEqual(status, 413)
    assert.strictEqual(json.error?.code, "PAYLOAD_TOO_LARGE")
  })
})

describe("certification HTTP plugin: auth", () => {
  const tokens: Record<string, HttpPlugin.Principal> = {
    "Bearer writer": { id: "writer-1", canRead: true, canWrite: true },
    "Bearer reader": { id: "reader-1", canRead: true, canWrite: false }
  }
  let secured: Handler
  beforeAll(() => {
    secured = createCertificationHandler({
      certification: certification(false),
      basePath: base,
      authorize: async ({ headers }) => tokens[headers.authorization ?? ""] ?? { status: 401 }
    })
  })
  afterAll(() => secured.dispose())

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    direct(secured, method, path, {
      ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })

  it("no token is a 401 on every endpoint except /health and /ready", async () => {
    assert.strictEqual((await call("GET", "/history")).status, 401)
    assert.strictEqual((await call("POST", "/certify-model", undefined, { modelId: good, region: "us-east-1" })).status, 401)
    assert.strictEqual((await call("GET", "/openapi.json")).status, 401)
    assert.strictEqual((await call("GET", "/health")).status, 200)
    assert.strictEqual((await call("GET", "/ready")).status, 200)
  })

  it("a wrong token is a 401", async () => {
    const { status, json } = await call("GET", "/stats", "guess")
    assert.strictEqual(status, 401)
    assert.strictEqual(json.error?.code, "UNAUTHORIZED")
  })

  it("a read-only principal can read but gets 403 on writes, creating nothing", async () => {
    assert.strictEqual((await call("GET", "/history", "reader")).status, 200)
    const { status, json } = await call("POST", "/certify-model", "reader", { modelId: good, region: "us-east-1" })
    assert.strictEqual(status, 403)
    assert.strictEqual(json.error?.code, "FORBIDDEN")
    assert.strictEqual((await call("GET", "/history", "reader")).json.data.pagination.total, 0)
  })

  it("createdBy is the principal's id", async () => {
    const created = await call("POST", "/certify-model", "writer", { modelId: good, region: "us-east-1" })
    assert.strictEqual(created.status, 201)
    const job = await call("GET", `/jobs/${created.json.data.jobId}`, "reader")
    assert.strictEqual(job.json.data.createdBy, "writer-1")
  })

  it("anonymous read does not allow writes", async () => {
    const readOnly = createCertificationHandler({ certification: certification(false), anonymous: "read" })
    const write = await readOnly.fetch(
      new Request("http://host/certify-all", { method: "POST", body: JSON.stringify({ regions: ["us-east-1"] }) })
    )
    assert.strictEqual(write.status, 403)
    const read = await readOnly.fetch(new Request("http://host/history"))
    assert.strictEqual(read.status, 200)
    await readOnly.dispose()
  })

  it("refuses to start without an authorize hook unless anonymous access is explicit", () => {
    assert.throws(
      () => createCertificationHandler({ certification: certification(false) }),
      HttpPlugin.PluginConfigError
    )
  })
})

describe("certification HTTP plugin: idempotency", () => {
  const post = async (path: string, body: unknown, key?: string) => {
    const response = await fetch(`${origin}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key === undefined ? {} : { "idempotency-key": key }) },
      body: JSON.stringify(body)
    })
    return { status: response.status, json: (await response.json()) as Envelope }
  }
  const total = async () => (await http("GET", "/history")).json.data.pagination.total as number

  it("the same Idempotency-Key and body answer the first job (201, then 200 with the same answer) and create one job", async () => {
    const key = `k-${crypto.randomUUID()}`
    const body = { modelIds: [good], regions: ["eu-west-1"] }
    const before = await total()
    const first = await post("/certify-multiple", body, key)
    assert.strictEqual(first.status, 201, JSON.stringify(first.json))
    const again = await Promise.all([post("/certify-multiple", body, key), post("/certify-multiple", body, key)])
    for (const repeat of again) {
      assert.strictEqual(repeat.status, 200, JSON.stringify(repeat.json))
      assert.deepStrictEqual(repeat.json, first.json)
    }
    assert.strictEqual(await total(), before + 1)
    await waitTerminal(first.json.data.jobId)
  })

  it("the same Idempotency-Key with another body is a 409 and creates nothing; another key creates a job", async () => {
    const key = `k-${crypto.randomUUID()}`
    const first = await post("/certify-model", { modelId: good, region: "eu-west-1" }, key)
    assert.strictEqual(first.status, 201)
    const before = await total()
    const other = await post("/certify-model", { modelId: good, region: "eu-west-2" }, key)
    assert.strictEqual(other.status, 409, JSON.stringify(other.json))
    assert.strictEqual(other.json.error?.code, "IDEMPOTENCY_CONFLICT")
    assert.strictEqual(other.json.error?.details.jobId, first.json.data.jobId)
    assert.strictEqual(await total(), before)
    const fresh = await post("/certify-model", { modelId: good, region: "eu-west-2" }, `k-${crypto.randomUUID()}`)
    assert.strictEqual(fresh.status, 201)
    assert.strictEqual(await total(), before + 1)
    await Promise.all([waitTerminal(first.json.data.jobId), waitTerminal(fresh.json.data.jobId)])
  })

  it("an Idempotency-Key that is not 1-255 visible ASCII characters is a 400 naming the header", async () => {
    const { status, json } = await post("/certify-model", { modelId: good, region: "eu-west-1" }, "x".repeat(256))
    assert.strictEqual(status, 400)
    assert.strictEqual(json.error?.details.issues[0].field, "idempotency-key")
  })

  it("five concurrent retries of one job create one RECERTIFY job; once it ended, a retry creates another", async () => {
    const created = await http("POST", "/certify-model", { modelId: bad, region: "eu-west-1" })
    const job = await waitTerminal(created.json.data.jobId)
    assert.strictEqual(job.certifications[0].status, "FAILED")
    const recertify = async () =>
      (await http("GET", "/history?type=RECERTIFY&limit=100")).json.data.jobs.filter((j: any) => j.parentJobId === job.id)
    const retries = await Promise.all(Array.from({ length: 5 }, () => http("POST", `/jobs/${job.id}/retry`)))
    const ids = new Set(retries.map((r) => r.json.data.jobId))
    assert.strictEqual(ids.size, 1, JSON.stringify(retries.map((r) => r.json)))
    assert.deepStrictEqual(retries.map((r) => r.status).sort(), [200, 200, 200, 200, 201])
    assert.strictEqual((await recertify()).length, 1)
    await waitTerminal([...ids][0])
    const later = await http("POST", `/jobs/${job.id}/retry`)
    assert.strictEqual(later.status, 201)
    assert.notStrictEqual(later.json.data.jobId, [...ids][0])
    assert.strictEqual((await recertify()).length, 2)
    await waitTerminal(later.json.data.jobId)
  })
})

describe("job detail that scales (issue 16)", () => {
  it("GET /jobs/:id pages and filters units, leaves tests out unless asked, and carries the summary matrix", async () => {
    const created = await http("POST", "/certify-multiple", {
      modelIds: [good, bad],
      regions: ["us-east-1", "us-west-2", "eu-west-1"]
    })
    await waitTerminal(created.json.data.jobId)
    const jobId = created.json.data.jobId
    const first = (await http("GET", `/jobs/${jobId}?unitsLimit=4`)).json.data
    // v1 fields stay, with certifications now one page.
    assert.strictEqual(first.status, "COMPLETED")
    assert.strictEqual(first.totalModels, 6)
    assert.strictEqual(first.counts.total, 6)
    assert.deepStrictEqual(first.unitsPagination, { page: 1, limit: 4, total: 6, totalPages: 2 })
    assert.strictEqual(first.certifications.length, 4)
    assert.isFalse(first.testsIncluded)
    assert.isTrue(first.certifications.every((c: any) => c.tests.length === 0 && c.model.id !== undefined))
    const second = (await http("GET", `/jobs/${jobId}?unitsLimit=4&unitsPage=2&includeTests=true`)).json.data
    assert.strictEqual(second.certifications.length, 2)
    assert.isTrue(second.testsIncluded)
    assert.isTrue(second.certifications.every((c: any) => c.tests.length > 0))
    const ids = [...first.certifications, ...second.certifications].map((c: any) => c.id)
    assert.strictEqual(new Set(ids).size, 6)
    // Summary: per verdict, per region, and the matrix rows in model order, columns in region order.
    const { summary } = first
    assert.deepStrictEqual([summary.byVerdict.CERTIFIED, summary.byVerdict.FAILED], [3, 3])
    assert.deepStrictEqual(summary.matrix.modelIds, [good, bad].sort())
    assert.deepStrictEqual(summary.matrix.regions, ["eu-west-1", "us-east-1", "us-west-2"])
    const rowOf = (m: string) => summary.matrix.rows[summary.matrix.modelIds.indexOf(m)]
    assert.deepStrictEqual([rowOf(good), rowOf(bad)], ["CCC", "FFF"])
    assert.strictEqual(summary.codes.C, "CERTIFIED")
    assert.deepStrictEqual(
      summary.byRegion.map((r: any) => [r.region, r.total, r.completed, r.passed]),
      [["eu-west-1", 2, 2, 1], ["us-east-1", 2, 2, 1], ["us-west-2", 2, 2, 1]]
    )
    // Filters.
    const failedWest = (await http("GET", `/jobs/${jobId}?status=FAILED&region=us-west-2`)).json.data
    assert.deepStrictEqual(failedWest.certifications.map((c: any) => [c.modelId, c.region]), [[bad, "us-west-2"]])
    const goodOnly = (await http("GET", `/jobs/${jobId}?modelId=${encodeURIComponent(good)}`)).json.data
    assert.strictEqual(goodOnly.unitsPagination.total, 3)
    assert.isTrue(goodOnly.certifications.every((c: any) => c.modelId === good))
    // One unit whole.
    const unit = await http("GET", `/jobs/${jobId}/units/${second.certifications[0].id}`)
    assert.strictEqual(unit.status, 200)
    assert.deepStrictEqual(unit.json.data, second.certifications[0])
  })

  it("a bad detail query is a 400 naming the field; an unknown unit is a 404", async () => {
    const created = await http("POST", "/certify-model", { modelId: good, region: "us-east-1" })
    const jobId = created.json.data.jobId
    await waitTerminal(jobId)
    const tooMany = await http("GET", `/jobs/${jobId}?unitsLimit=501`)
    assert.strictEqual(tooMany.status, 400)
    assert.strictEqual(tooMany.json.error?.details.issues[0].field, "unitsLimit")
    const zero = await http("GET", `/jobs/${jobId}?unitsPage=0`)
    assert.strictEqual(zero.status, 400)
    assert.match(JSON.stringify(zero.json.error?.details), /unitsPage/)
    const status = await http("GET", `/jobs/${jobId}?status=DONE`)
    assert.strictEqual(status.status, 400)
    assert.match(JSON.stringify(status.json.error?.details), /status/)
    const unknown = await http("GET", `/jobs/${jobId}/units/${crypto.randomUUID()}`)
    assert.strictEqual(unknown.status, 404)
    assert.strictEqual(unknown.json.error?.code, "UNIT_NOT_FOUND")
    const other = await http("POST", "/certify-model", { modelId: good, region: "us-west-2" })
    await waitTerminal(other.json.data.jobId)
    const otherUnit = (await http("GET", `/jobs/${other.json.data.jobId}`)).json.data.certifications[0].id
    const foreign = await http("GET", `/jobs/${jobId}/units/${otherUnit}`)
    assert.strictEqual(foreign.status, 404)
  })
})

describe("job detail compression (issue 16)", () => {
  /** One GET over node:http with the given Accept-Encoding; the raw body and the response headers. */
  const raw = (path: string, acceptEncoding: string | undefined) =>
    new Promise<{ readonly headers: Http.IncomingHttpHeaders; readonly body: Buffer }>((resolve, reject) => {
      const request = Http.get(`${origin}${path}`, { headers: acceptEncoding === undefined ? {} : { "accept-encoding": acceptEncoding } }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }))
      })
      request.on("error", reject)
    })

  it("a large GET /jobs/:id is compressed for clients that accept br or gzip, with the same JSON", async () => {
    const created = await http("POST", "/certify-multiple", { modelIds: [good, bad], regions: ["us-east-1", "us-west-2", "eu-west-1"] })
    await waitTerminal(created.json.data.jobId)
    const path = `/jobs/${created.json.data.jobId}?includeTests=true`
    const plain = await raw(path, undefined)
    assert.isUndefined(plain.headers["content-encoding"])
    assert.isAtLeast(plain.body.length, 16 * 1024, "large enough to be compressed")
    const expected = JSON.parse(plain.body.toString("utf8"))
    const gzip = await raw(path, "gzip")
    assert.strictEqual(gzip.headers["content-encoding"], "gzip")
    assert.isBelow(gzip.body.length, plain.body.length / 4)
    assert.deepStrictEqual(JSON.parse(Zlib.gunzipSync(gzip.body).toString("utf8")), expected)
    const br = await raw(path, "gzip, deflate, br")
    assert.strictEqual(br.headers["content-encoding"], "br")
    assert.deepStrictEqual(JSON.parse(Zlib.brotliDecompressSync(br.body).toString("utf8")), expected)
    assert.strictEqual(br.headers["vary"], "accept-encoding")
    // A small page stays as it is.
    const small = await raw(`/jobs/${created.json.data.jobId}?unitsLimit=1`, "gzip")
    assert.isUndefined(small.headers["content-encoding"])
  })
})
