/**
 * Large-job benchmark (issue 16; not part of the tests): a 10,000-unit job end to end on PostgreSQL +
 * BullMQ, next to a 1,000-unit job in the same run, to show what grows with the job's size and what
 * does not.
 *
 * Four processes, all this file: the API (this process: `createCertificationHandler` on node:http,
 * PostgreSQL storage, BullMQ producer, no worker), one worker process (`WorkerProcess.runWorker`,
 * concurrency BENCH_LARGE_CONCURRENCY, default 50), the emulator (zero latency, no quota) and a load
 * process for the HTTP reads, so the API's RSS is the API's alone. The models are synthetic copies
 * of a built-in chat model (`amazon.bench-large-NNNN-v1:0`) offered on demand in 20 regions, known to
 * the API's and the worker's registry and to the emulator; the job is `POST /certify-multiple` of
 * N/20 models × 20 regions, each unit the full v1 suite.
 *
 * Per job: create + enqueue time (the POST), API RSS before / peak during the POST / peak during
 * detail reads while the job runs and after it ended, worker RSS (peak, sampled from /proc), run time,
 * verdicts, and the detail reads' latency under BENCH_LARGE_CLIENTS (16) clients for
 * BENCH_LARGE_SECONDS (8 s): the first page, then pages spread over the whole job.
 * Writes bench/results/large.{json,md}.
 *
 * Run: `pnpm bench --only large` or `pnpm exec node --conditions=@myia/source bench/large.ts`
 * (REDIS_URL, DATABASE_URL as in bullmq.ts; a fresh schema and key prefix, removed afterwards).
 * BENCH_LARGE_UNITS (10000) and BENCH_LARGE_SMALL (1000) set the two sizes. Takes ~10 minutes.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import type * as Http from "node:http"
import { cpus, loadavg } from "node:os"
import { createRequire } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

if (!process.execArgv.some((a) => a.includes("@myia/source"))) {
  const child = spawnSync(process.execPath, ["--conditions=@myia/source", ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit"
  })
  process.exit(child.status ?? 1)
}

const { Region, Registry } = await import("../packages/core/src/index.ts")

const self = fileURLToPath(import.meta.url)
const redisUrl = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"
const databaseUrl = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
const REGIONS = Region.regionCodes.filter((r) => !r.startsWith("us-gov")).slice(0, 20)
const BIG = Number(process.env["BENCH_LARGE_UNITS"] ?? 10_000)
const SMALL = Number(process.env["BENCH_LARGE_SMALL"] ?? 1_000)
const CONCURRENCY = Number(process.env["BENCH_LARGE_CONCURRENCY"] ?? 50)
const CLIENTS = Number(process.env["BENCH_LARGE_CLIENTS"] ?? 16)
const SECONDS = Number(process.env["BENCH_LARGE_SECONDS"] ?? 8)
const TOKEN = "bench-token"
const PAGE = 100

/** `count` synthetic chat models (copies of Nova Lite), each offered on demand in every bench region. */
const syntheticModels = (count: number) => {
  const base = Registry.builtinModels.find((m) => m.id === "amazon.nova-lite-v1:0")!
  return Array.from({ length: count }, (_, i) =>
    new Registry.ModelInfo({
      ...base,
      id: `amazon.bench-large-${String(i).padStart(4, "0")}-v1:0`,
      name: `Bench Large ${i}`,
      regions: REGIONS.map((region) => ({ region: region as never, invocation: "ON_DEMAND" as const })),
      profiles: [],
      sources: { id: "bench" }
    }))
}
const models = syntheticModels(Math.ceil(Math.max(BIG, SMALL) / REGIONS.length))

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const mb = (bytes: number) => round(bytes / 1e6)
const load1 = () => round(loadavg()[0]!, 2)

/** RSS of another process from /proc (Linux), in bytes; 0 when unreadable. */
const rssOf = (pid: number): number => {
  try {
    const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return line === null ? 0 : Number(line[1]) * 1024
  } catch {
    return 0
  }
}

// ---------------------------------------------------------------------------------------------
// Child modes: emulator, worker, load
// ---------------------------------------------------------------------------------------------

const mode = process.argv[2] ?? "main"

