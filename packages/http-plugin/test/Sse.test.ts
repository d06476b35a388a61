/**
 * The progress stream (GET /jobs/:jobId/events) over real HTTP (issue 18): each event carries its
 * per-job sequence number as `id:`, a client that disconnects mid-job and reconnects with
 * `Last-Event-ID` gets every event exactly once and in order, idle streams carry heartbeats, and the
 * response is marked uncacheable and unbuffered for proxies.
 */
import { BedrockEmulator } from "@myia/certification/emulator"
import { createCertificationHandler } from "@myia/certification-http"
import * as Memory from "@myia/certification-memory"
import { assert, describe, it } from "@effect/vitest"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll } from "vitest"

const base = "/api/certification-queue"
const models = ["amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0"]
const regions = ["us-east-1", "us-west-2", "eu-west-3"]

let emulator: BedrockEmulator.EmulatorHandle
let live: ReturnType<typeof createCertificationHandler>
let idle: ReturnType<typeof createCertificationHandler>
const servers: Array<Http.Server> = []

const serve = async (handler: ReturnType<typeof createCertificationHandler>) => {
  const server = Http.createServer((req, res) => handler.node(req, res))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  servers.push(server)
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}${base}`
}

let liveUrl: string
let idleUrl: string

beforeAll(async () => {
  emulator = await BedrockEmulator.start({ port: 0, scenario: { seed: 11, rules: [] } })
  const bedrock = { endpoint: emulator.url, credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator" } }
  live = createCertificationHandler({
    certification: { storage: Memory.MemoryStorage.layer, queue: Memory.MemoryQueue.layer(), bedrock },
    basePath: base,
    anonymous: "read-write"
  })
  idle = createCertificationHandler({
    certification: { storage: Memory.MemoryStorage.layer, queue: Memory.MemoryQueue.layer(), bedrock, worker: false },
    basePath: base,
    anonymous: "read-write",
    sseHeartbeatMillis: 50
  })
  liveUrl = await serve(live)
  idleUrl = await serve(idle)
})

afterAll(async () => {
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()))
  await live.dispose()
  await idle.dispose()
  await emulator.close()
})

interface SseEvent {
  readonly id: string | undefined
  readonly event: string
  readonly data: string
}

/** Parses SSE text into events (blank-line separated blocks of `field: value` lines). */
const parse = (text: string): Array<SseEvent> =>
  text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const fields: Record<string, string> = {}
    for (const line of block.split("\n")) {
      const colon = line.indexOf(":")
      if (colon <= 0) continue
      fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "")
    }
    return { id: fields.id, event: fields.event ?? "message", data: fields.data ?? "" }
  })

/**
 * Reads the stream of `url` until `stop` says so (then disconnects) or the server ends it.
 * Returns the complete events read and the response headers.
 */
const read = async (
  url: string,
  options: { readonly lastEventId?: string; readonly stop?: (events: ReadonlyArray<SseEvent>) => boolean } = {}
) => {
  const abort = new AbortController()
  const response = await fetch(url, {
    signal: abort.signal,
    headers: options.lastEventId === undefined ? {} : { "last-event-id": options.lastEventId }
  })
  assert.strictEqual(response.status, 200)
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let text = ""
  while (true) {
    const { done, value } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
    const complete = text.slice(0, text.lastIndexOf("\n\n") + 2)
    if (options.stop?.(parse(complete)) === true) {
      abort.abort()
      return { events: parse(complete), headers: response.headers, ended: false }
    }
  }
  return { events: parse(text), headers: response.headers, ended: true }
}

const progressOnly = (events: ReadonlyArray<SseEvent>) => events.filter((e) => e.event === "message")

const isTerminal = (e: SseEvent) => {
  const data = JSON.parse(e.data)
  return data.type === "job-status" && ["COMPLETED", "FAILED", "CANCELLED"].includes(data.status)
}

const create = async (url: string, body: unknown) => {
  const response = await fetch(`${url}/certify-multiple`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  assert.strictEqual(response.status, 201)
  return ((await response.json()) as { data: { jobId: string } }).data.jobId
}

describe("progress stream (SSE)", () => {
  it("disconnect mid-job, reconnect with Last-Event-ID: the concatenated stream has every event exactly once, in order", async () => {
    const jobId = await create(liveUrl, { modelIds: models, regions })
    const url = `${liveUrl}/jobs/${jobId}/events`
    const first = await read(url, { stop: (events) => progressOnly(events).length >= 3 })
    assert.isFalse(first.ended, "the first connection was cut before the stream ended")
    const seen = progressOnly(first.events)
    assert.isFalse(seen.some(isTerminal), "cut before the terminal event")
    const resumed = await read(url, { lastEventId: seen.at(-1)!.id! })
    assert.isTrue(resumed.ended)
    const concatenated = [...seen, ...progressOnly(resumed.events)]
    // Every event exactly once, in order: ids 1..n with no gap or repeat, ending on the terminal status.
    assert.deepStrictEqual(concatenated.map((e) => e.id), concatenated.map((_, i) => String(i + 1)))
    assert.isTrue(isTerminal(concatenated.at(-1)!))
    assert.strictEqual(concatenated.filter(isTerminal).length, 1)
    // The same events as one uninterrupted read of the whole stream.
    const whole = await read(url)
    assert.deepStrictEqual(progressOnly(whole.events), concatenated)
    const completions = concatenated.map((e) => JSON.parse(e.data)).filter((d) => d.type === "unit-completed")
    assert.strictEqual(completions.length, models.length * regions.length)
    assert.strictEqual(new Set(completions.map((d) => d.unitId)).size, models.length * regions.length)
  })

  it("is served uncacheable and unbuffered, as text/event-stream", async () => {
    const jobId = await create(liveUrl, { modelIds: models.slice(0, 1), regions: regions.slice(0, 1) })
    const { headers } = await read(`${liveUrl}/jobs/${jobId}/events`)
    assert.match(headers.get("content-type") ?? "", /^text\/event-stream/)
    assert.strictEqual(headers.get("cache-control"), "no-cache")
    assert.strictEqual(headers.get("x-accel-buffering"), "no")
  })

  it("an idle stream carries heartbeats (no id, empty data) and ends after the job is cancelled", async () => {
    const jobId = await create(idleUrl, { modelIds: models, regions: regions.slice(0, 1) })
    const url = `${idleUrl}/jobs/${jobId}/events`
    const stream = read(url)
    const beats = await read(url, { stop: (events) => events.filter((e) => e.event === "heartbeat").length >= 2 })
    for (const beat of beats.events.filter((e) => e.event === "heartbeat")) {
      assert.strictEqual(beat.id, undefined)
      assert.strictEqual(beat.data, "")
    }
    assert.strictEqual((await fetch(`${idleUrl}/jobs/${jobId}`, { method: "DELETE" })).status, 200)
    const { events, ended } = await stream
    assert.isTrue(ended)
    assert.deepStrictEqual(progressOnly(events).map((e) => JSON.parse(e.data).status), ["QUEUED", "CANCELLED"])
  })

  it("a Last-Event-ID that is not an event id is a 400 naming the header", async () => {
    const jobId = await create(idleUrl, { modelIds: models.slice(0, 1), regions: regions.slice(0, 1) })
    const response = await fetch(`${idleUrl}/jobs/${jobId}/events`, { headers: { "last-event-id": "abc" } })
    assert.strictEqual(response.status, 400)
    const body = (await response.json()) as { error: { code: string; message: string } }
    assert.strictEqual(body.error.code, "VALIDATION_ERROR")
    assert.include(body.error.message, "last-event-id")
  })
})
