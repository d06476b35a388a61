/**
 * History benchmark for the PostgreSQL Storage adapter (not part of the tests).
 *
 * Seeds a fresh schema with ≥ 50,000 jobs and ≥ 1,000,000 unit rows (generate_series, server side),
 * then measures p50/p95 of history pages, a 2,000-unit job detail, filtered latest certifications and
 * stats — each through `PgStorage` and as the same SQL run raw through the same postgres.js pool, so
 * the ratio is the adapter's overhead (decoding, Effect). `EXPLAIN (ANALYZE, FORMAT JSON)` of each
 * raw query records which indexes the plans use. Writes bench/results/history.{json,md}.
 *
 * Run: `pnpm exec node bench/history.ts` (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
 * Set BENCH_KEEP=1 to keep the schema afterwards.
 */
import { spawnSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { fileURLToPath } from "node:url"

// Workspace packages resolve to src through the "@myia/source" condition: re-run with it if missing.
if (!process.execArgv.some((a) => a.includes("@myia/source"))) {
  const child = spawnSync(process.execPath, ["--conditions=@myia/source", ...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: "inherit"
  })
  process.exit(child.status ?? 1)
}

const { Storage } = await import("../packages/core/src/index.ts")
const { PgClient, PgStorage } = await import("../packages/adapter-postgres/src/index.ts")
const Effect = await import("effect/Effect")
const Layer = await import("effect/Layer")
const ManagedRuntime = await import("effect/ManagedRuntime")
const { seed: seedSchema } = await import("./seed.ts")

const url = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
const schema = `cert_bench_${Math.random().toString(36).slice(2, 8)}`
const JOBS = 50_000
const UNITS_PER_JOB = 20
const BIG_JOB_UNITS = 2_000
const MODELS = 400
const ITERATIONS = Number(process.env["BENCH_ITERATIONS"] ?? 100)
const WARMUP = 10

const clientLayer = PgClient.layer({ url, max: 4 })
const runtime = ManagedRuntime.make(Layer.provideMerge(PgStorage.layer({ schema }), clientLayer))
const storage = await runtime.runPromise(Effect.service(Storage.Storage))
const client = await runtime.runPromise(Effect.service(PgClient.PgClient))
const sql = client.sql
const t = (name: string) => `${schema}.${name}`

// ---------------------------------------------------------------------------------------------
// Seed
// ---------------------------------------------------------------------------------------------

const regions = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-2", "ca-central-1"]
const seed = () =>
  seedSchema({
    sql,
    schema,
    jobs: JOBS,
    unitsPerJob: UNITS_PER_JOB,
    bigJobUnits: BIG_JOB_UNITS,
    modelIds: Array.from({ length: MODELS }, (_, i) => `bench.model-${i}`),
    regions,
    bigRegions: regions,
    testsOnEveryUnit: false,
    latest: true
  })

// ---------------------------------------------------------------------------------------------
// Scenarios: the adapter call and the same SQL raw
// ---------------------------------------------------------------------------------------------

const jobCols = `id, type, status, model_ids AS "modelIds", regions, total_units AS "totalUnits", config,
  created_by AS "createdBy", parent_job_id AS "parentJobId", reason, created_at AS "createdAt",
  updated_at AS "updatedAt", started_at AS "startedAt", completed_at AS "completedAt", cancelled_at AS "cancelledAt"`
const unitCols = `id, job_id AS "jobId", model_id AS "modelId", host_model_id AS "hostModelId", region, status,
  invocation_target AS "invocationTarget", suite_version AS "suiteVersion", tests, score, grade, stars, error,
  findings, attempts, lease, created_at AS "createdAt", queued_at AS "queuedAt", started_at AS "startedAt",
  completed_at AS "completedAt", duration_ms AS "durationMs", expires_at AS "expiresAt"`
const latestCols = unitCols.replace(/^id,/, `unit_id AS "id",`)

const historyPage = (where: string) =>
  `SELECT ${jobCols.replace(/(^|,\s*)([a-z_]+)(?=[\s,]|$)/g, "$1j.$2")},
    (SELECT coalesce(jsonb_object_agg(c.status, c.n), '{}'::jsonb)
       FROM (SELECT status, count(*)::int AS n FROM ${t("units")} WHERE job_id = j.id GROUP BY status) c) AS "unitCounts"
   FROM ${t("jobs")} j ${where} ORDER BY j.created_at DESC, j.id DESC LIMIT $1 OFFSET $2`
const historyCount = (where: string) => `SELECT count(*)::int AS n FROM ${t("jobs")} j ${where}`

interface Scenario {
  readonly name: string
  readonly adapter: (i: number) => Promise<unknown>
  readonly raw: ReadonlyArray<{ readonly text: string; readonly params: (i: number) => Array<unknown> }>
}

const pageOf = (i: number) => 1 + (i % 50)
const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "history page (limit 20, pages 1-50)",
    adapter: (i) => runtime.runPromise(storage.history({}, { page: pageOf(i), limit: 20 })),
    raw: [
      { text: historyPage(""), params: (i) => [20, (pageOf(i) - 1) * 20] },
      { text: historyCount(""), params: () => [] }
    ]
  },
  {
    name: "history page filtered by status COMPLETED",
    adapter: (i) => runtime.runPromise(storage.history({ status: "COMPLETED" }, { page: pageOf(i), limit: 20 })),
    raw: [
      { text: historyPage("WHERE j.status = $3"), params: (i) => [20, (pageOf(i) - 1) * 20, "COMPLETED"] },
      { text: historyCount("WHERE j.status = $1"), params: () => ["COMPLETED"] }
    ]
  },
  {
    name: "job detail (job + 2,000 units + counts)",
    adapter: () =>
      runtime.runPromise(Effect.all([
        storage.getJob(`job-${JOBS}` as never),
        storage.getUnits(`job-${JOBS}` as never),
        storage.counts(`job-${JOBS}` as never)
      ], { concurrency: 3 })),
    raw: [
      { text: `SELECT ${jobCols} FROM ${t("jobs")} WHERE id = $1`, params: () => [`job-${JOBS}`] },
      { text: `SELECT ${unitCols} FROM ${t("units")} u WHERE u.job_id = $1 ORDER BY u.model_id, u.region`, params: () => [`job-${JOBS}`] },
      { text: `SELECT status, count(*)::int AS n FROM ${t("units")} WHERE job_id = $1 GROUP BY status`, params: () => [`job-${JOBS}`] }
    ]
  },
  {
    name: "latest certifications (region + status, limit 50)",
    adapter: () =>
      runtime.runPromise(storage.latest({ region: "us-east-1" as never, status: "CERTIFIED" }, { page: 1, limit: 50 })),
    raw: [
      {
        text: `SELECT ${latestCols} FROM ${t("latest_results")} l WHERE l.region = $1 AND l.status = $2
          ORDER BY l.completed_at DESC, l.unit_id DESC LIMIT 50 OFFSET 0`,
        params: () => ["us-east-1", "CERTIFIED"]
      },
      {
        text: `SELECT count(*)::int AS n FROM ${t("latest_results")} l WHERE l.region = $1 AND l.status = $2`,
        params: () => ["us-east-1", "CERTIFIED"]
      }
    ]
  },
  {
    name: "stats",
    adapter: () => runtime.runPromise(storage.stats),
    raw: [
      { text: `SELECT status, count(*)::int AS n FROM ${t("jobs")} GROUP BY status`, params: () => [] },
      {
        text: `SELECT region, status, error_category AS category, count(*)::int AS n FROM ${t("units")}
          WHERE status NOT IN ('PENDING', 'QUEUED', 'PROCESSING') GROUP BY region, status, error_category ORDER BY region`,
        params: () => []
      }
    ]
  }
]

