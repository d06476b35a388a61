/**
 * Traces from the worker process (issue 18): started with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at
 * an OTLP/HTTP receiver in this test, the worker exports its spans — the unit span, continuing the
 * trace of the request that created the job (its parent is the producer's span, carried in the
 * queue payload), and the Bedrock call spans under it — under `OTEL_SERVICE_NAME`.
 *
 * Uses the shared PostgreSQL (5432) and Redis (6379) with this run's own schema, prefix and queue;
 * skipped when they are down on a developer machine, failing when `CI` is set.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import { createCertification } from "@myia/certification"
import { BullMqQueue } from "@myia/certification-bullmq"
import { PgStorage } from "@myia/certification-postgres"
import { BedrockEmulator } from "@myia/certification/emulator"
import { assert, describe, it } from "@effect/vitest"
import { Redis } from "ioredis"
import postgres from "postgres"
import { waitFor } from "./Harness.ts"

const pgUrl = "postgres://postgres@127.0.0.1:5432/test"
const redisUrl = "redis://127.0.0.1:6379"

const reachable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.end()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const up = (await reachable(5432)) && (await reachable(6379))
if (!up && process.env.CI !== undefined) {
  throw new Error("PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are required when CI is set")
}

interface OtlpSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
}

/** An OTLP/HTTP JSON receiver: every span posted to /v1/traces, with its resource's service name. */
const startReceiver = async () => {
  const spans: Array<OtlpSpan & { readonly service: string }> = []
  const server = Http.createServer((req, res) => {
    let body = ""
    req.on("data", (chunk: Buffer) => (body += chunk.toString()))
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const payload = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: ReadonlyArray<{ key: string; value: { stringValue?: string } }> }
            scopeSpans: Array<{ spans: Array<OtlpSpan> }>
          }>
        }
        for (const resourceSpans of payload.resourceSpans) {
          const service = resourceSpans.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? ""
          for (const scope of resourceSpans.scopeSpans) for (const span of scope.spans) spans.push({ ...span, service })
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { spans, url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

const stringAttribute = (span: OtlpSpan, key: string) =>
  span.attributes?.find((a) => a.key === key)?.value.stringValue

describe.skipIf(!up)("worker process traces", () => {
  it("with OTEL_EXPORTER_OTLP_ENDPOINT set, the worker's unit and Bedrock spans arrive at the receiver", { timeout: 120_000 }, async () => {
    const run = `otel_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`
    const receiver = await startReceiver()
    const emulator = await BedrockEmulator.start({ port: 0, scenario: { seed: 9, rules: [] } })
    const producer = createCertification({
      storage: PgStorage.layerFromUrl(pgUrl, { schema: run, max: 2 }),
      queue: BullMqQueue.layer({ connection: redisUrl, queueName: `q-${run}`, prefix: run }),
      bedrock: { endpoint: emulator.url },
      worker: false,
      logLevel: "Error"
    })
    let worker: ChildProcess | undefined
    let output = ""
    try {
      const created = await producer.certifyModel({ modelId: "amazon.nova-lite-v1:0", region: "us-east-1" })
      worker = spawn(process.execPath, ["--conditions=@myia/source", fileURLToPath(new URL("../src/main.ts", import.meta.url))], {
        env: {
          PATH: process.env.PATH ?? "",
          DATABASE_URL: pgUrl,
          CERTIFICATION_PG_SCHEMA: run,
          REDIS_URL: redisUrl,
          CERTIFICATION_QUEUE_NAME: `q-${run}`,
          CERTIFICATION_REDIS_PREFIX: run,
          BEDROCK_ENDPOINT: emulator.url,
          AWS_REGION: "us-east-1",
          AWS_ACCESS_KEY_ID: "AKIAOTELTESTS",
          AWS_SECRET_ACCESS_KEY: "otel-tests-secret",
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_SERVICE_NAME: "certification-worker-under-test",
          OTEL_BSP_SCHEDULE_DELAY: "200"
        },
        stdio: ["ignore", "pipe", "pipe"]
      })
      worker.stdout?.on("data", (d) => (output += String(d)))
      worker.stderr?.on("data", (d) => (output += String(d)))

      await waitFor("the unit span", () => receiver.spans.some((s) => s.name === "Worker.unit"), 45_000, 200)
        .catch((error) => {
          const names = [...new Set(receiver.spans.map((s) => s.name))].join(", ")
          throw new Error(`${String(error)}\nspans received: ${names}\n--- worker output ---\n${output}`)
        })
      await waitFor(
        "a Bedrock call span",
        () => receiver.spans.some((s) => s.name.startsWith("BedrockRuntime.")),
        30_000,
        200
      )
      const unit = receiver.spans.find((s) => s.name === "Worker.unit")!
      assert.strictEqual(unit.service, "certification-worker-under-test")
      assert.strictEqual(stringAttribute(unit, "certification.job_id"), created.jobId)
      assert.strictEqual(stringAttribute(unit, "region"), "us-east-1")
      // The unit continues the producer's trace: its parent is a span of another process.
      assert.isString(unit.parentSpanId)
      assert.notStrictEqual(unit.parentSpanId, "")
      assert.isFalse(receiver.spans.some((s) => s.spanId === unit.parentSpanId), "the parent span is the producer's")
      const call = receiver.spans.find((s) => s.name.startsWith("BedrockRuntime."))!
      assert.strictEqual(call.traceId, unit.traceId, "Bedrock calls are in the unit's trace")
      assert.strictEqual(stringAttribute(call, "bedrock.region"), "us-east-1")
      assert.strictEqual(stringAttribute(call, "certification.model_id"), "amazon.nova-lite-v1:0")
    } finally {
      if (worker !== undefined && worker.exitCode === null) {
        await new Promise<void>((resolve) => {
          worker!.once("exit", () => resolve())
          worker!.kill("SIGTERM")
        })
      }
      await producer.close()
      await emulator.close()
      await receiver.close()
      const sql = postgres(pgUrl, { max: 1, onnotice: () => {} })
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${run}" CASCADE`).finally(() => sql.end())
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
      const keys = await redis.keys(`${run}:*`)
      if (keys.length > 0) await redis.unlink(...keys)
      redis.disconnect()
    }
  })
})