if (mode === "emulator") {
  const { BedrockEmulator, Scenario } = await import("../packages/core/src/emulator.ts")
  const scenario = Scenario.make(
    { seed: 1, defaults: { latency: { ttftMs: { min: 0, max: 0 }, tokensPerSecond: 1_000_000, jitter: 0 } } },
    { models: [...Registry.builtinModels, ...models] }
  )
  const emulator = await BedrockEmulator.start({ port: 0, scenario, maxLogEntries: 1_000 })
  console.log(`EMULATOR ${emulator.url}`)
  process.on("SIGTERM", () => void emulator.close().then(() => process.exit(0)))
} else if (mode === "worker") {
  const { WorkerProcess } = await import("../packages/adapter-bullmq/src/index.ts")
  const { PgStorage } = await import("../packages/adapter-postgres/src/index.ts")
  const code = await WorkerProcess.runWorker({
    storage: PgStorage.layerFromUrl(databaseUrl, { schema: process.env["CERTIFICATION_PG_SCHEMA"], max: 4 }),
    registry: { models }
  })
  process.exit(code)
} else if (mode === "load") {
  // argv: origin, seconds, clients, then the paths (requests cycle through them).
  const [origin, seconds, clients, ...paths] = process.argv.slice(3)
  const times: Array<number> = []
  let errors = 0
  let next = 0
  const deadline = performance.now() + Number(seconds) * 1000
  const started = performance.now()
  await Promise.all(Array.from({ length: Number(clients) }, async () => {
    while (performance.now() < deadline) {
      const path = paths[next++ % paths.length]!
      const start = performance.now()
      try {
        const response = await fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
        await response.arrayBuffer()
        if (response.status !== 200) throw new Error(String(response.status))
        times.push(performance.now() - start)
      } catch {
        errors++
      }
    }
  }))
  times.sort((a, b) => a - b)
  const at = (p: number) => round(times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? NaN, 2)
  const elapsed = (performance.now() - started) / 1000
  console.log(`LOAD ${JSON.stringify({ requests: times.length, errors, p50: at(0.5), p95: at(0.95), rps: round(times.length / elapsed) })}`)
} else {
  await main()
}

// ---------------------------------------------------------------------------------------------
// Main: the API process and the measurements
// ---------------------------------------------------------------------------------------------

interface Reads {
  readonly requests: number
  readonly errors: number
  readonly p50: number
  readonly p95: number
  readonly rps: number
}