const runRaw = (s: Scenario, i: number) =>
  Promise.all(s.raw.map((q) => sql.unsafe(q.text, q.params(i) as Array<never>, { prepare: true })))

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}
const round = (n: number) => Math.round(n * 100) / 100

const measure = async (f: (i: number) => Promise<unknown>) => {
  for (let i = 0; i < WARMUP; i++) await f(i)
  const times: Array<number> = []
  for (let i = 0; i < ITERATIONS; i++) {
    const start = performance.now()
    await f(i)
    times.push(performance.now() - start)
  }
  return { p50: round(percentile(times, 0.5)), p95: round(percentile(times, 0.95)) }
}

interface PlanNode { readonly "Node Type": string; readonly "Index Name"?: string; readonly Plans?: ReadonlyArray<PlanNode> }
const planNodes = (node: PlanNode): Array<string> => [
  node["Index Name"] === undefined ? node["Node Type"] : `${node["Node Type"]} on ${node["Index Name"]}`,
  ...(node.Plans ?? []).flatMap(planNodes)
]

const explain = async (s: Scenario) =>
  Promise.all(s.raw.map(async (q) => {
    const [row] = await sql.unsafe(`EXPLAIN (ANALYZE, FORMAT JSON) ${q.text}`, q.params(0) as Array<never>)
    const plan = (row as { "QUERY PLAN": Array<{ Plan: PlanNode; "Execution Time": number }> })["QUERY PLAN"][0]!
    return { executionMs: round(plan["Execution Time"]), nodes: [...new Set(planNodes(plan.Plan))], plan: plan.Plan }
  }))

