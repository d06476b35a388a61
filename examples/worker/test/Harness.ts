/**
 * Fault-test harness: our own Redis and PostgreSQL servers (so restarting them never disturbs other
 * suites on the shared ones), the Bedrock emulator in this process, worker processes spawned from
 * `src/main.ts`, a producer, and the invariant oracle checked after every fault.
 *
 * Tests are skipped on a developer machine without `redis-server` or the PostgreSQL binaries, but
 * run (and fail) when `CI` is set.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type CertificationClient, createCertification, Domain, Registry } from "@myia/certification"
import { BullMqQueue } from "@myia/certification-bullmq"
import { PgStorage } from "@myia/certification-postgres"
import { BedrockEmulator, type Scenario } from "@myia/certification/emulator"
import { Queue as BullQueue } from "bullmq"
import { Redis } from "ioredis"
import postgres from "postgres"
import { afterAll, beforeAll } from "vitest"

/** PostgreSQL server binaries (initdb, pg_ctl): `PG_BIN`, else the newest /usr/lib/postgresql/<v>/bin. */
const pgBin = process.env.PG_BIN ?? (() => {
  const root = "/usr/lib/postgresql"
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : []
  return join(root, versions[0] ?? "15", "bin")
})()
const whichRedis = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).stdout.trim()

/** Whether the fault tests must run: the server binaries exist, or we are on CI (where they must fail instead). */
export const shouldRun: boolean = (whichRedis !== "" && existsSync(join(pgBin, "initdb"))) ||
  process.env.CI !== undefined

const isFakedClockVar = (name: string) => name === "LD_PRELOAD" || name.startsWith("FAKETIME")

/**
 * The environment for the servers the fault tests start (Redis, PostgreSQL): without a preloaded
 * `faketime`, so under `faketime pnpm test` they keep the real time like the machine's own services
 * (and Redis, which libfaketime cannot run, still starts).
 */
export const serviceEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !isFakedClockVar(name)))

/** The `faketime` settings of this process, if any: worker processes run on the same (faked) clock. */
const clockEnv = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => isFakedClockVar(e[0]) && e[1] !== undefined)
  )

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Poll `check` every `every` ms until it holds; throw with `what` after `timeout` ms. */
export const waitFor = async (what: string, check: () => Promise<boolean> | boolean, timeout = 30_000, every = 100) => {
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if (await Promise.resolve(check()).catch(() => false)) return
    await sleep(every)
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
}

/** A TCP port nobody listens on right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once("exit", (code) => resolve(code)))

// ---------------------------------------------------------------------------------------------
// Redis of our own (AOF on, so a restart keeps the queue)
// ---------------------------------------------------------------------------------------------

export interface OwnRedis {
  readonly port: number
  readonly url: string
  readonly start: () => Promise<void>
  readonly stop: () => Promise<void>
  readonly dispose: () => Promise<void>
}

export const ownRedis = async (): Promise<OwnRedis> => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "cert-redis-"))
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const ping = async () => {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    redis.on("error", () => {})
    return redis.connect().then(() => redis.ping()).then(() => true, () => false).finally(() => redis.disconnect())
  }
  const start = async () => {
    child = spawn(whichRedis || "redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", dir,
      "--maxmemory-policy", "noeviction"
    ], { stdio: "ignore", env: serviceEnv() })
    await waitFor(`redis on ${port}`, ping, 10_000, 50)
  }
  const stop = async () => {
    if (child === undefined) return
    const c = child
    child = undefined
    c.kill("SIGTERM")
    await exited(c)
  }
  await start()
  return { port, url, start, stop, dispose: () => stop().finally(() => rmSync(dir, { recursive: true, force: true })) }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL of our own (a throwaway cluster)
// ---------------------------------------------------------------------------------------------

export interface OwnPostgres {
  readonly url: string
  readonly start: () => Promise<void>
  readonly stop: () => Promise<void>
  readonly dispose: () => Promise<void>
}

export const ownPostgres = async (): Promise<OwnPostgres> => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "cert-pg-"))
  const data = join(dir, "data")
  // PostgreSQL refuses to run as root: as root, run its binaries as the `postgres` system user.
  const asRoot = process.getuid?.() === 0
  if (asRoot) spawnSync("chown", ["postgres", dir])
  const pgRun = (bin: string, args: Array<string>) =>
    asRoot
      ? spawnSync("runuser", ["-u", "postgres", "--", join(pgBin, bin), ...args], { encoding: "utf8", env: serviceEnv() })
      : spawnSync(join(pgBin, bin), args, { encoding: "utf8", env: serviceEnv() })
  const init = pgRun("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const ctl = (...args: Array<string>) => {
    const r = pgRun("pg_ctl", ["-D", data, "-w", "-l", join(dir, "log"), ...args])
    if (r.status !== 0) throw new Error(`pg_ctl ${args[0]} failed: ${r.stderr}${r.stdout}`)
  }
  const start = async () =>
    ctl("start", "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`)
  const stop = async () => ctl("stop", "-m", "fast")
  await start()
  return { url, start, stop, dispose: () => stop().catch(() => {}).finally(() => rmSync(dir, { recursive: true, force: true })) }
}

// ---------------------------------------------------------------------------------------------
// Emulator
// ---------------------------------------------------------------------------------------------

/** The emulator with every call taking `ttft` ms (uniform ±20 %) and fast token streaming. */
export const emulator = (ttftMs: number, extra: Partial<Scenario.ScenarioInput> = {}) =>
  BedrockEmulator.start({
    port: 0,
    scenario: {
      seed: 7,
      defaults: {
        latency: { ttftMs: { min: ttftMs * 0.8, max: ttftMs * 1.2 }, tokensPerSecond: 5_000, jitter: 0 },
        ...extra.defaults
      },
      ...extra
    }
  })

