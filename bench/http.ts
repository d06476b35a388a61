/**
 * HTTP benchmark for the certification API (not part of the tests): latency under concurrent load of
 * `GET /history` and `GET /jobs/:jobId`, next to the same reads through the Storage port directly
 * (no HTTP) in the same run, on the same PostgreSQL pool — so the difference is what the HTTP plugin
 * adds (routing, auth hook, handlers, the registry lookups of job detail, JSON encoding, node:http).
 *
 * Setup: `createCertificationHandler` mounted on `node:http` at 127.0.0.1:0 with PostgreSQL storage
 * (PgClient.layer + PgStorage.layer, a fresh schema per run, dropped at the end), a memory queue and
 * no worker. The schema is seeded by SQL with 20,000 jobs of 5 units each plus one job of 2,000 units
 * carrying a full v1 test record each. Load: BENCH_CONCURRENCY (16) clients in this process, each
 * measurement bounded by BENCH_REQUESTS (2,000) and BENCH_SECONDS (10). When `wrk` is installed, the
 * HTTP scenarios also run from it, a separate process (so the load generator does not share this
 * event loop), with the same connection count for BENCH_SECONDS or three in-process p95s, whichever
 * is longer (wrk counts only requests that finish in time). Writes bench/results/http.{json,md}.
 * Takes 3–4 minutes on 2 CPUs, most of it the 2,000-unit job.
 *
 * Run: `pnpm exec node --conditions=@myia/source bench/http.ts` (DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test). BENCH_KEEP=1 keeps the schema; BENCH_WRK=0 skips wrk.
 */
import { execFile, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import type * as Http from "node:http"
import { cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

// Workspace packages resolve to src through the "@myia/source" condition: re-run with it if missing.
if (!process.execArgv.some((a) => a.includes("@myia/source"))) {
  const child = spawnSync(process.execPath, ["--conditions=@myia/source", ...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: "inherit"
  })
  process.exit(child.status ?? 1)
}

const { Region, Registry, Storage } = await import("../packages/core/src/index.ts")
const { PgClient, PgStorage } = await import("../packages/adapter-postgres/src/index.ts")
const { MemoryQueue } = await import("../packages/adapter-memory/src/index.ts")
const { createCertificationHandler } = await import("../packages/http-plugin/src/index.ts")
const Effect = await import("effect/Effect")
const Layer = await import("effect/Layer")
const ManagedRuntime = await import("effect/ManagedRuntime")
const { bigJobId, hugeJobId, seed: seedSchema } = await import("./seed.ts")
const NodeHttp = await import("node:http")

const url = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
const schema = `cert_http_${Math.random().toString(36).slice(2, 8)}`
const JOBS = 20_000
const UNITS_PER_JOB = 5
const BIG_JOB_UNITS = 2_000
const HUGE_JOB_UNITS = Number(process.env["BENCH_HUGE_UNITS"] ?? 20_000)
/** The first page of job detail (the API's default `unitsLimit`). */
const PAGE = 100
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 16)
const REQUESTS = Number(process.env["BENCH_REQUESTS"] ?? 2_000)
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 10)
const POOL = Number(process.env["BENCH_POOL"] ?? 10)
const WARMUP = CONCURRENCY
const TOKEN = "bench-token"

// ---------------------------------------------------------------------------------------------
// Storage, seed
// ---------------------------------------------------------------------------------------------

const runtime = ManagedRuntime.make(Layer.provideMerge(PgStorage.layer({ schema }), PgClient.layer({ url, max: POOL })))
const storage = await runtime.runPromise(Effect.service(Storage.Storage))
const sql = (await runtime.runPromise(Effect.service(PgClient.PgClient))).sql

// Real registry ids, so job detail pays for the same model lookups a host's data would.
const modelIds = Registry.builtinModels.map((m) => m.id)
// The big job spans every region so its 2,000 (model, region) pairs stay unique with ~140 models.
const allRegions = Region.regionCodes
const regions = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-2", "ca-central-1"]
const bigJob = bigJobId(JOBS)
const smallJob = `job-${JOBS - 8}` // a COMPLETED job (status index 1 + g % 8 = 1) of 5 units

const seed = () =>
  seedSchema({
    sql,
    schema,
    jobs: JOBS,
    unitsPerJob: UNITS_PER_JOB,
    bigJobUnits: BIG_JOB_UNITS,
    modelIds,
    regions,
    bigRegions: allRegions,
    testsOnEveryUnit: true,
    latest: false,
    hugeJobUnits: HUGE_JOB_UNITS
  })

// ---------------------------------------------------------------------------------------------
// The API on node:http, sharing the Storage instance (and so the pool) with the raw calls
// ---------------------------------------------------------------------------------------------