async function main() {
  const { BullMqQueue } = await import("../packages/adapter-bullmq/src/index.ts")
  const { PgStorage } = await import("../packages/adapter-postgres/src/index.ts")
  const { createCertificationHandler } = await import("../packages/http-plugin/src/index.ts")
  const NodeHttp = await import("node:http")
  const fromWorker = createRequire(new URL("../examples/worker/package.json", import.meta.url))
  const postgres = ((await import(pathToFileURL(fromWorker.resolve("postgres")).href)) as typeof import("postgres")).default
  const { Redis } = (await import(pathToFileURL(fromWorker.resolve("ioredis")).href)) as typeof import("ioredis")

  const id = Math.random().toString(36).slice(2, 8)
  const schema = `bench_large_${id}`
  const prefix = `bench-large-${id}`
  const queueName = `large-${id}`
  const children: Array<ChildProcess> = []

  /** Spawn this file in `childMode`; `line` resolves with the first stdout line starting with `marker`. */
  const child = (childMode: string, args: ReadonlyArray<string>, env: Record<string, string>, marker: string) => {
    const p = spawn(process.execPath, ["--conditions=@myia/source", self, childMode, ...args], {
      env: { PATH: process.env["PATH"] ?? "", ...env },
      stdio: ["ignore", "pipe", "inherit"]
    })
    children.push(p)
    const line = new Promise<string>((resolve, reject) => {
      let out = ""
      p.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        const found = out.split("\n").find((l) => l.startsWith(marker))
        if (found !== undefined) resolve(found.slice(marker.length).trim())
      })
      p.once("exit", (code) => reject(new Error(`${childMode} exited ${code} before printing ${marker}`)))
    })
    return { process: p, line }
  }

  const endpoint = await child("emulator", [], {}, "EMULATOR").line

  const certification = createCertificationHandler({
    certification: {
      storage: PgStorage.layerFromUrl(databaseUrl, { schema, max: 10 }),
      queue: BullMqQueue.layer({ connection: redisUrl, queueName, prefix }),
      bedrock: { endpoint },
      registry: { models },
      worker: false,
      settings: { limits: { maxModelsPerJob: models.length, maxRegionsPerJob: REGIONS.length, maxUnitsPerJob: BIG } },
      logLevel: "Warn"
    },
    authorize: ({ headers }) =>
      headers.authorization === `Bearer ${TOKEN}` ? { id: "bench", canRead: true, canWrite: true } : { status: 401 },
    maxBodyBytes: 1_000_000
  })
  const server: Http.Server = NodeHttp.createServer((req, res) => certification.node(req, res))
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const origin = `http://127.0.0.1:${(server.address() as { readonly port: number }).port}`
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${origin}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const json = (await response.json()) as { readonly data: any }
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json).slice(0, 300)}`)
    return json.data
  }
  // The first request builds the layers and migrates the schema.
  await api("GET", "/history?limit=1")

  const healthPort = 19_700 + Math.floor(Math.random() * 200)
  const workerChild = child("worker", [], {
    DATABASE_URL: databaseUrl,
    CERTIFICATION_PG_SCHEMA: schema,
    REDIS_URL: redisUrl,
    CERTIFICATION_QUEUE_NAME: queueName,
    CERTIFICATION_REDIS_PREFIX: prefix,
    CERTIFICATION_CONCURRENCY: String(CONCURRENCY),
    CERTIFICATION_SCHEDULE: "off",
    WORKER_HEALTH_PORT: String(healthPort),
    BEDROCK_ENDPOINT: endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "AKIABENCH",
    AWS_SECRET_ACCESS_KEY: "bench",
    CERTIFICATION_LOG_LEVEL: "Warn"
  }, "never")
  workerChild.line.catch(() => {}) // prints no marker; its exit at the end is expected
  const workerProcess = workerChild.process
  for (let i = 0; ; i++) {
    if (await fetch(`http://127.0.0.1:${healthPort}/ready`).then((r) => r.ok, () => false)) break
    if (i > 300) throw new Error("worker did not become ready")
    await sleep(200)
  }

  /** Peak RSS of this process and of the worker, sampled every 50 ms while `f` runs. */
  const sampled = async <A>(f: () => Promise<A>) => {
    let api = process.memoryUsage().rss
    let work = rssOf(workerProcess.pid!)
    const timer = setInterval(() => {
      api = Math.max(api, process.memoryUsage().rss)
      work = Math.max(work, rssOf(workerProcess.pid!))
    }, 50)
    try {
      const value = await f()
      return { value, apiRssMb: mb(Math.max(api, process.memoryUsage().rss)), workerRssMb: mb(work) }
    } finally {
      clearInterval(timer)
    }
  }

  const reads = async (paths: ReadonlyArray<string>): Promise<Reads> => {
    return JSON.parse(await child("load", [origin, String(SECONDS), String(CLIENTS), ...paths], {}, "LOAD").line) as Reads
  }

  // A full GC before each heap reading, so "heap after" is what the API holds, not garbage not yet collected.
  setFlagsFromString("--expose-gc")
  const gc = runInNewContext("gc") as () => void
  const heapMb = () => {
    gc()
    return mb(process.memoryUsage().heapUsed)
  }
  const heapAtStartMb = heapMb()

  const runJob = async (units: number) => {
    const modelIds = models.slice(0, Math.ceil(units / REGIONS.length)).map((m) => m.id)
    const rssBeforeMb = mb(process.memoryUsage().rss)
    const workerRssBeforeMb = mb(rssOf(workerProcess.pid!))
    const loadAtStart = load1()
    const started = performance.now()
    const created = await sampled(() => api("POST", "/certify-multiple", { modelIds, regions: REGIONS }))
    const enqueueMs = round(performance.now() - started)
    const jobId = created.value.jobId as string
    const total = created.value.totalJobs as number
    console.log(`${total} units: created + enqueued in ${enqueueMs} ms (API peak RSS ${created.apiRssMb} MB, before ${rssBeforeMb} MB)`)
    const firstPage = `/jobs/${jobId}`
    const spread = Array.from({ length: 20 }, (_, i) => `/jobs/${jobId}?unitsPage=${1 + Math.floor((i * total) / PAGE / 20)}`)
    // Reads while the worker runs: the counts move, so the summary is rebuilt as they do.
    const whileRunning = await sampled(() => reads([firstPage, ...spread]))
    console.log(`  reads while running: p50 ${whileRunning.value.p50} ms, p95 ${whileRunning.value.p95} ms, ` +
      `${whileRunning.value.rps} req/s; API peak RSS ${whileRunning.apiRssMb} MB`)
    const ran = await sampled(async () => {
      for (;;) {
        const d = await api("GET", `/jobs/${jobId}?unitsLimit=1`)
        if (["COMPLETED", "FAILED", "CANCELLED"].includes(d.status)) return d
        await sleep(500)
      }
    })
    const runSeconds = round((performance.now() - started) / 1000)
    const counts = ran.value.counts as { readonly byVerdict: Record<string, number>; readonly completed: number }
    console.log(`  ${ran.value.status} after ${runSeconds} s (${round(total / runSeconds)} units/s); worker peak RSS ` +
      `${ran.workerRssMb} MB; verdicts ${JSON.stringify(counts.byVerdict)}`)
    const first = await sampled(() => reads([firstPage]))
    const pages = await sampled(() => reads(spread))
    console.log(`  reads after: first page p50 ${first.value.p50} / p95 ${first.value.p95} ms; spread pages p50 ` +
      `${pages.value.p50} / p95 ${pages.value.p95} ms; API peak RSS ${Math.max(first.apiRssMb, pages.apiRssMb)} MB`)
    return {
      units: total,
      status: ran.value.status as string,
      byVerdict: counts.byVerdict,
      enqueueMs,
      runSeconds,
      unitsPerSecond: round(total / runSeconds),
      apiRssBeforeMb: rssBeforeMb,
      apiRssPeakCreateMb: created.apiRssMb,
      apiRssPeakReadsRunningMb: whileRunning.apiRssMb,
      apiRssPeakReadsAfterMb: Math.max(first.apiRssMb, pages.apiRssMb),
      apiHeapAfterGcMb: heapMb(),
      workerRssBeforeMb,
      workerRssPeakMb: Math.max(ran.workerRssMb, whileRunning.workerRssMb, created.workerRssMb),
      readsWhileRunning: whileRunning.value,
      readsFirstPage: first.value,
      readsSpreadPages: pages.value,
      loadAtStart,
      loadAtEnd: load1()
    }
  }

  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null })
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  try {
    console.log(`API ${origin}, worker pid ${workerProcess.pid} (concurrency ${CONCURRENCY}), emulator ${endpoint}; ` +
      `${models.length} synthetic models × ${REGIONS.length} regions; load ${load1()}`)
    const small = await runJob(SMALL)
    const big = await runJob(BIG)
    const results = { small, big }
    const environment = {
      node: process.version,
      cpus: cpus().length,
      queue: "BullMQ (Redis) + PostgreSQL",
      workerConcurrency: CONCURRENCY,
      clients: CLIENTS,
      readSeconds: SECONDS,
      date: new Date().toISOString()
    }
    const out = new URL("./results/", import.meta.url)
    writeFileSync(new URL("large.json", out), JSON.stringify({ environment, apiHeapAtStartMb: heapAtStartMb, results }, null, 2) + "\n")
    const row = (label: string, f: (r: typeof small) => unknown) => `| ${label} | ${f(small)} | ${f(big)} |`
    const md = [
      `# Large-job bench (${environment.date}, ${environment.cpus} CPUs, Node ${environment.node})`,
      "",
      `PostgreSQL + BullMQ; API (this process, no worker), one worker process (concurrency ${CONCURRENCY}), the emulator ` +
      `at zero latency and the HTTP load (${CLIENTS} clients, ${SECONDS} s per measurement) each in their own process. ` +
      "RSS is sampled every 50 ms; \"before\" is after the previous job. Load average (1 min) at the start and end of each job.",
      "",
      "| measure | small job | large job |",
      "|---|---|---|",
      row("units", (r) => r.units),
      row("create + enqueue (POST /certify-multiple), ms", (r) => r.enqueueMs),
      row("run to the end, s (units/s)", (r) => `${r.runSeconds} (${r.unitsPerSecond})`),
      row("final status, verdicts", (r) => `${r.status} ${JSON.stringify(r.byVerdict).replaceAll("\"", "")}`),
      row("API RSS before, MB", (r) => r.apiRssBeforeMb),
      row("API peak RSS during create + enqueue, MB", (r) => r.apiRssPeakCreateMb),
      row("API peak RSS during detail reads while running, MB", (r) => r.apiRssPeakReadsRunningMb),
      row("API peak RSS during detail reads after the end, MB", (r) => r.apiRssPeakReadsAfterMb),
      row(`API heap after a full GC at the end (${heapAtStartMb} MB before the first job), MB`, (r) => r.apiHeapAfterGcMb),
      row("worker RSS before / peak, MB", (r) => `${r.workerRssBeforeMb} / ${r.workerRssPeakMb}`),
      row("detail reads while running: p50 / p95 ms (req/s)", (r) => `${r.readsWhileRunning.p50} / ${r.readsWhileRunning.p95} (${r.readsWhileRunning.rps})`),
      row("first page after the end: p50 / p95 ms (req/s)", (r) => `${r.readsFirstPage.p50} / ${r.readsFirstPage.p95} (${r.readsFirstPage.rps})`),
      row("pages across the job: p50 / p95 ms (req/s)", (r) => `${r.readsSpreadPages.p50} / ${r.readsSpreadPages.p95} (${r.readsSpreadPages.rps})`),
      row("load average start / end", (r) => `${r.loadAtStart} / ${r.loadAtEnd}`),
      ""
    ].join("\n")
    writeFileSync(new URL("large.md", out), md)
    console.log(`\n${md}`)
  } finally {
    server.close()
    server.closeAllConnections()
    await certification.dispose().catch(() => {})
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM")
    await sleep(2_000)
    const keys = await redis.keys(`${prefix}:*`)
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500))
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await sql.end()
    redis.disconnect()
  }
}
