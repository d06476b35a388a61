/**
 * BullMQ benchmark (not part of the tests): what the SDK costs per unit on top of raw BullMQ.
 *
 * - raw BullMQ: no-op jobs/s through one in-process Worker (concurrency 50), the ceiling of the queue;
 * - SDK: units/s of one worker process (`examples/worker/src/main.ts`: PostgreSQL storage, BullMQ,
 *   the full v1 suite per unit against a zero-latency emulator), then of two processes (scale-out);
 * - enqueue: time to create a ~1,000-unit job (`certifyAll`: PostgreSQL insert + `addBulk`).
 * All measured in the same run on the same Redis and PostgreSQL. Writes bench/results/bullmq.{json,md}.
 *
 * Run: `pnpm bench --bullmq` or `pnpm exec node --conditions=@myia/source bench/bullmq.ts`
 * (REDIS_URL default redis://127.0.0.1:6379, DATABASE_URL default postgres://postgres@127.0.0.1:5432/test;
 * a fresh key prefix and schema, removed afterwards).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { createRequire } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"

if (!process.execArgv.some((a) => a.includes("@myia/source"))) {
  const child = spawnSync(process.execPath, ["--conditions=@myia/source", ...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: "inherit"
  })
  process.exit(child.status ?? 1)
}

const { createCertification, Registry } = await import("../packages/core/src/index.ts")
const { BedrockEmulator } = await import("../packages/core/src/emulator.ts")
const { BullMqQueue } = await import("../packages/adapter-bullmq/src/index.ts")
const { PgStorage } = await import("../packages/adapter-postgres/src/index.ts")
// bench/ is no package: resolve the drivers from the example worker, which depends on them.
const fromWorker = createRequire(new URL("../examples/worker/package.json", import.meta.url))
const load = (name: string) => import(pathToFileURL(fromWorker.resolve(name)).href)
const { Queue: BullQueue, Worker: BullWorker } = (await load("bullmq")) as typeof import("bullmq")
const { Redis } = (await load("ioredis")) as typeof import("ioredis")
const postgres = ((await load("postgres")) as typeof import("postgres")).default

const redisUrl = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"
const databaseUrl = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
const id = Math.random().toString(36).slice(2, 8)
const prefix = `bench-${id}`
const schema = `bench_bullmq_${id}`
const RAW_JOBS = Number(process.env["BENCH_RAW_JOBS"] ?? 5_000)
const CONCURRENCY = 50
const mainScript = fileURLToPath(new URL("../examples/worker/src/main.ts", import.meta.url))
const redisPort = Number(new URL(redisUrl).port || 6379)
const redisHost = new URL(redisUrl).hostname

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits

// ---- raw BullMQ: no-op jobs/s --------------------------------------------------------------------
const rawJobsPerSecond = async (): Promise<number> => {
  const name = `raw-${id}`
  const connection = { host: redisHost, port: redisPort }
  const queue = new BullQueue(name, { connection, prefix })
  for (let i = 0; i < RAW_JOBS; i += 1_000) {
    await queue.addBulk(Array.from({ length: Math.min(1_000, RAW_JOBS - i) }, (_, k) => ({
      name: "noop",
      data: { i: i + k },
      opts: { removeOnComplete: true }
    })))
  }
  let done = 0
  const finished = Promise.withResolvers<void>()
  const start = performance.now()
  const worker = new BullWorker(name, async () => {}, { connection: { ...connection, maxRetriesPerRequest: null }, prefix, concurrency: CONCURRENCY })
  worker.on("completed", () => {
    done += 1
    if (done === RAW_JOBS) finished.resolve()
  })
  await finished.promise
  const seconds = (performance.now() - start) / 1000
  await worker.close()
  await queue.obliterate({ force: true })
  await queue.close()
  return RAW_JOBS / seconds
}

// ---- SDK through worker processes ------------------------------------------------------------------
const emulator = await BedrockEmulator.start({
  port: 0,
  scenario: { seed: 1, defaults: { latency: { ttftMs: { min: 0, max: 0 }, tokensPerSecond: 1_000_000, jitter: 0 } } }
})

const queueName = `sdk-${id}`
const producer = createCertification({
  storage: PgStorage.layerFromUrl(databaseUrl, { schema, max: 4 }),
  queue: BullMqQueue.layer({ connection: redisUrl, queueName, prefix }),
  bedrock: { endpoint: emulator.url },
  worker: false,
  logLevel: "Error"
})
const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} })

const spawnWorker = async (port: number): Promise<ChildProcess> => {
  const child = spawn(process.execPath, ["--conditions=@myia/source", mainScript], {
    env: {
      PATH: process.env["PATH"] ?? "",
      DATABASE_URL: databaseUrl,
      CERTIFICATION_PG_SCHEMA: schema,
      REDIS_URL: redisUrl,
      CERTIFICATION_QUEUE_NAME: queueName,
      CERTIFICATION_REDIS_PREFIX: prefix,
      CERTIFICATION_CONCURRENCY: String(CONCURRENCY),
      WORKER_HEALTH_PORT: String(port),
      BEDROCK_ENDPOINT: emulator.url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "AKIABENCH",
      AWS_SECRET_ACCESS_KEY: "bench",
      CERTIFICATION_SHUTDOWN_GRACE: "2000"
    },
    stdio: ["ignore", "ignore", "inherit"]
  })
  for (let i = 0; i < 300; i++) {
    if (await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false)) return child
    await sleep(200)
  }
  throw new Error("worker did not become ready")
}

const stopWorker = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

const registry = Registry.make()
const now = new Date().toISOString()
const certifiableIn = (region: string) =>
  registry.list().filter((m) => m.modality === "chat" && registry.certifiability(m.id, region as never, now)._tag === "Certifiable")
    .length
const regionsByModels = [...new Set(registry.list().flatMap((m) => m.regions.map((r) => r.region as string)))]
  .map((region) => ({ region, n: certifiableIn(region) }))
  .sort((a, b) => b.n - a.n)
/** Regions whose certifiable chat models add up to at least `units`. */
const regionsFor = (units: number): Array<string> => {
  const out: Array<string> = []
  let total = 0
  for (const r of regionsByModels) {
    if (total >= units) break
    out.push(r.region)
    total += r.n
  }
  return out
}

