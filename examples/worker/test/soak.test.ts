/**
 * Soak (issue 15): the same job run again and again on PostgreSQL + BullMQ + two worker processes;
 * each process's resident memory after the second measured run stays within 10 % of what it was after
 * the first (nothing grows per job). A warm-up run comes first, so JIT and pools are settled.
 *
 * CI runs two regions (~155 units per run); the full 2,000-unit soak is the same test with more:
 *
 *     SOAK_REGIONS=us-east-1,us-west-2,eu-west-1,eu-central-1,ap-northeast-1,ap-southeast-2,us-east-2,ap-south-1,ca-central-1,sa-east-1,eu-north-1,eu-west-3 \
 *       pnpm exec vitest run examples/worker/test/soak.test.ts      # ~830 units per run, 2 measured runs + warm-up
 */
import { assert, describe, it } from "@effect/vitest"
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

const regions = (process.env["SOAK_REGIONS"] ?? "us-east-1,eu-west-1").split(",").map((r) => r.trim())

/** Resident set size of a process, in kB (Linux `/proc`). */
const rssKb = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? NaN)
}

describe.skipIf(!shouldRun)("soak (issue 15)", () => {
  const own = ownServices()

  it("the resident memory of each of two workers after the second identical run is within 10 % of after the first", { timeout: 1_200_000 }, async () => {
    const bedrock = await emulator(5)
    try {
      // A capped old generation makes V8 collect instead of growing lazily: what remains is what is kept.
      const run = own.newRun({
        bedrockEndpoint: bedrock.url,
        env: { CERTIFICATION_CONCURRENCY: "16", NODE_OPTIONS: "--max-old-space-size=192" }
      })
      const workers: Array<WorkerProcess> = [await run.spawnWorker(), await run.spawnWorker()]
      const once = async () => {
        const { jobId, totalUnits } = await run!.producer.certifyAll({ regions })
        await waitForTerminal(run!, jobId, 600_000)
        assert.deepStrictEqual(await violations(run!, jobId), [])
        // Let timers and pools settle before reading the memory.
        await sleep(3_000)
        return { totalUnits, rss: workers.map((w) => rssKb(w.child.pid!)) }
      }
      const warmUp = await once()
      const first = await once()
      const second = await once()
      console.log(
        `soak: ${first.totalUnits} units per run over ${regions.length} regions; RSS kB warm-up ${warmUp.rss.join("/")}, ` +
          `after run 1 ${first.rss.join("/")}, after run 2 ${second.rss.join("/")}`
      )
      for (let i = 0; i < workers.length; i++) {
        assert.isAtMost(second.rss[i]!, first.rss[i]! * 1.1, `worker ${i}: ${first.rss[i]} → ${second.rss[i]} kB`)
        assert.isAtLeast(second.rss[i]!, first.rss[i]! * 0.9, `worker ${i}: ${first.rss[i]} → ${second.rss[i]} kB`)
      }
    } finally {
      await bedrock.close()
    }
  })
})