const certification = createCertificationHandler({
  certification: {
    storage: Layer.succeed(Storage.Storage, storage),
    queue: MemoryQueue.layer(),
    worker: false,
    logLevel: "Warn"
  },
  authorize: ({ headers }) =>
    headers.authorization === `Bearer ${TOKEN}` ? { id: "bench", canRead: true, canWrite: false } : { status: 401 }
})
const server: Http.Server = NodeHttp.createServer((req, res) => certification.node(req, res))
server.keepAliveTimeout = 60_000
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
const origin = `http://127.0.0.1:${(server.address() as { readonly port: number }).port}`

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

interface Figures {
  readonly requests: number
  readonly errors: number
  readonly seconds: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly rps: number
}

const round = (n: number) => Math.round(n * 100) / 100
const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

/** `CONCURRENCY` clients calling `f` back to back until REQUESTS calls started or SECONDS elapsed. */
const load = async (f: (i: number) => Promise<void>): Promise<Figures> => {
  let next = 0
  let errors = 0
  for (let i = 0; i < WARMUP; i += CONCURRENCY) {
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, k) =>
      f(i + k).catch((e: unknown) => {
        errors++
        console.warn(`warm-up request failed: ${String(e)}`)
      })))
  }
  const times: Array<number> = []
  const started = performance.now()
  const deadline = started + SECONDS * 1000
  const client = async () => {
    while (next < REQUESTS && performance.now() < deadline) {
      const i = next++
      const start = performance.now()
      try {
        await f(i)
        times.push(performance.now() - start)
      } catch (e) {
        if (errors++ < 3) console.warn(`request failed: ${String(e)}`)
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, client))
  const seconds = (performance.now() - started) / 1000
  times.sort((a, b) => a - b)
  return {
    requests: times.length,
    errors,
    seconds: round(seconds),
    p50: round(percentile(times, 0.5)),
    p95: round(percentile(times, 0.95)),
    p99: round(percentile(times, 0.99)),
    rps: round(times.length / seconds)
  }
}

/** One HTTP GET with the body read in full; anything but a 200 counts as an error. */
const get = async (path: string) => {
  const response = await fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
  const body = await response.arrayBuffer()
  if (response.status !== 200 || body.byteLength === 0) throw new Error(`GET ${path}: ${response.status}`)
}