/** Certifiable chat models in `region`, from the registry (as many as `count`). */
export const chatModels = (region: string, count: number): Array<string> => {
  const registry = Registry.make()
  const now = new Date().toISOString()
  return registry.list()
    .filter((m) => m.modality === "chat" && registry.certifiability(m.id, region as Domain.Region, now)._tag === "Certifiable")
    .slice(0, count)
    .map((m) => m.id)
}

// ---------------------------------------------------------------------------------------------
// A run: queue name, PG schema, producer, workers
// ---------------------------------------------------------------------------------------------

export interface WorkerProcess {
  readonly child: ChildProcess
  readonly healthPort: number
  readonly output: () => string
  readonly exited: Promise<number | null>
}

const mainScript = new URL("../src/main.ts", import.meta.url).pathname

export interface RunOptions {
  readonly redis: OwnRedis
  readonly pg: OwnPostgres
  readonly bedrockEndpoint: string
  /** Extra environment for every worker (limits, grace, concurrency). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** The worker script to spawn (default `src/main.ts`; issue 15's grid passes its own settings). */
  readonly script?: string | undefined
}

export const lockDurationMillis = 2_000
export const stalledIntervalMillis = 1_000

interface UnitRow {
  readonly id: string
  readonly status: string
  readonly completed_at: Date | null
  readonly model_id: string
  readonly region: string
}

/** One fault scenario's world. */
export interface Run {
  readonly queueName: string
  readonly prefix: string
  readonly schema: string
  /** Creates and cancels jobs (no embedded worker). */
  readonly producer: CertificationClient.CertificationClient
  readonly sql: postgres.Sql
  readonly bull: BullQueue
  readonly spawnWorker: (env?: Readonly<Record<string, string>>) => Promise<WorkerProcess>
  readonly bullCounts: () => Promise<Record<string, number>>
  readonly units: (jobId: string) => Promise<ReadonlyArray<UnitRow>>
  readonly jobRow: (jobId: string) => Promise<{ status: string; cancelled_at: Date | null; total_units: number } | undefined>
  readonly dispose: () => Promise<void>
  readonly workers: ReadonlyArray<WorkerProcess>
}

