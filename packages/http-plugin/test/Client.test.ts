/**
 * The typed client (`@myia/certification-http/client`) against the plugin over real HTTP: every
 * endpoint through the Effect client and through the Promise client, and every error answer as a
 * tagged error that `Effect.catchTag` (Effect) or `error._tag` / `instanceof` (Promise) tells apart.
 */
import { BedrockEmulator } from "@myia/certification/emulator"
import { createCertificationHandler, type HttpPlugin } from "@myia/certification-http"
import * as Client from "@myia/certification-http/client"
import * as Memory from "@myia/certification-memory"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll } from "vitest"

const base = "/api/certification-queue"
const good = "amazon.nova-lite-v1:0"
const bad = "amazon.nova-micro-v1:0"

const tokens: Record<string, HttpPlugin.Principal> = {
  "Bearer writer": { id: "writer-1", canRead: true, canWrite: true },
  "Bearer reader": { id: "reader-1", canRead: true, canWrite: false }
}

let emulator: BedrockEmulator.EmulatorHandle
let handler: ReturnType<typeof createCertificationHandler>
let server: Http.Server
let baseUrl: string

beforeAll(async () => {
  emulator = await BedrockEmulator.start({
    port: 0,
    scenario: { seed: 7, rules: [{ models: bad, availability: "offered", quality: "wrong" }] }
  })
  handler = createCertificationHandler({
    certification: {
      storage: Memory.MemoryStorage.layer,
      queue: Memory.MemoryQueue.layer(),
      bedrock: { endpoint: emulator.url, credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator" } }
    },
    basePath: base,
    authorize: ({ headers }) => tokens[headers.authorization ?? ""] ?? { status: 401 }
  })
  server = Http.createServer((req, res) => handler.node(req, res))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${base}`
})

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await handler.dispose()
  await emulator.close()
})

/** The outcome of one call: its data, or the tag, code and status of its error. */
type Outcome =
  | { readonly ok: true; readonly data: any }
  | { readonly ok: false; readonly error: Client.ClientError }

/** One way to call the API: the same (group, endpoint, request) through either client. */
interface Caller {
  readonly call: (token: string | undefined, group: string, name: string, request: unknown) => Promise<Outcome>
  /** The SSE endpoint's events, collected until the server ends the stream. */
  readonly events: (token: string, jobId: string) => Promise<ReadonlyArray<any>>
}

const effectCaller: Caller = {
  call: (token, group, name, request) =>
    Effect.runPromise(
      Client.make({ baseUrl, token }).pipe(
        Effect.flatMap((client) => (client as any)[group][name](request) as Effect.Effect<unknown, Client.ClientError>),
        Effect.match({
          onSuccess: (data): Outcome => ({ ok: true, data }),
          onFailure: (error): Outcome => ({ ok: false, error })
        }),
        Effect.provide(FetchHttpClient.layer)
      )
    ),
  events: (token, jobId) =>
    Effect.runPromise(
      Client.make({ baseUrl, token }).pipe(
        Effect.flatMap((client) => client.jobs.events({ params: { jobId: jobId as any } })),
        Effect.flatMap(Stream.runCollect),
        Effect.provide(FetchHttpClient.layer)
      )
    )
}

const promiseCaller: Caller = {
  call: async (token, group, name, request) => {
    try {
      return { ok: true, data: await (Client.makePromise({ baseUrl, token }) as any)[group][name](request) }
    } catch (error) {
      return { ok: false, error: error as Client.ClientError }
    }
  },
  events: async (token, jobId) => {
    const out: Array<any> = []
    for await (const event of await Client.makePromise({ baseUrl, token }).jobs.events({ params: { jobId: jobId as any } })) {
      out.push(event)
    }
    return out
  }
}

const succeed = async (caller: Caller, group: string, name: string, request: unknown = {}, token = "writer") => {
  const outcome = await caller.call(token, group, name, request)
  if (!outcome.ok) assert.fail(`${group}.${name} failed: ${outcome.error._tag} ${JSON.stringify(outcome.error)}`)
  return outcome.data
}

const failWith = async (
  caller: Caller,
  tag: Client.ClientError["_tag"],
  group: string,
  name: string,
  request: unknown = {},
  token: string | null = "writer"
) => {
  const outcome = await caller.call(token ?? undefined, group, name, request)
  if (outcome.ok) assert.fail(`${group}.${name} succeeded; expected ${tag}`)
  assert.strictEqual(outcome.error._tag, tag, JSON.stringify(outcome.error))
  return outcome.error
}

/** Polls GET /jobs/:jobId through the client until the job is terminal. */
const waitTerminal = async (caller: Caller, jobId: string) => {
  for (let i = 0; i < 600; i++) {
    const job = await succeed(caller, "jobs", "getJob", { params: { jobId } })
    if (["COMPLETED", "FAILED", "CANCELLED"].includes(job.status)) return job
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`job ${jobId} did not finish`)
}

describe.each([
  { name: "Effect client", caller: effectCaller },
  { name: "Promise client", caller: promiseCaller }
])("typed client: $name", ({ caller }) => {
  it("certifyModel, getJob and events: the job completes and the stream ends on the terminal status", async () => {
    const created = await succeed(caller, "certify", "certifyModel", { payload: { modelId: good, region: "us-east-1" } })
    assert.strictEqual(created.modelId, good)
    assert.strictEqual(created.totalJobs, 1)
    const events = await caller.events("reader", created.jobId)
    assert.strictEqual(events[0].data.type, "job-status")
    assert.strictEqual(events.at(-1).data.status, "COMPLETED")
    const job = await succeed(caller, "jobs", "getJob", { params: { jobId: created.jobId } }, "reader")
    assert.strictEqual(job.status, "COMPLETED")
    assert.strictEqual(job.createdBy, "writer-1")
    assert.strictEqual(job.certifications[0].model.id, good)
  })

  it("certifyMultiple and retry: a RECERTIFY job for the failed unit; a second retry of the clean job is JobConflict", async () => {
    const created = await succeed(caller, "certify", "certifyMultiple", {
      payload: { modelIds: [good, bad], regions: ["us-west-2"] },
      headers: { "idempotency-key": `multi-${Math.random()}` }
    })
    assert.deepStrictEqual([...created.modelIds].sort(), [good, bad].sort())
    await waitTerminal(caller, created.jobId)
    const retried = await succeed(caller, "jobs", "retry", { params: { jobId: created.jobId } })
    assert.strictEqual(retried.type, "RECERTIFY")
    assert.deepStrictEqual(retried.modelIds, [bad])
    const clean = await succeed(caller, "certify", "certifyModel", { payload: { modelId: good, region: "eu-west-3" } })
    await waitTerminal(caller, clean.jobId)
    const conflict = await failWith(caller, "JobConflict", "jobs", "retry", { params: { jobId: clean.jobId } })
    assert.strictEqual(conflict.status, 409)
  })

  it("certifyAll and cancel: the job is cancelled; cancelling it again is JobConflict", async () => {
    const created = await succeed(caller, "certify", "certifyAll", { payload: { regions: ["us-east-1"], modalities: ["chat"] } })
    assert.isAbove(created.totalJobs, 1)
    const cancelled = await succeed(caller, "jobs", "cancel", { params: { jobId: created.jobId } })
    assert.strictEqual(cancelled.status, "CANCELLED")
    await failWith(caller, "JobConflict", "jobs", "cancel", { params: { jobId: created.jobId } })
  })

  it("history, certifications, stats, regions, models, health and metrics answer their data", async () => {
    const history = await succeed(caller, "results", "history", { query: { limit: 2, page: 1 } }, "reader")
    assert.deepStrictEqual([history.pagination.page, history.pagination.limit], [1, 2])
    assert.isAtMost(history.jobs.length, 2)
    const certifications = await succeed(caller, "results", "certifications", { query: { modelId: good } }, "reader")
    assert.isTrue(certifications.certifications.every((c: any) => c.modelId === good))
    const stats = await succeed(caller, "results", "stats", {}, "reader")
    assert.isObject(stats.jobsByStatus)
    assert.isNumber(stats.queue.waiting)
    // Issue 18: latency and TTFT p50/p95 per region and model family, over the jobs run above.
    const east = stats.latency.byRegion.find((r: any) => r.region === "us-east-1")
    assert.isAbove(east.latency.count, 0)
    assert.isAtMost(east.latency.p50, east.latency.p95)
    assert.isAbove(east.ttft.count, 0)
    const nova = stats.latency.byModelFamily.find((f: any) => f.family === "amazon.nova")
    assert.isAbove(nova.latency.count, 0)
    assert.isAbove(nova.latency.p95, 0)
    const regions = await succeed(caller, "results", "regions", {}, "reader")
    assert.deepInclude(regions, { id: "us-east-1", name: regions.find((r: any) => r.id === "us-east-1").name })
    const models = await succeed(caller, "results", "models", { query: { region: "us-east-1" } }, "reader")
    assert.strictEqual(models.find((m: any) => m.id === good)?.certifiability.certifiable, true)
    assert.deepStrictEqual(await succeed(caller, "system", "health", {}, "nobody"), { status: "ok" })
    const metrics = await succeed(caller, "system", "metrics", {}, "reader")
    assert.isString(metrics)
    assert.match(metrics, /# (TYPE|HELP) /)
  })

  it("error answers are tagged: JobNotFound, ValidationFailed, ModelsNotCertifiable, Unauthorized, Forbidden", async () => {
    const notFound = await failWith(caller, "JobNotFound", "jobs", "getJob", { params: { jobId: "no-such-job" } })
    assert.deepStrictEqual([notFound.status, notFound.code], [404, "JOB_NOT_FOUND"])
    await failWith(caller, "JobNotFound", "jobs", "events", { params: { jobId: "no-such-job" } })
    const invalid = await failWith(caller, "ValidationFailed", "results", "history", { query: { limit: 101 } })
    assert.include(invalid.message, "limit")
    const rejected = await failWith(caller, "ModelsNotCertifiable", "certify", "certifyModel", {
      payload: { modelId: "acme.unknown-v1", region: "us-east-1" }
    })
    assert.include(JSON.stringify(rejected.details), "acme.unknown-v1")
    await failWith(caller, "Unauthorized", "results", "stats", {}, null)
    await failWith(caller, "Unauthorized", "results", "stats", {}, "wrong")
    await failWith(caller, "Forbidden", "certify", "certifyModel", { payload: { modelId: good, region: "us-east-1" } }, "reader")
  })
})

describe("typed client: Effect.catchTag", () => {
  it("tells the errors apart by tag", async () => {
    const program = Effect.gen(function*() {
      const client = yield* Client.make({ baseUrl, token: "reader" })
      const missing = yield* client.jobs.getJob({ params: { jobId: "no-such-job" as any } }).pipe(
        Effect.as("found"),
        Effect.catchTag("JobNotFound", (e) => Effect.succeed(`missing ${(e.details as any).jobId}`)),
        Effect.catchTag("Unauthorized", () => Effect.succeed("unauthorized"))
      )
      const forbidden = yield* client.certify.certifyModel({ payload: { modelId: good as any, region: "us-east-1" as any } })
        .pipe(
          Effect.as("created"),
          Effect.catchTag("Forbidden", (e) => Effect.succeed(`forbidden ${e.status}`))
        )
      return [missing, forbidden]
    })
    assert.deepStrictEqual(await Effect.runPromise(program.pipe(Effect.provide(FetchHttpClient.layer))), [
      "missing no-such-job",
      "forbidden 403"
    ])
  })

  it("a server that does not answer is RequestFailed", async () => {
    const client = Client.makePromise({ baseUrl: "http://127.0.0.1:1/api", token: "writer" })
    const error = await client.system.health({}).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(error, Client.RequestFailed)
  })
})
