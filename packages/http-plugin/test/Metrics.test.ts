/**
 * The API's `/metrics` after a job (issue 18): the Bedrock call-duration and time-to-first-token
 * histograms have samples, the queue depth is there (the API is the one role that exports it),
 * process metrics are there, and `promtool check metrics` finds nothing to report. The promtool
 * check runs when promtool is installed and fails under `CI` when it is not.
 */
import { BedrockEmulator } from "@myia/certification/emulator"
import { Promtool } from "@myia/certification/testing"
import { createCertificationHandler } from "@myia/certification-http"
import * as Memory from "@myia/certification-memory"
import { assert, describe, it } from "@effect/vitest"
import { afterAll, beforeAll } from "vitest"

const base = "/api/certification-queue"
const good = "amazon.nova-lite-v1:0"

let emulator: BedrockEmulator.EmulatorHandle
let handler: ReturnType<typeof createCertificationHandler>
let text = ""

const call = (method: string, path: string, body?: unknown) =>
  handler.fetch(
    new Request(`http://host${base}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
  )

beforeAll(async () => {
  emulator = await BedrockEmulator.start({ port: 0, scenario: { seed: 5, rules: [] } })
  handler = createCertificationHandler({
    certification: {
      storage: Memory.MemoryStorage.layer,
      queue: Memory.MemoryQueue.layer(),
      bedrock: { endpoint: emulator.url, credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator" } }
    },
    basePath: base,
    anonymous: "read-write"
  })
  const created = (await (await call("POST", "/certify-model", { modelId: good, region: "us-east-1" })).json()) as any
  for (let i = 0; i < 600; i++) {
    const job = (await (await call("GET", `/jobs/${created.data.jobId}`)).json()) as any
    if (job.data.status === "COMPLETED") break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  text = await (await call("GET", "/metrics")).text()
})

afterAll(async () => {
  await handler.dispose()
  await emulator.close()
})

/** The value of the first sample line of `name` whose labels include every `label`. */
const sample = (name: string, ...labels: Array<string>): number | undefined => {
  const line = text.split("\n").find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((p) => l.includes(p)))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

describe("API /metrics after a job", () => {
  it("the Bedrock call-duration and time-to-first-token histograms have samples, in seconds", () => {
    assert.isAbove(sample("certification_bedrock_call_duration_seconds_count", 'outcome="success"', 'region="us-east-1"') ?? 0, 0)
    assert.isAbove(sample("certification_bedrock_time_to_first_token_seconds_count", 'region="us-east-1"') ?? 0, 0)
    assert.isAbove(sample("certification_bedrock_output_tokens_per_second_count", 'region="us-east-1"') ?? 0, 0)
    assert.isAbove(sample("certification_test_duration_seconds_count") ?? 0, 0)
    assert.isAbove(sample("certification_units_total", 'verdict="CERTIFIED"', 'region="us-east-1"') ?? 0, 0)
    assert.notInclude(text, "_ms_", "no metric in milliseconds")
  })

  it("the queue depth and process metrics are exported", () => {
    assert.isDefined(sample("certification_queue_depth", 'state="waiting"'))
    assert.isAbove(sample("process_resident_memory_bytes") ?? 0, 0)
    assert.isAbove(sample("process_cpu_seconds_total") ?? 0, 0)
    assert.isDefined(sample("nodejs_eventloop_lag_seconds"))
  })

  it.skipIf(!Promtool.shouldRun)("promtool check metrics reports nothing", async () => {
    assert.deepStrictEqual(await Promtool.check(text), [])
  })

  it.skipIf(!Promtool.shouldRun)("the check is live: promtool flags a metric in milliseconds", async () => {
    const bad = "# HELP x_latency_ms x\n# TYPE x_latency_ms gauge\nx_latency_ms 1\n"
    assert.isAbove((await Promtool.check(bad)).length, 0)
  })
})
