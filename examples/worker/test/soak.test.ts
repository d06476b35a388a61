/**
 * Soak (issue 15): the same job run again and again on PostgreSQL + BullMQ + two worker processes;
 * each process's resident memory after the second measured run stays within 10 % of what it was after
 * the first (nothing grows per job). A warm-up run comes first, so JIT and pools are settled.
 *
 * CI runs two regions (~155 units per run). `SOAK_REGIONS` names the regions; `SOAK_UNITS=n` instead
 * takes regions in `Region.regionCodes` order until one job has at least n units; `SOAK_JOBS=k` makes
 * each run k such jobs one after the other (no single job of the registry reaches 2,000 units: every
 * region together is ~1,900). The 2,000-unit soak (each run two jobs of ≥ 1,000 units, two measured
 * runs after a warm-up of the same size):
 *
 *     CI=true SOAK_UNITS=1000 SOAK_JOBS=2 pnpm exec vitest run examples/worker/test/soak.test.ts
 *
 * `SOAK_RUNS=n` makes n measured runs (each held to 10 % of the first), to see a slow trend.
 */
import { assert, describe, it } from "@effect/vitest"
import { Region, Registry } from "@myia/certification"
import { drivableEmbeddings } from "@myia/example-quickstart/oracle"
import { readFileSync } from "node:fs"

import {
  emulator,
  ownServices,
  shouldRun,
  sleep,
  violations,
  waitForTerminal,
  type WorkerProcess
} from "./Harness.ts"

/** Regions in `Region.regionCodes` order until the job of one run has at least `units` units (what certifyAll runs). */
const regionsFor = (units: number): Array<string> => {
  const registry = Registry.make()
  const now = new Date().toISOString()
  const picked: Array<string> = []
  let total = 0
  for (const region of Region.regionCodes) {
    if (total >= units) break
    picked.push(region)
    total += registry.models.filter((m) =>
      (m.modality === "chat" || (m.modality === "embedding" && drivableEmbeddings.some((re) => re.test(m.id)))) &&
      registry.certifiability(m.id, region as Region.Region, now)._tag === "Certifiable"
    ).length
  }
  return picked
}

const soakUnits = process.env["SOAK_UNITS"]
const regions = soakUnits !== undefined
  ? regionsFor(Number(soakUnits))
  : (process.env["SOAK_REGIONS"] ?? "us-east-1,eu-west-1").split(",").map((r) => r.trim())
/** Jobs per run (`SOAK_JOBS`, default 1), one after the other. */
const jobsPerRun = Math.max(1, Math.floor(Number(process.env["SOAK_JOBS"] ?? 1)))
/** Measured runs after the warm-up (`SOAK_RUNS`, at least 2): each later one is held to 10 % of the first. */
const measuredRuns = Math.max(2, Number(process.env["SOAK_RUNS"] ?? 2))
/** A run's limit: ten minutes at the CI size, an hour for the full soak on a shared machine. */
const runTimeout = regions.length > 2 ? 3_600_000 : 600_000

/** Resident set size of a process, in kB (Linux `/proc`). */
const rssKb = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? NaN)
}

/** The worker's own V8 heap in use, in MB, from its `/metrics` (shown beside RSS; not asserted). */
const heapUsedMb = async (port: number): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const bytes = Number(/^nodejs_heap_used_bytes(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? NaN)
  return Math.round(bytes / 1e5) / 10
}

describe.skipIf(!shouldRun)("soak (issue 15)", () => {
  const own = ownServices()

  it("the resident memory of each of two workers after the second (and any later) identical run is within 10 % of after the first", { timeout: runTimeout * jobsPerRun * (measuredRuns + 1) + 120_000 }, async () => {
    const bedrock = await emulator(5)
    try {
      // A capped old generation makes V8 collect instead of growing lazily: what remains is what is kept.
      const run = own.newRun({
        bedrockEndpoint: bedrock.url,
        env: { CERTIFICATION_CONCURRENCY: "16", NODE_OPTIONS: "--max-old-space-size=192" }
      })
      const workers: Array<WorkerProcess> = [await run.spawnWorker(), await run.spawnWorker()]
      const once = async () => {
        let totalUnits = 0
        for (let j = 0; j < jobsPerRun; j++) {
          const job = await run!.producer.certifyAll({ regions })
          await waitForTerminal(run!, job.jobId, runTimeout)
          assert.deepStrictEqual(await violations(run!, job.jobId), [])
          totalUnits += job.totalUnits
        }
        // Let timers and pools settle before reading the memory.
        await sleep(3_000)
        const heap = await Promise.all(workers.map((w) => heapUsedMb(w.healthPort)))
        return { totalUnits, rss: workers.map((w) => rssKb(w.child.pid!)), heap }
      }
      const warmUp = await once()
      const measured = []
      for (let n = 0; n < measuredRuns; n++) measured.push(await once())
      const [first] = measured
      console.log(
        `soak: ${first!.totalUnits} units per run (${jobsPerRun} job(s)) over ${regions.length} regions; RSS kB warm-up ${warmUp.rss.join("/")}, ` +
          measured.map((m, n) => `after run ${n + 1} ${m.rss.join("/")} (heap used MB ${m.heap.join("/")})`).join(", ")
      )
      for (const [n, later] of measured.slice(1).entries()) {
        for (let i = 0; i < workers.length; i++) {
          const what = `worker ${i}, run ${n + 2} vs run 1: ${first!.rss[i]} → ${later.rss[i]} kB`
          assert.isAtMost(later.rss[i]!, first!.rss[i]! * 1.1, what)
          assert.isAtLeast(later.rss[i]!, first!.rss[i]! * 0.9, what)
        }
      }
    } finally {
      await bedrock.close()
    }
  })
})