/** The same load from `wrk` (a separate process), or null when wrk is not installed or BENCH_WRK=0. */
const wrkBin = process.env["BENCH_WRK"] === "0" ? null : spawnSync("wrk", ["--version"]).error === undefined ? "wrk" : null
const wrk = async (paths: ReadonlyArray<string>, duration: number): Promise<Figures | null> => {
  if (wrkBin === null) return null
  const dir = mkdtempSync(join(tmpdir(), "bench-http-"))
  const script = join(dir, "script.lua")
  writeFileSync(
    script,
    `local paths = { ${paths.map((p) => JSON.stringify(p)).join(", ")} }
local counter = 0
wrk.headers["authorization"] = "Bearer ${TOKEN}"
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[1 + counter % #paths])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d %d\\n", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
`
  )
  // Asynchronous on purpose: the server under test runs on this process's event loop.
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      wrkBin,
      ["-t2", `-c${CONCURRENCY}`, `-d${duration}s`, "--timeout", "30s", "-s", script, origin],
      (error, stdout) => (error === null ? resolve(stdout) : reject(error))
    )
  )
  rmSync(dir, { recursive: true, force: true })
  const line = /WRK (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out)
  if (line === null) throw new Error(`unexpected wrk output:\n${out}`)
  const [requests, durationUs, p50, p95, p99, socketErrors, non2xx] = line.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number
  ]
  const seconds = durationUs / 1e6
  return {
    requests: requests - non2xx,
    errors: socketErrors + non2xx,
    seconds: round(seconds),
    p50: round(p50 / 1000),
    p95: round(p95 / 1000),
    p99: round(p99 / 1000),
    rps: round((requests - non2xx) / seconds)
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios: the storage call a request makes, and the request
// ---------------------------------------------------------------------------------------------

interface Scenario {
  readonly name: string
  readonly paths: ReadonlyArray<string>
  readonly raw: (i: number) => Promise<void>
}

const pages = 50
const pageOf = (i: number) => 1 + (i % pages)
const historyPaths = Array.from({ length: pages }, (_, i) => `/history?page=${i + 1}&limit=20`)
/** What `Certification.jobPage` asks of the Storage port: the job, then its counts and the first page of units. */
const jobDetail = (id: string) => () =>
  runtime.runPromise(
    Effect.flatMap(storage.getJob(id as never), () =>
      Effect.all([
        storage.counts(id as never),
        storage.unitsPage(id as never, { filter: {}, page: { page: 1, limit: PAGE } })
      ], { concurrency: 2 }))
  ).then(() => undefined)

/**
 * Issue 16's yardstick, what a hand-written endpoint would run through the same pool: the job row and
 * the first page of its units (100, no test records), two raw SQL statements sent at once.
 */
const pageColumns = `id, job_id, model_id, host_model_id, region, status, invocation_target, suite_version, score, grade,
  stars, error, findings, attempts, created_at, queued_at, started_at, completed_at, duration_ms, expires_at`
const jobRowColumns = `id, type, status, model_ids, regions, total_units, config, created_by, parent_job_id, reason,
  created_at, updated_at, started_at, completed_at, cancelled_at`
const rawPage = (id: string) => () =>
  Promise.all([
    sql.unsafe(`SELECT ${jobRowColumns} FROM ${schema}.jobs WHERE id = $1`, [id]),
    sql.unsafe(`SELECT ${pageColumns} FROM ${schema}.units WHERE job_id = $1 ORDER BY model_id, region LIMIT ${PAGE}`, [id])
  ]).then(() => undefined)

const scenarios: ReadonlyArray<Scenario> = [
  {
    name: `GET /history (limit 20, pages 1-${pages})`,
    paths: historyPaths,
    raw: (i) => runtime.runPromise(storage.history({}, { page: pageOf(i), limit: 20 })).then(() => undefined)
  },
  { name: `GET /jobs/:jobId (${UNITS_PER_JOB} units)`, paths: [`/jobs/${smallJob}`], raw: jobDetail(smallJob) },
  {
    name: `GET /jobs/:jobId first page (${BIG_JOB_UNITS.toLocaleString("en")} units) vs raw SQL page`,
    paths: [`/jobs/${bigJob}`],
    raw: rawPage(bigJob)
  },
  {
    name: `GET /jobs/:jobId first page (${HUGE_JOB_UNITS.toLocaleString("en")} units) vs raw SQL page`,
    paths: [`/jobs/${hugeJobId}`],
    raw: rawPage(hugeJobId)
  }
]

/** The highest RSS of this process (the API server) sampled every 50 ms while `f` runs, in MB. */
const peakRss = async <A>(f: () => Promise<A>): Promise<{ readonly value: A; readonly rssMb: number }> => {
  let peak = process.memoryUsage().rss
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
  try {
    const value = await f()
    return { value, rssMb: Math.round(Math.max(peak, process.memoryUsage().rss) / 1e5) / 10 }
  } finally {
    clearInterval(timer)
  }
}

// ---------------------------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------------------------

/** Seed, measure, report; the schema is dropped and every connection closed whatever happens. */
const main = async () => {
  console.log(`seeding ${schema} …`)
  const seeded = await seed()
  console.log(`seeded ${seeded.jobs} jobs, ${seeded.units} units in ${seeded.seconds}s; API at ${origin}`)
  console.log(
    `load: ${CONCURRENCY} concurrent clients, at most ${REQUESTS} requests or ${SECONDS}s per measurement, pool ${POOL}` +
      (wrkBin === null ? "; wrk not run" : "; plus wrk")
  )

  // Both sides serve the seeded data before anything is timed (a bench of 404s would be meaningless).
  const detailOf = async (id: string) =>
    ((await (await fetch(`${origin}/jobs/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      readonly data: { readonly certifications: ReadonlyArray<unknown>; readonly unitsPagination: { readonly total: number } }
    }).data
  const detail = await detailOf(bigJob)
  const huge = await detailOf(hugeJobId)
  const history = (await (await fetch(`${origin}/history?limit=20`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
    readonly data: { readonly pagination: { readonly total: number } }
  }
  const units = await runtime.runPromise(storage.getUnits(bigJob as never))
  if (
    detail.certifications.length !== PAGE || detail.unitsPagination.total !== BIG_JOB_UNITS || units.length !== BIG_JOB_UNITS ||
    huge.unitsPagination.total !== HUGE_JOB_UNITS || history.data.pagination.total !== JOBS + 1
  ) {
    throw new Error(`seeded data not served: ${detail.unitsPagination.total} / ${units.length} / ${huge.unitsPagination.total} units, ${history.data.pagination.total} jobs`)
  }
  const rssAtStart = Math.round(process.memoryUsage().rss / 1e5) / 10

  const results = []
  for (const s of scenarios) {
    const storageFigures = await load(s.raw)
    const { value: httpFigures, rssMb } = await peakRss(() => load((i) => get(s.paths[i % s.paths.length]!)))
    // wrk only counts requests that finish within its duration: give slow requests room for a few rounds.
    const wrkFigures = await wrk(s.paths, Math.max(SECONDS, Math.ceil((3 * httpFigures.p95) / 1000)))
    // wrk drops its in-flight requests when its time is up; the plugin then interrupts them, which sends
    // PostgreSQL CancelRequests. Let those land before the next measurement reuses the pool's connections.
    if (wrkFigures !== null) await new Promise((resolve) => setTimeout(resolve, 2_000))
    const row = {
      name: s.name,
      storage: storageFigures,
      http: httpFigures,
      wrk: wrkFigures,
      httpOverStorageP50: round(httpFigures.p50 / storageFigures.p50),
      httpOverStorageP95: round(httpFigures.p95 / storageFigures.p95),
      peakRssMb: rssMb
    }
    results.push(row)
    const fmt = (label: string, f: Figures) =>
      `  ${label.padEnd(22)} p50 ${String(f.p50).padStart(8)} ms  p95 ${String(f.p95).padStart(8)} ms  ` +
      `${String(f.rps).padStart(8)} req/s  (${f.requests} requests, ${f.errors} errors, ${f.seconds}s)`
    console.log(`${s.name}\n${fmt("storage port (no HTTP)", storageFigures)}\n${fmt("HTTP, in-process load", httpFigures)}` +
      (wrkFigures === null ? "" : `\n${fmt("HTTP, wrk", wrkFigures)}`) +
      `\n  HTTP p50 / storage p50: ×${row.httpOverStorageP50}; p95: ×${row.httpOverStorageP95} (target for the first pages: ≤ 2); ` +
      `API process peak RSS ${rssMb} MB (${rssAtStart} MB before any load)`)
  }

  const environment = {
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    postgres: ((await sql.unsafe("SHOW server_version"))[0] as unknown as { server_version: string }).server_version,
    concurrency: CONCURRENCY,
    maxRequests: REQUESTS,
    maxSeconds: SECONDS,
    pool: POOL,
    wrk: wrkBin !== null,
    date: new Date().toISOString()
  }
  const out = new URL("./results/", import.meta.url)
  writeFileSync(new URL("http.json", out), JSON.stringify({ environment, seeded, rssAtStartMb: rssAtStart, results }, null, 2) + "\n")
  const cell = (f: Figures | null, k: "p50" | "p95" | "rps") => (f === null ? "—" : String(f[k]))
  const md = [
    "# HTTP benchmark (plugin on node:http, PostgreSQL storage)",
    "",
    `${seeded.jobs} jobs, ${seeded.units} units (seeded in ${seeded.seconds}s). Node ${environment.node}, ` +
    `PostgreSQL ${environment.postgres}, ${environment.cpus} CPUs. ${CONCURRENCY} concurrent clients, each measurement ` +
    `bounded by ${REQUESTS} requests or ${SECONDS}s, pool of ${POOL} connections shared by both sides. ` +
    "Storage = the same reads through the Storage port in process (no HTTP); HTTP = `createCertificationHandler` " +
    "on node:http, loaded from the same process (fetch) and, when installed, from `wrk` in a separate process. " +
    "Latencies in ms. On a 2-CPU machine the in-process client competes with the server for the CPU.",
    "",
    `Job detail rows (issue 16): \`storage\` is the raw SQL a hand-written endpoint would run: the job row and the ` +
    `same first page (${PAGE} units, no test records), sent at once through the same pool; the target is HTTP p95 ` +
    "≤ 2× that. API RSS = peak RSS of this process (server and in-process " +
    `clients) during the HTTP load; ${rssAtStart} MB before any load.`,
    "",
    "| scenario | storage p50 | storage p95 | storage req/s | HTTP p50 | HTTP p95 | HTTP req/s | wrk p50 | wrk p95 | wrk req/s | HTTP/storage p50 | HTTP/storage p95 | API peak RSS MB | errors (storage/HTTP/wrk) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...results.map((r) =>
      `| ${r.name} | ${r.storage.p50} | ${r.storage.p95} | ${r.storage.rps} | ${r.http.p50} | ${r.http.p95} | ${r.http.rps} | ` +
      `${cell(r.wrk, "p50")} | ${cell(r.wrk, "p95")} | ${cell(r.wrk, "rps")} | ${r.httpOverStorageP50} | ${r.httpOverStorageP95} | ${r.peakRssMb} | ` +
      `${r.storage.errors}/${r.http.errors}/${r.wrk === null ? "—" : r.wrk.errors} |`
    ),
    ""
  ].join("\n")
  writeFileSync(new URL("http.md", out), md)
  console.log(`\n${md}`)
}

try {
  await main()
} finally {
  server.close()
  server.closeAllConnections()
  await certification.dispose()
  if (process.env["BENCH_KEEP"] === undefined) await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await runtime.dispose()
}
