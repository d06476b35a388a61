/**
 * BullMQ benchmark (not part of the tests): what the SDK costs per unit on top of raw BullMQ.
 *
 * - raw BullMQ: no-op jobs/s through one in-process Worker (concurrency 50), the ceiling of the queue;
 * - SDK: units/s of one worker process (`examples/worker/src/main.ts`: PostgreSQL storage, BullMQ,
 *   the full v1 suite per unit against a zero-latency emulator), then of two processes (scale-out);
 * - I/O-bound scale-out (issue 16): the same with 200 ms per Bedrock call and few enough units in
 *   flight per process that a process waits on the network, not on a CPU (each run prints the CPU
 *   share of every worker, the emulator, PostgreSQL and Redis, and of the whole box);
 * - enqueue: time to create a ~1,000-unit job (`certifyAll`: PostgreSQL insert + `addBulk`).
 * All measured in the same run on the same Redis and PostgreSQL. Writes bench/results/bullmq.{json,md}.
 *
 * Run: `pnpm bench --bullmq` or `pnpm exec node --conditions=@myia/source bench/bullmq.ts`
 * (REDIS_URL default redis://127.0.0.1:6379, DATABASE_URL default postgres://postgres@127.0.0.1:5432/test;
 * a fresh key prefix and schema, removed afterwards).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
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

interface SpawnOptions {
  /** Units in flight in the process (CERTIFICATION_CONCURRENCY). */
  readonly concurrency?: number
  /** Write a V8 CPU profile into this directory when the process exits. */
  readonly cpuProfileDir?: string
}