/** One fault scenario's world: its own queue name, key prefix and PG schema; its producer and workers. */
export const makeRun = (options: RunOptions): Run => {
  const id = crypto.randomUUID().slice(0, 8)
  const queueName = `faults-${id}`
  const prefix = `f${id}`
  const schema = `faults_${id}`
  const workers: Array<WorkerProcess> = []
  const producer = createCertification({
    storage: PgStorage.layerFromUrl(options.pg.url, { schema, max: 4 }),
    queue: BullMqQueue.layer({ connection: options.redis.url, queueName, prefix }),
    bedrock: { endpoint: options.bedrockEndpoint },
    worker: false,
    logLevel: "Error"
  })
  const sql = postgres(options.pg.url, { max: 2, onnotice: () => {} })
  const bull = new BullQueue(queueName, { connection: { host: "127.0.0.1", port: options.redis.port }, prefix })
  bull.on("error", () => {})

  const spawnWorker = async (env: Readonly<Record<string, string>> = {}): Promise<WorkerProcess> => {
    const healthPort = await freePort()
    let output = ""
    const child = spawn(process.execPath, ["--conditions=@myia/source", options.script ?? mainScript], {
      env: {
        PATH: process.env.PATH ?? "",
        ...clockEnv(),
        DATABASE_URL: options.pg.url,
        CERTIFICATION_PG_SCHEMA: schema,
        REDIS_URL: options.redis.url,
        CERTIFICATION_QUEUE_NAME: queueName,
        CERTIFICATION_REDIS_PREFIX: prefix,
        CERTIFICATION_CONCURRENCY: "4",
        CERTIFICATION_TIMEOUT: "20000",
        CERTIFICATION_MAX_RETRIES: "5",
        CERTIFICATION_LOCK_DURATION: String(lockDurationMillis),
        CERTIFICATION_STALLED_INTERVAL: String(stalledIntervalMillis),
        CERTIFICATION_SHUTDOWN_GRACE: "15000",
        WORKER_HEALTH_PORT: String(healthPort),
        BEDROCK_ENDPOINT: options.bedrockEndpoint,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "AKIAFAULTTESTS",
        AWS_SECRET_ACCESS_KEY: "fault-tests-secret",
        // Issue 14: no scheduled recertification jobs inside the fault scenarios unless a test asks.
        CERTIFICATION_SCHEDULE: "off",
        ...options.env,
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout?.on("data", (d) => (output += String(d)))
    child.stderr?.on("data", (d) => (output += String(d)))
    const worker: WorkerProcess = { child, healthPort, output: () => output, exited: exited(child) }
    workers.push(worker)
    await waitFor(`worker ${child.pid} ready`, () => ready(worker), 45_000, 200).catch((error) => {
      throw new Error(`${String(error)}\n--- worker output ---\n${output}`)
    })
    return worker
  }

  /** The counts BullMQ holds for this run's queue. */
  const bullCounts = () => bull.getJobCounts("active", "waiting", "delayed", "prioritized", "failed")

  /** Rows of a job's units. */
  const units = (jobId: string) =>
    sql<Array<UnitRow>>`
      SELECT id, status, completed_at, model_id, region FROM ${sql(schema)}.units WHERE job_id = ${jobId}`

  const jobRow = async (jobId: string) =>
    (await sql<Array<{ status: string; cancelled_at: Date | null; total_units: number }>>`
      SELECT status, cancelled_at, total_units FROM ${sql(schema)}.jobs WHERE id = ${jobId}`)[0]

  const dispose = async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL")
    await Promise.all(workers.map((w) => w.exited))
    await producer.close().catch(() => {})
    await bull.obliterate({ force: true }).catch(() => {})
    await bull.close().catch(() => {})
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {})
    await sql.end({ timeout: 2 })
  }

  return { queueName, prefix, schema, producer, sql, bull, spawnWorker, bullCounts, units, jobRow, dispose, workers }
}


/** GET the worker's `/ready`. */
export const ready = (worker: WorkerProcess): Promise<boolean> =>
  fetch(`http://127.0.0.1:${worker.healthPort}/ready`).then((r) => r.ok, () => false)

/** Wait until the job is terminal in storage. */
export const waitForTerminal = (run: Run, jobId: string, timeout = 60_000) =>
  waitFor(`job ${jobId} terminal`, async () => {
    const row = await run.jobRow(jobId)
    return row !== undefined && ["COMPLETED", "FAILED", "CANCELLED"].includes(row.status)
  }, timeout, 200)

const terminal = new Set<string>(Domain.Verdict.literals)

/**
 * The invariant after a fault (reliability oracle (a)–(f)); returns the violations (empty when it holds).
 * Waits up to `drainTimeout` for BullMQ to hold nothing active, waiting or delayed for the run.
 */
export const violations = async (run: Run, jobId: string, drainTimeout = 20_000): Promise<Array<string>> => {
  const problems: Array<string> = []
  const job = await run.jobRow(jobId)
  if (job === undefined) return [`job ${jobId} missing`]
  const rows = await run.units(jobId)
  // (a) exactly one row per unit, every one terminal
  if (rows.length !== job.total_units) problems.push(`rows ${rows.length} != total ${job.total_units}`)
  const keys = new Set(rows.map((r) => `${r.model_id}|${r.region}`))
  if (keys.size !== rows.length) problems.push("duplicate (model, region) rows")
  for (const r of rows) {
    if (!terminal.has(r.status)) problems.push(`unit ${r.id} not terminal: ${r.status}`)
    if (terminal.has(r.status) && r.completed_at === null) problems.push(`unit ${r.id} terminal without completed_at`)
  }
  // (b) progress counts equal rows
  const detail = await run.producer.getJob(jobId)
  const byStatus = new Map<string, number>()
  for (const r of rows) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1)
  const terminalRows = rows.filter((r) => terminal.has(r.status)).length
  if (detail.counts.completed !== terminalRows) problems.push(`counts.completed ${detail.counts.completed} != ${terminalRows}`)
  if (detail.counts.total !== rows.length) problems.push(`counts.total ${detail.counts.total} != ${rows.length}`)
  for (const [verdict, n] of Object.entries(detail.counts.byVerdict)) {
    if ((byStatus.get(verdict) ?? 0) !== n) problems.push(`counts.byVerdict.${verdict} ${n} != ${byStatus.get(verdict) ?? 0}`)
  }
  // (c) the job's status matches the rows
  const cancelledRows = byStatus.get("CANCELLED") ?? 0
  if (job.status === "COMPLETED" && (terminalRows !== rows.length || cancelledRows > 0)) {
    problems.push("COMPLETED job with unfinished or cancelled units")
  }
  if (job.status === "CANCELLED" && job.cancelled_at === null) problems.push("CANCELLED job without cancelled_at")
  // (d) latest = newest result per (model, region) by real order (the result sequence storage
  // stamps on each verdict write, issue 15), over every job of the run
  const mismatches = await run.sql`
    WITH newest AS (
      SELECT DISTINCT ON (model_id, region) model_id, region, id
      FROM ${run.sql(run.schema)}.units
      WHERE status NOT IN ('PENDING', 'QUEUED', 'PROCESSING', 'CANCELLED') AND result_seq IS NOT NULL
      ORDER BY model_id, region, result_seq DESC
    )
    SELECT n.model_id, n.region, n.id, l.unit_id FROM newest n
    FULL JOIN ${run.sql(run.schema)}.latest_results l USING (model_id, region)
    WHERE l.unit_id IS DISTINCT FROM n.id`
  for (const m of mismatches) problems.push(`latest for ${m.model_id}/${m.region} is ${m.unit_id}, newest row ${m.id}`)
  // (e) nothing written after a cancel
  if (job.cancelled_at !== null) {
    for (const r of rows) {
      if (r.status !== "CANCELLED" && r.completed_at !== null && r.completed_at > job.cancelled_at) {
        problems.push(`unit ${r.id} (${r.status}) completed at ${r.completed_at.toISOString()} after the cancel`)
      }
    }
  }
  // (f) nothing left active/waiting/delayed in Redis
  const drained = await waitFor("BullMQ drained", async () => {
    const c = await run.bullCounts()
    return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) === 0
  }, drainTimeout, 250).then(() => true, () => false)
  if (!drained) problems.push(`BullMQ not drained: ${JSON.stringify(await run.bullCounts())}`)
  return problems
}

/**
 * A suite's own redis-server and PostgreSQL cluster, started before its tests; every run made with
 * `newRun` is disposed after them, then the servers.
 */
export const ownServices = () => {
  const state: { redis?: OwnRedis; pg?: OwnPostgres } = {}
  const runs: Array<Run> = []
  beforeAll(async () => {
    ;[state.redis, state.pg] = await Promise.all([ownRedis(), ownPostgres()])
  }, 60_000)
  afterAll(async () => {
    await Promise.all(runs.map((r) => r.dispose().catch(() => {})))
    await Promise.all([state.redis?.dispose(), state.pg?.dispose()])
  }, 60_000)
  const started = <A>(server: A | undefined): A => {
    if (server === undefined) throw new Error("the suite's own servers have not started")
    return server
  }
  return {
    redis: (): OwnRedis => started(state.redis),
    pg: (): OwnPostgres => started(state.pg),
    newRun: (options: Omit<RunOptions, "redis" | "pg">): Run => {
      const run = makeRun({ redis: started(state.redis), pg: started(state.pg), ...options })
      runs.push(run)
      return run
    }
  }
}