/** Units/s of `processes` worker processes on one job of about `units` units. */
const sdkUnitsPerSecond = async (processes: number, units: number) => {
  const ports = [19_600 + processes * 10, 19_601 + processes * 10]
  const workers = await Promise.all(Array.from({ length: processes }, (_, i) => spawnWorker(ports[i]!)))
  const start = performance.now()
  const created = await producer.certifyAll({ regions: regionsFor(units), modalities: ["chat"] })
  await producer.waitForJob(created.jobId)
  const seconds = (performance.now() - start) / 1000
  const [row] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${sql(schema)}.units WHERE job_id = ${created.jobId}`
  await Promise.all(workers.map(stopWorker))
  return { processes, units: row?.n ?? 0, seconds: round(seconds, 2), unitsPerSecond: round((row?.n ?? 0) / seconds) }
}

/** Time to create a ~1,000-unit job on a queue nobody consumes (PostgreSQL insert + addBulk). */
const enqueueMillis = async () => {
  const enqueueQueue = `enqueue-${id}`
  const client = createCertification({
    storage: PgStorage.layerFromUrl(databaseUrl, { schema, max: 4 }),
    queue: BullMqQueue.layer({ connection: redisUrl, queueName: enqueueQueue, prefix }),
    worker: false,
    logLevel: "Error"
  })
  const samples: Array<{ units: number; millis: number }> = []
  for (let i = 0; i < 4; i++) {
    const start = performance.now()
    const created = await client.certifyAll({ regions: regionsFor(1_000), modalities: ["chat"] })
    const millis = performance.now() - start
    const [row] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${sql(schema)}.units WHERE job_id = ${created.jobId}`
    if (i > 0) samples.push({ units: row?.n ?? 0, millis: round(millis) }) // the first warms the pool and the scripts
    await client.cancel(created.jobId)
  }
  await client.close()
  return samples
}

/** The emulator's latency for the I/O-bound scale-out (issue 16: ≥ 100 ms per call). */
const IO_LATENCY_MS = Number(process.env["BENCH_LATENCY_MS"] ?? 100)
const ioBound = (ms: number) => ({
  seed: 1,
  defaults: { latency: { ttftMs: { min: ms, max: ms }, tokensPerSecond: 1_000_000, jitter: 0 } }
})