const spawnWorker = async (port: number, options: SpawnOptions = {}): Promise<ChildProcess> => {
  const profile = options.cpuProfileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`]
  const child = spawn(process.execPath, ["--conditions=@myia/source", ...profile, mainScript], {
    env: {
      PATH: process.env["PATH"] ?? "",
      DATABASE_URL: databaseUrl,
      CERTIFICATION_PG_SCHEMA: schema,
      REDIS_URL: redisUrl,
      CERTIFICATION_QUEUE_NAME: queueName,
      CERTIFICATION_REDIS_PREFIX: prefix,
      CERTIFICATION_CONCURRENCY: String(options.concurrency ?? CONCURRENCY),
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

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
const cpuSecondsOf = (pid: number | undefined): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in clock ticks (100/s)
  } catch {
    return Number.NaN
  }
}

/** Busy CPU seconds of the whole box so far (every process, others' too), from /proc/stat; NaN elsewhere. */
const boxBusySeconds = (): number => {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
    const idle = fields[3]! + fields[4]! // idle + iowait
    return (fields.reduce((a, b) => a + b, 0) - idle) / 100
  } catch {
    return Number.NaN
  }
}

/** CPU seconds so far of each PostgreSQL and Redis server process, by pid (Linux; empty elsewhere). */
const serviceCpuSeconds = (): Map<string, { readonly service: "postgres" | "redis"; readonly seconds: number }> => {
  const out = new Map<string, { readonly service: "postgres" | "redis"; readonly seconds: number }>()
  let pids: Array<string> = []
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d))
  } catch {
    return out
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
      const service = comm.startsWith("postgres") ? "postgres" : comm.startsWith("redis") ? "redis" : undefined
      if (service === undefined) continue
      const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ")
      out.set(pid, { service, seconds: (Number(fields[11]) + Number(fields[12])) / 100 })
    } catch {
      // the process ended meanwhile
    }
  }
  return out
}

/** CPU seconds PostgreSQL and Redis used between two readings (a backend born in between counts whole). */
const serviceCpuBetween = (
  before: ReturnType<typeof serviceCpuSeconds>,
  after: ReturnType<typeof serviceCpuSeconds>
) => {
  const used = { postgres: 0, redis: 0 }
  for (const [pid, { service, seconds }] of after) used[service] += seconds - (before.get(pid)?.seconds ?? 0)
  return used
}

/**
 * Mean units in flight over the job (from each unit's started/completed times), the median unit time,
 * and the completion rate between the 10th and 90th percentile of completions (start-up and the
 * last units' tail left out).
 */
const unitTimes = async (jobId: string) => {
  const rows = await sql<Array<{ s: number; c: number }>>`
    SELECT extract(epoch FROM started_at) * 1000 AS s, extract(epoch FROM completed_at) * 1000 AS c
    FROM ${sql(schema)}.units WHERE job_id = ${jobId} AND started_at IS NOT NULL AND completed_at IS NOT NULL`
  if (rows.length === 0) return { meanInFlight: 0, unitMillisP50: 0, centralUnitsPerSecond: 0 }
  const spans = rows.map((r) => [Number(r.s), Number(r.c)] as const)
  const first = Math.min(...spans.map(([s]) => s))
  const last = Math.max(...spans.map(([, c]) => c))
  const busy = spans.reduce((a, [s, c]) => a + (c - s), 0)
  const durations = spans.map(([s, c]) => c - s).sort((a, b) => a - b)
  const completions = spans.map(([, c]) => c).sort((a, b) => a - b)
  const p10 = Math.floor(completions.length * 0.1)
  const p90 = Math.floor(completions.length * 0.9)
  return {
    meanInFlight: round(busy / Math.max(1, last - first)),
    unitMillisP50: round(durations[Math.floor(durations.length / 2)]!, 0),
    centralUnitsPerSecond: round((p90 - p10) / Math.max(0.001, (completions[p90]! - completions[p10]!) / 1000))
  }
}

/**
 * Units/s of `processes` worker processes on one job of about `units` units (in `regions`, default
 * the regions with the most chat models). The clock starts once every process is ready (startup is
 * not measured) and stops when the job ends; each process's CPU seconds over that window are read
 * from /proc, so a figure says whether the processes were CPU-bound.
 */
const sdkUnitsPerSecond = async (
  processes: number,
  units: number,
  options: SpawnOptions & { readonly regions?: ReadonlyArray<string> } = {}
) => {
  const workers = await Promise.all(Array.from({ length: processes }, (_, i) => spawnWorker(19_600 + processes * 10 + i, options)))
  const cpuBefore = workers.map((w) => cpuSecondsOf(w.pid))
  const benchBefore = process.cpuUsage()
  const boxBefore = boxBusySeconds()
  const servicesBefore = serviceCpuSeconds()
  const load = loadavg()[0]!
  const startedAt = Date.now()
  const start = performance.now()
  const modelIds = options.regions === undefined ? undefined : chatModelsIn(options.regions, units)
  const created = modelIds === undefined
    ? await producer.certifyAll({ regions: regionsFor(units), modalities: ["chat"] })
    : await producer.certifyMultiple({ modelIds, regions: options.regions! })
  await producer.waitForJob(created.jobId)
  const seconds = (performance.now() - start) / 1000
  const cpuSeconds = workers.map((w, i) => round(cpuSecondsOf(w.pid) - cpuBefore[i]!, 2))
  const bench = process.cpuUsage(benchBefore)
  const boxBusy = boxBusySeconds() - boxBefore
  const services = serviceCpuBetween(servicesBefore, serviceCpuSeconds())
  const times = await unitTimes(created.jobId)
  const [row] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${sql(schema)}.units WHERE job_id = ${created.jobId}`
  await Promise.all(workers.map(stopWorker))
  const n = row?.n ?? 0
  return {
    processes,
    units: n,
    seconds: round(seconds, 2),
    unitsPerSecond: round(n / seconds),
    startedAt,
    loadAverage: round(load, 2),
    cpuSeconds,
    /** Mean share of one CPU each process used over the run. */
    cpuShare: round(cpuSeconds.reduce((a, b) => a + b, 0) / processes / seconds, 2),
    /** Share of one CPU each process used over the run. */
    cpuShares: cpuSeconds.map((c) => round(c / seconds, 2)),
    /** Share of one CPU this process (the emulator, the producer) used: the emulator serves every call. */
    emulatorCpuShare: round((bench.user + bench.system) / 1e6 / seconds, 2),
    /** Shares of one CPU the PostgreSQL and Redis servers used (every client's, others' benches too). */
    postgresCpuShare: round(services.postgres / seconds, 2),
    redisCpuShare: round(services.redis / seconds, 2),
    /** CPUs the whole box kept busy (every process on it) over the run, out of `cpus().length`. */
    boxBusyCpus: round(boxBusy / seconds, 2),
    ...times
  }
}