// ---------------------------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------------------------

console.log(`seeding ${schema} …`)
const seeded = await seed()
console.log(`seeded ${seeded.jobs} jobs, ${seeded.units} units, ${seeded.latest} latest rows in ${seeded.seconds}s`)

const results = []
for (const s of scenarios) {
  const adapter = await measure(s.adapter)
  const raw = await measure((i) => runRaw(s, i))
  const plans = await explain(s)
  const ratio = round(adapter.p50 / raw.p50)
  results.push({ name: s.name, adapter, raw, ratioP50: ratio, plans })
  console.log(`${s.name}: adapter p50 ${adapter.p50} ms p95 ${adapter.p95} ms | raw p50 ${raw.p50} ms p95 ${raw.p95} ms | ×${ratio}`)
  for (const p of plans) console.log(`  plan (${p.executionMs} ms): ${p.nodes.join(" → ")}`)
}

const environment = {
  node: process.version,
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? "unknown",
  postgres: ((await sql.unsafe("SHOW server_version"))[0] as { server_version: string }).server_version,
  iterations: ITERATIONS,
  date: new Date().toISOString()
}
const out = new URL("./results/", import.meta.url)
writeFileSync(new URL("history.json", out), JSON.stringify({ environment, seeded, results }, null, 2) + "\n")
const md = [
  "# History benchmark (PostgreSQL adapter)",
  "",
  `${seeded.jobs} jobs, ${seeded.units} units, ${seeded.latest} latest rows (seeded in ${seeded.seconds}s). ` +
  `Node ${environment.node}, PostgreSQL ${environment.postgres}, ${environment.cpus} CPUs, ${ITERATIONS} iterations after ${WARMUP} warm-up. ` +
  "Raw = the same SQL through the same postgres.js pool, without decoding; ratio = adapter p50 / raw p50.",
  "",
  "| scenario | adapter p50 ms | adapter p95 ms | raw p50 ms | raw p95 ms | ratio | plan |",
  "|---|---|---|---|---|---|---|",
  ...results.map((r) =>
    `| ${r.name} | ${r.adapter.p50} | ${r.adapter.p95} | ${r.raw.p50} | ${r.raw.p95} | ${r.ratioP50} | ${
      r.plans.map((p) => p.nodes.filter((n) => n.includes(" on ") || n.includes("Seq Scan")).join(", ")).join("; ")
    } |`
  ),
  ""
].join("\n")
writeFileSync(new URL("history.md", out), md)
console.log(md)

if (process.env["BENCH_KEEP"] === undefined) await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`)
await runtime.dispose()