const raw = await rawJobsPerSecond()
console.log(`raw BullMQ no-op: ${round(raw)} jobs/s (1 process, concurrency ${CONCURRENCY}, ${RAW_JOBS} jobs)`)
const one = await sdkUnitsPerSecond(1, 300)
console.log(`SDK, 1 worker process: ${one.unitsPerSecond} units/s (${one.units} units in ${one.seconds} s)`)
const two = await sdkUnitsPerSecond(2, 300)
console.log(`SDK, 2 worker processes: ${two.unitsPerSecond} units/s (${two.units} units in ${two.seconds} s)`)
// Counted before the scenario change, which resets the emulator's request log.
const bedrockCalls = emulator.requests().length
// I/O-bound: every Bedrock call takes IO_LATENCY_MS, so the processes wait on the network, not the CPU.
emulator.setScenario(ioBound(IO_LATENCY_MS))
const oneIo = await sdkUnitsPerSecond(1, 300)
console.log(`SDK, 1 worker process, ${IO_LATENCY_MS} ms per call: ${oneIo.unitsPerSecond} units/s (${oneIo.units} units in ${oneIo.seconds} s)`)
const twoIo = await sdkUnitsPerSecond(2, 300)
console.log(`SDK, 2 worker processes, ${IO_LATENCY_MS} ms per call: ${twoIo.unitsPerSecond} units/s (${twoIo.units} units in ${twoIo.seconds} s) → ×${round(twoIo.unitsPerSecond / oneIo.unitsPerSecond, 2)}`)
const enqueue = await enqueueMillis()
const enqueueMedian = [...enqueue].sort((a, b) => a.millis - b.millis)[Math.floor(enqueue.length / 2)]!
console.log(`enqueue a ${enqueueMedian.units}-unit job: ${enqueueMedian.millis} ms (median of ${enqueue.length})`)

const results = {
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version },
  rawBullMq: { jobsPerSecond: round(raw), jobs: RAW_JOBS, concurrency: CONCURRENCY },
  sdk: { oneProcess: one, twoProcesses: two, concurrencyPerProcess: CONCURRENCY },
  sdkIoBound: { latencyMs: IO_LATENCY_MS, oneProcess: oneIo, twoProcesses: twoIo, scaleOut: round(twoIo.unitsPerSecond / oneIo.unitsPerSecond, 2) },
  ratio: {
    sdkUnitsPerRawJob: round(one.unitsPerSecond / raw, 4),
    scaleOut: round(two.unitsPerSecond / one.unitsPerSecond, 2)
  },
  bedrockCallsPerUnit: round(bedrockCalls / Math.max(1, one.units + two.units), 1),
  enqueue: { samples: enqueue, medianMillis: enqueueMedian.millis, units: enqueueMedian.units }
}
writeFileSync(new URL("results/bullmq.json", import.meta.url), JSON.stringify(results, null, 2) + "\n")
writeFileSync(
  new URL("results/bullmq.md", import.meta.url),
  `# BullMQ bench (${results.at}, ${results.machine.cpus} CPUs, Node ${results.machine.node})

| measure | value |
|---|---|
| raw BullMQ no-op jobs/s (1 process, concurrency ${CONCURRENCY}) | ${results.rawBullMq.jobsPerSecond} |
| SDK units/s, 1 worker process (full suite, zero-latency emulator, PostgreSQL) | ${one.unitsPerSecond} (${one.units} units) |
| SDK units/s, 2 worker processes | ${two.unitsPerSecond} (${two.units} units) |
| SDK units per raw BullMQ job (1 process) | ${results.ratio.sdkUnitsPerRawJob} |
| scale-out 1 → 2 processes | ×${results.ratio.scaleOut} |
| SDK units/s, 1 / 2 worker processes, ${IO_LATENCY_MS} ms per Bedrock call (I/O-bound) | ${oneIo.unitsPerSecond} / ${twoIo.unitsPerSecond} |
| scale-out 1 → 2 processes, I/O-bound (target ≥ 1.8) | ×${results.sdkIoBound.scaleOut} |
| Bedrock calls per unit | ${results.bedrockCallsPerUnit} |
| create + enqueue a ${enqueueMedian.units}-unit job (median) | ${enqueueMedian.millis} ms |

A unit is a whole certification (the v1 suite: about ${results.bedrockCallsPerUnit} Bedrock calls, fenced
PostgreSQL claim and write, progress events), so a unit costs far more than a no-op job by design.
`
)
console.log("wrote bench/results/bullmq.json and bullmq.md")

await producer.close()
await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
await sql.end({ timeout: 2 })
await emulator.close()
const redis = new Redis(redisUrl)
let cursor = "0"
do {
  const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500)
  if (keys.length > 0) await redis.unlink(...keys)
  cursor = next
} while (cursor !== "0")
redis.disconnect()
process.exit(0)