/** Up to `units / regions` chat models certifiable in every one of `regions`. */
const chatModelsIn = (regions: ReadonlyArray<string>, units: number): Array<string> =>
  registry.list()
    .filter((m) => m.modality === "chat" && regions.every((r) => registry.certifiability(m.id, r as never, now)._tag === "Certifiable"))
    .map((m) => m.id)
    .sort()
    .slice(0, Math.ceil(units / regions.length))

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

/**
 * The emulator's latency per call in the I/O-bound scale-out (issue 16: ≥ 100 ms). 200 ms: a unit then
 * waits on Bedrock ~80 % of its time (~0.9 of ~1.1 s), so the CPU delays another process or bench
 * adds on a shared 2-CPU box move the unit time by a few per cent, not ~10 % as at 100 ms.
 */
const IO_LATENCY_MS = Number(process.env["BENCH_LATENCY_MS"] ?? 200)
/** The emulator's latency per call in the shared-quota part. */
const QUOTA_LATENCY_MS = Number(process.env["BENCH_QUOTA_LATENCY_MS"] ?? 100)
const ioBound = (ms: number) => ({
  seed: 1,
  defaults: { latency: { ttftMs: { min: ms, max: ms }, tokensPerSecond: 1_000_000, jitter: 0 } }
})

/** Where a CPU profile's self time goes, by the code it ran in. */
const CPU_BUCKETS: ReadonlyArray<readonly [string, RegExp]> = [
  ["AWS SDK client (smithy, signing, serde)", /@aws-sdk|@smithy|@aws-crypto/],
  ["HTTP/2 and sockets (node internals)", /node:internal\/(http2|net|stream|tls|dns|streams)|node:http2|node:net/],
  ["PostgreSQL driver", /postgres\/|postgres@/],
  ["BullMQ and ioredis", /bullmq|ioredis/],
  ["Effect Schema (decode/encode)", /effect\/dist\/.*[Ss]chema|effect\/src\/.*[Ss]chema/],
  ["Effect runtime (fibers, layers, streams)", /effect\//],
  ["certification core (runner, suite, governor, worker)", /packages\/core\/src/],
  ["other adapters (postgres, bullmq packages)", /packages\/adapter-/],
  ["JSON, crypto, other node built-ins", /^node:|node:internal/],
  ["garbage collector", /^\(garbage collector\)$/],
  ["other JS", /./]
]

interface CpuProfile {
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: { readonly url: string; readonly functionName: string } }>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** Self time (ms) per bucket of a V8 `.cpuprofile`; idle and the profiler's own "(program)" are left out. */
const summarizeProfile = (profile: CpuProfile) => {
  const bucketOf = new Map<number, string | null>()
  for (const node of profile.nodes) {
    const { functionName, url } = node.callFrame
    if (functionName === "(idle)" || functionName === "(program)" || functionName === "(root)") {
      bucketOf.set(node.id, null)
      continue
    }
    const key = url === "" ? (functionName.startsWith("(") ? functionName : "node:builtin") : url
    bucketOf.set(node.id, CPU_BUCKETS.find(([, re]) => re.test(key))?.[0] ?? "other JS")
  }
  const millis = new Map<string, number>()
  profile.samples.forEach((id, i) => {
    const bucket = bucketOf.get(id)
    if (bucket === null || bucket === undefined) return
    millis.set(bucket, (millis.get(bucket) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
  })
  return millis
}

/**
 * One worker process under a V8 CPU profiler on the zero-latency emulator (CPU-bound): the self
 * time of each part of the stack per Bedrock call.
 */
const cpuProfilePerCall = async (units: number) => {
  const dir = mkdtempSync(join(tmpdir(), "bench-cpuprof-"))
  try {
    const before = emulator.requests().length
    const run = await sdkUnitsPerSecond(1, units, { cpuProfileDir: dir })
    const calls = emulator.requests().length - before
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))
    if (file === undefined) return { run, calls, perCallMicros: {} as Record<string, number>, totalMicrosPerCall: 0 }
    const millis = summarizeProfile(JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile)
    const perCallMicros = Object.fromEntries(
      [...millis].sort((a, b) => b[1] - a[1]).map(([bucket, ms]) => [bucket, round((ms * 1000) / Math.max(1, calls), 0)])
    )
    const total = [...millis.values()].reduce((a, b) => a + b, 0)
    return { run, calls, perCallMicros, totalMicrosPerCall: round((total * 1000) / Math.max(1, calls), 0) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Units in flight per process in the I/O-bound scale-out: few enough that one process waits on the
 * network, not on a CPU. A unit cost a worker 70–100 ms of CPU at 2–12 units in flight (measured at
 * 100 ms per call on the project's box on 2026-12-01 evening, when a saturated zero-latency process
 * at 50 in flight spent ~51 ms per unit; fewer units per wake-up cost more each, and the box's own
 * speed varies — raw BullMQ ran 5,460 jobs/s then, 14,458 three hours before): at 12 units in flight
 * and 100 ms one process used 0.87–0.95 of a core on a quiet box, so two processes plus the emulator,
 * PostgreSQL and Redis needed more than the 2 CPUs and the "I/O-bound" ratio measured the box. At 4 and 200 ms one process uses about a third of
 * a core (~3.6 units/s; with Bedrock's real latencies, a second or more per call, ~12 units in flight
 * give about that rate).
 */
const IO_CONCURRENCY = Number(process.env["BENCH_IO_CONCURRENCY"] ?? 4)
/** Units of the I/O-bound job (about: whole regions are taken). */
const IO_UNITS = Number(process.env["BENCH_IO_UNITS"] ?? 300)
/** Units in flight per process in the shared-quota part, where the quota binds, not the CPU. */
const QUOTA_CONCURRENCY = Number(process.env["BENCH_QUOTA_CONCURRENCY"] ?? 12)
const QUOTA_RPS = Number(process.env["BENCH_QUOTA_RPS"] ?? 30)
const QUOTA_UNITS = Number(process.env["BENCH_QUOTA_UNITS"] ?? 90)

/**
 * Three worker processes on one region whose quota binds (QUOTA_RPS, burst 5; 100 ms per call):
 * the request rate the emulator admitted, over the middle of the run (10th to 90th percentile of
 * admitted arrivals, so ramp-up and the last units' tail are left out), against the quota.
 */
const sharedQuota = async (processes: number) => {
  const region = regionsByModels[0]!.region
  emulator.setScenario({ ...ioBound(QUOTA_LATENCY_MS), regionThrottle: { [region]: { requestsPerSecond: QUOTA_RPS, burst: 5 } } })
  const run = await sdkUnitsPerSecond(processes, QUOTA_UNITS, { concurrency: QUOTA_CONCURRENCY, regions: [region] })
  const log = emulator.requests().filter((r) => r.region === region && RUNTIME_OPERATIONS.has(r.operation))
  const admitted = log.filter((r) => r.errorName !== "ThrottlingException").map((r) => r.at).sort((a, b) => a - b)
  const throttled = log.length - admitted.length
  const p10 = admitted[Math.floor(admitted.length * 0.1)]!
  const p90 = admitted[Math.floor(admitted.length * 0.9)]!
  const central = admitted.filter((t) => t >= p10 && t <= p90).length
  const centralRate = (central - 1) / ((p90 - p10) / 1000)
  const wholeRate = admitted.length / ((admitted[admitted.length - 1]! - admitted[0]!) / 1000)
  return {
    region,
    processes,
    quotaRequestsPerSecond: QUOTA_RPS,
    run,
    requests: log.length,
    admitted: admitted.length,
    throttled,
    throttledShare: round(throttled / Math.max(1, log.length), 3),
    centralAdmittedPerSecond: round(centralRate, 2),
    wholeAdmittedPerSecond: round(wholeRate, 2),
    ratio: round(centralRate / QUOTA_RPS, 3)
  }
}

const RUNTIME_OPERATIONS = new Set(["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"])
/** Drop this run's schema and Redis keys, close everything, exit. */
async function cleanupAll(): Promise<never> {
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
}

type Run = Awaited<ReturnType<typeof sdkUnitsPerSecond>>
/** What bound a run: every worker's CPU share, the emulator's, PostgreSQL's, Redis's, the whole box's. */
const cpuLine = (r: Run) =>
  `CPU: workers ${r.cpuShares.join(" + ")}, emulator ${r.emulatorCpuShare}, PostgreSQL ${r.postgresCpuShare}, ` +
  `Redis ${r.redisCpuShare}; box ${r.boxBusyCpus} of ${cpus().length} CPUs busy; load ${r.loadAverage}`
/** The I/O-bound scale-out: 1 then 2 worker processes, IO_LATENCY_MS per Bedrock call, IO_CONCURRENCY units in flight each. */
const ioScaleOut = async () => {
  emulator.setScenario(ioBound(IO_LATENCY_MS))
  const runs: Array<Run> = []
  for (const processes of [1, 2]) {
    const r = await sdkUnitsPerSecond(processes, IO_UNITS, { concurrency: IO_CONCURRENCY })
    console.log(
      `SDK, ${processes} worker process(es), ${IO_LATENCY_MS} ms per call, ${IO_CONCURRENCY} units in flight each: ` +
        `${r.unitsPerSecond} units/s (${r.units} units in ${r.seconds} s; ${r.centralUnitsPerSecond} units/s over the middle 80 % of completions; ${r.meanInFlight} units in flight on average, ` +
        `${r.unitMillisP50} ms per unit median; ${cpuLine(r)})`
    )
    runs.push(r)
  }
  const [oneIo, twoIo] = runs as [Run, Run]
  const scaleOut = round(twoIo.unitsPerSecond / oneIo.unitsPerSecond, 2)
  const central = round(twoIo.centralUnitsPerSecond / oneIo.centralUnitsPerSecond, 2)
  console.log(`scale-out 1 → 2 processes, I/O-bound: ×${scaleOut} (target ≥ 1.8); over the middle of each run ×${central}`)
  return { oneIo, twoIo, scaleOut }
}

/** BENCH_BULLMQ_PARTS=io: only the I/O-bound scale-out (development; writes nothing). */
const ONLY_IO = process.env["BENCH_BULLMQ_PARTS"] === "io"
const uptime = () => loadavg().map((x) => round(x, 2)).join(", ")
console.log(`load average at start: ${uptime()}`)
if (ONLY_IO) {
  await ioScaleOut()
  await cleanupAll()
}
const raw = await rawJobsPerSecond()
console.log(`raw BullMQ no-op: ${round(raw)} jobs/s (1 process, concurrency ${CONCURRENCY}, ${RAW_JOBS} jobs)`)
const one = await sdkUnitsPerSecond(1, 300)
console.log(`SDK, 1 worker process: ${one.unitsPerSecond} units/s (${one.units} units in ${one.seconds} s, CPU ${one.cpuShare} of a core, load ${one.loadAverage})`)
const two = await sdkUnitsPerSecond(2, 300)
console.log(`SDK, 2 worker processes: ${two.unitsPerSecond} units/s (${two.units} units in ${two.seconds} s, CPU ${two.cpuShare} of a core each, load ${two.loadAverage})`)
// Counted before the scenario change, which resets the emulator's request log.
const bedrockCalls = emulator.requests().length
const profiled = await cpuProfilePerCall(150)
console.log(`CPU per Bedrock call, 1 profiled process (${profiled.calls} calls): ${profiled.totalMicrosPerCall} µs`)
for (const [bucket, micros] of Object.entries(profiled.perCallMicros)) console.log(`   ${String(micros).padStart(6)} µs  ${bucket}`)
// I/O-bound: every Bedrock call takes IO_LATENCY_MS, so the processes wait on the network, not the CPU.
const { oneIo, twoIo, scaleOut: scaleOutIo } = await ioScaleOut()
const quota = await sharedQuota(3)
console.log(
  `3 worker processes on ${quota.region} at ${QUOTA_RPS} req/s: admitted ${quota.centralAdmittedPerSecond} req/s over the middle of the run ` +
    `→ ${quota.ratio} of the quota (target within 10 %); ${quota.throttled} of ${quota.requests} requests throttled (load ${quota.run.loadAverage})`
)
const enqueue = await enqueueMillis()
const enqueueMedian = [...enqueue].sort((a, b) => a.millis - b.millis)[Math.floor(enqueue.length / 2)]!
console.log(`enqueue a ${enqueueMedian.units}-unit job: ${enqueueMedian.millis} ms (median of ${enqueue.length})`)

const results = {
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version, loadAverageAtEnd: loadavg() },
  rawBullMq: { jobsPerSecond: round(raw), jobs: RAW_JOBS, concurrency: CONCURRENCY },
  sdk: { oneProcess: one, twoProcesses: two, concurrencyPerProcess: CONCURRENCY },
  sdkIoBound: { latencyMs: IO_LATENCY_MS, concurrencyPerProcess: IO_CONCURRENCY, oneProcess: oneIo, twoProcesses: twoIo, scaleOut: scaleOutIo },
  sharedQuota: { ...quota, concurrencyPerProcess: QUOTA_CONCURRENCY, latencyMs: QUOTA_LATENCY_MS },
  cpuPerCall: profiled,
  ratio: {
    sdkUnitsPerRawJob: round(one.unitsPerSecond / raw, 4),
    scaleOut: round(two.unitsPerSecond / one.unitsPerSecond, 2)
  },
  bedrockCallsPerUnit: round(bedrockCalls / Math.max(1, one.units + two.units), 1),
  enqueue: { samples: enqueue, medianMillis: enqueueMedian.millis, units: enqueueMedian.units }
}
const cpuRows = Object.entries(profiled.perCallMicros).map(([bucket, micros]) => `| ${bucket} | ${micros} µs |`).join("\n")
writeFileSync(new URL("results/bullmq.json", import.meta.url), JSON.stringify(results, null, 2) + "\n")
writeFileSync(
  new URL("results/bullmq.md", import.meta.url),
  `# BullMQ bench (${results.at}, ${results.machine.cpus} CPUs, Node ${results.machine.node})

Load average (1 min) at each run is in brackets: on a shared 2-CPU box it decides the CPU-bound figures.

| measure | value |
|---|---|
| raw BullMQ no-op jobs/s (1 process, concurrency ${CONCURRENCY}) | ${results.rawBullMq.jobsPerSecond} |
| SDK units/s, 1 worker process (full suite, zero-latency emulator, PostgreSQL) | ${one.unitsPerSecond} (${one.units} units; CPU ${one.cpuShare} of a core) [${one.loadAverage}] |
| SDK units/s, 2 worker processes | ${two.unitsPerSecond} (${two.units} units; CPU ${two.cpuShare} each) [${two.loadAverage}] |
| SDK units per raw BullMQ job (1 process) | ${results.ratio.sdkUnitsPerRawJob} |
| scale-out 1 → 2 processes, CPU-bound (2 CPUs also run the emulator, PostgreSQL, Redis) | ×${results.ratio.scaleOut} |
| SDK units/s, 1 / 2 worker processes, ${IO_LATENCY_MS} ms per Bedrock call, ${IO_CONCURRENCY} units in flight each (I/O-bound; ${oneIo.units} units) | ${oneIo.unitsPerSecond} / ${twoIo.unitsPerSecond} |
| CPU shares in the I/O-bound runs, 1 / 2 processes: workers; emulator; PostgreSQL; Redis; whole box busy [load] | ${oneIo.cpuShares.join(" + ")}; ${oneIo.emulatorCpuShare}; ${oneIo.postgresCpuShare}; ${oneIo.redisCpuShare}; ${oneIo.boxBusyCpus} of ${cpus().length} [${oneIo.loadAverage}] / ${twoIo.cpuShares.join(" + ")}; ${twoIo.emulatorCpuShare}; ${twoIo.postgresCpuShare}; ${twoIo.redisCpuShare}; ${twoIo.boxBusyCpus} of ${cpus().length} [${twoIo.loadAverage}] |
| **scale-out 1 → 2 processes, I/O-bound (target ≥ 1.8)** | **×${scaleOutIo}** |
| 3 processes, ${QUOTA_CONCURRENCY} units in flight each, ${QUOTA_LATENCY_MS} ms per call, ${quota.region} quota ${QUOTA_RPS} req/s: admitted req/s, middle of the run (target within 10 % of the quota) | ${quota.centralAdmittedPerSecond} → **${quota.ratio}×** the quota; ${quota.throttled} of ${quota.requests} throttled [${quota.run.loadAverage}] |
| Bedrock calls per unit | ${results.bedrockCallsPerUnit} |
| create + enqueue a ${enqueueMedian.units}-unit job (median) | ${enqueueMedian.millis} ms |

A unit is a whole certification (the v1 suite: about ${results.bedrockCallsPerUnit} Bedrock calls, fenced
PostgreSQL claim and write, progress events), so a unit costs far more than a no-op job by design.

## CPU per Bedrock call (one worker process, V8 profiler, zero-latency emulator; ${profiled.calls} calls)

Self time, ${profiled.totalMicrosPerCall} µs per call in all (the profiler adds some):

| where | per call |
|---|---|
${cpuRows}
`
)
console.log("wrote bench/results/bullmq.json and bullmq.md")

await cleanupAll()
