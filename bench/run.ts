/**
 * Entry of `pnpm bench`: runs every benchmark under bench/ meant for it, one child process each so
 * one bench's heap and timers never colour another's figures. The sweep needs nothing but this
 * machine and always runs; benches that need services (PostgreSQL, Redis, an HTTP host) run only
 * when their file exists and a flag or an environment variable enables them (see bench/README.md).
 *
 *   pnpm bench                       # the sweep
 *   pnpm bench --history --bullmq    # plus the PostgreSQL history and BullMQ benches
 *   pnpm bench --all                 # every bench that exists (BENCH_ALL=1 does the same)
 *   pnpm bench --only history        # just that one (comma-separated names)
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"

/** A benchmark: its file, and whether it runs without being asked (it needs no service). */
interface Bench {
  readonly name: string
  readonly file: string
  readonly needs: string | null
  readonly env: string
}

/** Every known benchmark; a row whose file does not exist yet is listed as absent and skipped. */
export const benches: ReadonlyArray<Bench> = [
  { name: "sweep", file: "sweep.ts", needs: null, env: "BENCH_SWEEP" },
  { name: "history", file: "history.ts", needs: "PostgreSQL (DATABASE_URL)", env: "BENCH_HISTORY" },
  { name: "http", file: "http.ts", needs: "PostgreSQL (DATABASE_URL)", env: "BENCH_HTTP" },
  { name: "bullmq", file: "bullmq.ts", needs: "Redis (REDIS_URL) and PostgreSQL (DATABASE_URL)", env: "BENCH_BULLMQ" },
  { name: "large", file: "large.ts", needs: "Redis (REDIS_URL) and PostgreSQL (DATABASE_URL)", env: "BENCH_LARGE" }
]

const here = dirname(fileURLToPath(import.meta.url))

const { values } = parseArgs({
  options: {
    all: { type: "boolean", default: false },
    only: { type: "string" },
    history: { type: "boolean", default: false },
    http: { type: "boolean", default: false },
    bullmq: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false }
  },
  strict: true
})

if (values.help) {
  console.log(
    "usage: pnpm bench [--all] [--only name,name] [--history] [--http] [--bullmq]\n" +
      benches.map((b) => {
        const when = b.needs === null ? "always" : `needs ${b.needs}; --${b.name} or ${b.env}=1`
        return `  ${b.name.padEnd(8)} ${when}`
      })
        .join("\n")
  )
  process.exit(0)
}

const enabled = (s: string | undefined) => s !== undefined && s !== "" && s !== "0" && s !== "false"
const only = values.only === undefined ? undefined : new Set(values.only.split(",").map((s) => s.trim()))
const flags: Record<string, boolean | undefined> = { history: values.history, http: values.http, bullmq: values.bullmq }

/** Why a bench does not run this time, or null when it does. */
const skipReason = (bench: Bench): string | null => {
  if (!existsSync(join(here, bench.file))) return `bench/${bench.file} does not exist yet`
  if (only !== undefined) return only.has(bench.name) ? null : "not in --only"
  if (bench.needs === null) return null
  const asked = values.all || flags[bench.name] === true
  if (asked || enabled(process.env["BENCH_ALL"]) || enabled(process.env[bench.env])) return null
  return `needs ${bench.needs}: enable with --${bench.name} or ${bench.env}=1`
}

if (only !== undefined) {
  for (const name of only) {
    if (!benches.some((b) => b.name === name)) {
      console.error(`unknown bench "${name}"; known: ${benches.map((b) => b.name).join(", ")}`)
      process.exit(2)
    }
  }
}

const summary: Array<string> = []
let failed = 0
for (const bench of benches) {
  const why = skipReason(bench)
  if (why !== null) {
    summary.push(`  ${bench.name.padEnd(8)} skipped (${why})`)
    continue
  }
  console.log(`\n=== bench: ${bench.name} ===\n`)
  const start = performance.now()
  // Workspace packages resolve to their src through the "@myia/source" export condition.
  const child = spawnSync(process.execPath, ["--conditions=@myia/source", join(here, bench.file)], { stdio: "inherit" })
  const seconds = ((performance.now() - start) / 1000).toFixed(1)
  const ok = child.status === 0
  if (!ok) failed++
  const outcome = ok ? "done" : `FAILED (exit ${child.status ?? child.signal})`
  summary.push(`  ${bench.name.padEnd(8)} ${outcome} in ${seconds} s`)
}

console.log(`\n=== benches ===\n${summary.join("\n")}\nresults in ${join(here, "results")}`)
process.exit(failed === 0 ? 0 : 1)
