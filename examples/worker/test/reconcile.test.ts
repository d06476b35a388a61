/**
 * Issue 15, with real processes: nothing stays stranded. The API process is SIGKILLed as a job
 * commits, Redis loses its data mid-job, poison payloads reach the workers — and the reconciler
 * (run by the worker processes: one pass at start-up, then one per tick of BullMQ's job scheduler)
 * brings every unit to exactly one terminal row. Same harness and oracle as `faults.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"

import { Redis } from "ioredis"
import {
  emulator,
  ownServices,
  type OwnPostgres,
  type OwnRedis,
  type Run,
  shouldRun,
  violations,
  waitFor,
  waitForTerminal
} from "./Harness.ts"

/** A reconciler period and grace short enough for a test, long enough for a loaded machine. */
const reconcileEvery = 2_000
const reconcileGrace = 1_000
const reconcileEnv = {
  CERTIFICATION_RECONCILE_EVERY: String(reconcileEvery),
  CERTIFICATION_RECONCILE_GRACE: String(reconcileGrace),
  CERTIFICATION_CONCURRENCY: "16"
}

/** Seven regions: a certify-all job of about 500 units (the registry decides the exact number). */
const bigJobRegions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-2", "us-east-2"]

/**
 * The environment that runs a worker under libfaketime (the Debian `faketime` package), shifted by
 * `offset`. Preloaded into node itself (not through the `faketime` wrapper, which forks), so signals
 * reach the worker.
 */
const fakedClock = (offset: string): Record<string, string> => ({
  LD_PRELOAD: "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
  FAKETIME: offset,
  FAKETIME_DONT_RESET: "1",
  FAKETIME_DONT_FAKE_MONOTONIC: "1"
})

const apiScript = new URL("./fixtures/apiCrash.ts", import.meta.url).pathname

const exitOf = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | number | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)))

/** Run the API process until it SIGKILLs itself `crashAfterMs` after the job commits; returns the job id. */
const createAndCrash = async (run: Run, redis: OwnRedis, pg: OwnPostgres, crashAfterMs: number, regions: ReadonlyArray<string>) => {
  let output = ""
  const child = spawn(process.execPath, ["--conditions=@myia/source", apiScript], {
    env: {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: pg.url,
      CERTIFICATION_PG_SCHEMA: run.schema,
      REDIS_URL: redis.url,
      CERTIFICATION_QUEUE_NAME: run.queueName,
      CERTIFICATION_REDIS_PREFIX: run.prefix,
      CRASH_AFTER_MS: String(crashAfterMs),
      REGIONS: regions.join(","),
      AWS_ACCESS_KEY_ID: "AKIAFAULTTESTS",
      AWS_SECRET_ACCESS_KEY: "fault-tests-secret"
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout?.on("data", (d) => (output += String(d)))
  child.stderr?.on("data", (d) => (output += String(d)))
  const exit = await exitOf(child)
  const jobId = /committed (\S+)/.exec(output)?.[1]
  if (jobId === undefined || exit !== "SIGKILL") throw new Error(`API process did not crash after commit (${exit}):\n${output}`)
  return jobId
}

describe.skipIf(!shouldRun)("reconciliation with real processes (issue 15)", { timeout: 240_000 }, () => {
  const own = ownServices()

  const newRun = (bedrockEndpoint: string) => own.newRun({ bedrockEndpoint, env: reconcileEnv })

  /** Units of the job that are neither terminal nor held by the queue (waiting, delayed or active). */
  const stranded = async (run: Run, jobId: string) => {
    const open = (await run.units(jobId)).filter((u) => ["PENDING", "QUEUED", "PROCESSING"].includes(u.status))
    const states = await Promise.all(open.map((u) => run.bull.getJobState(u.id)))
    return open.filter((_, i) => !["waiting", "delayed", "active", "prioritized"].includes(states[i]!)).length
  }

  it("SIGKILL of the API process as a ~500-unit job commits (at 0, 15 and 60 ms): after a restart every unit ends with exactly one terminal row", async () => {
    const bedrock = await emulator(5)
    try {
      const run = newRun(bedrock.url)
      const big = await createAndCrash(run, own.redis(), own.pg(), 0, bigJobRegions)
      const later = [
        await createAndCrash(run, own.redis(), own.pg(), 15, ["eu-north-1"]),
        await createAndCrash(run, own.redis(), own.pg(), 60, ["ca-central-1"])
      ]
      const jobs = [big, ...later]
      const totalOf = async (id: string) => (await run.jobRow(id))!.total_units
      assert.isAtLeast(await totalOf(big), 500)
      // Killed at the commit: the rows exist, nothing reached the queue.
      assert.strictEqual(await stranded(run, big), await totalOf(big))
      const restartedAt = Date.now()
      await Promise.all([run.spawnWorker(), run.spawnWorker()])
      // Within one reconciler period of the restart (the start-up pass; a tick at the latest), no
      // unit of any job is left outside the queue unless it is already done.
      await waitFor("no stranded unit", async () => {
        for (const id of jobs) if ((await stranded(run, id)) > 0) return false
        return true
      }, reconcileEvery + reconcileGrace + 5_000, 100)
      const repairedWithin = Date.now() - restartedAt
      for (const id of jobs) await waitForTerminal(run, id, 150_000)
      for (const id of jobs) {
        assert.deepStrictEqual(await violations(run, id), [], `job ${id}`)
        assert.strictEqual((await run.jobRow(id))?.status, "COMPLETED")
      }
      console.log(`api-crash: ${jobs.length} jobs, ${await totalOf(big)} + ${await totalOf(later[0]!)} + ${await totalOf(later[1]!)} units; nothing stranded ${repairedWithin} ms after the workers started`)
    } finally {
      await bedrock.close()
    }
  })

  it("FLUSHALL on Redis mid-job: the units it dropped are enqueued again and the job completes, one terminal row each", async () => {
    const bedrock = await emulator(40)
    try {
      const run = newRun(bedrock.url)
      await Promise.all([run.spawnWorker(), run.spawnWorker()])
      const { jobId } = await run.producer.certifyAll({ regions: ["us-east-1", "us-west-2"] })
      const total = (await run.jobRow(jobId))!.total_units
      await waitFor("a fifth of the units done", async () =>
        (await run.units(jobId)).filter((u) => !["PENDING", "QUEUED", "PROCESSING"].includes(u.status)).length >= total / 5, 60_000)
      const admin = new Redis(own.redis().url)
      try {
        await admin.flushall()
      } finally {
        admin.disconnect()
      }
      assert.isAbove(await stranded(run, jobId), 0, "the flush stranded units")
      await waitForTerminal(run, jobId, 120_000)
      assert.deepStrictEqual(await violations(run, jobId), [])
      assert.strictEqual((await run.jobRow(jobId))?.status, "COMPLETED")
    } finally {
      await bedrock.close()
    }
  })

  it("workers with clocks 1 h ahead and 1 h behind (faketime) beside a normal one: the latest view holds the newest result by real order, what the one ahead deferred is not parked when it stops, /ready shows the skew", async () => {
    const bedrock = await emulator(5)
    try {
      const run = newRun(bedrock.url)
      // A region limit far below the workers' concurrency: most deliveries find the region full and
      // are deferred (BullMQ's delayed set), so the skewed clocks meet delays.
      const limited = { CERTIFICATION_REGION_LIMITS: JSON.stringify({ "*": { concurrency: 3, ratePerSecond: 0 } }) }
      const [ahead, behind] = [
        // No drain grace: on SIGTERM it releases its in-flight units at once (a deferral too).
        await run.spawnWorker({ ...limited, ...fakedClock("+1h"), CERTIFICATION_SHUTDOWN_GRACE: "0" }),
        await run.spawnWorker({ ...limited, ...fakedClock("-1h") })
      ]
      await run.spawnWorker(limited)
      const regions = ["eu-north-1"]
      const first = (await run.producer.certifyAll({ regions })).jobId
      const total = (await run.jobRow(first))!.total_units
      await waitFor("a third of the first job done", async () =>
        (await run.units(first)).filter((u) => !["PENDING", "QUEUED", "PROCESSING"].includes(u.status)).length >= total / 3, 60_000)
      // The worker an hour ahead stops: what it deferred must come back on time for the others, not
      // in an hour (BullMQ would score its deferrals on its own clock).
      const aheadClock = (await (await fetch(`http://127.0.0.1:${ahead.healthPort}/ready`)).json()) as {
        clock: { skewMillis: number; ok: boolean }
      }
      ahead.child.kill("SIGTERM")
      assert.strictEqual(await ahead.exited, 0)
      await waitForTerminal(run, first, 60_000)
      const second = (await run.producer.certifyAll({ regions })).jobId
      await waitForTerminal(run, second, 120_000)
      for (const id of [first, second]) assert.deepStrictEqual(await violations(run, id), [], `job ${id}`)
      // Every pair's latest result is the second job's (written later in real time), whichever worker wrote which.
      const latest = await run.sql<Array<{ job_id: string; n: number }>>`
        SELECT job_id, count(*)::int AS n FROM ${run.sql(run.schema)}.latest_results GROUP BY job_id`
      assert.deepStrictEqual(latest.map((r) => r.job_id), [second])
      assert.strictEqual(latest[0]!.n, (await run.jobRow(second))!.total_units)
      const writers = await run.sql<Array<{ ahead: number; behind: number }>>`
        SELECT count(*) FILTER (WHERE completed_at > now() + interval '30 minutes')::int AS ahead,
               count(*) FILTER (WHERE completed_at < now() - interval '30 minutes')::int AS behind
        FROM ${run.sql(run.schema)}.units WHERE job_id IN ${run.sql([first, second])}`
      assert.isAbove(writers[0]!.ahead, 0, "the worker ahead wrote results")
      assert.isAbove(writers[0]!.behind, 0, "the worker behind wrote results")
      const readyOf = async (port: number) =>
        (await (await fetch(`http://127.0.0.1:${port}/ready`)).json()) as { clock: { skewMillis: number; ok: boolean } }
      const behindClock = (await readyOf(behind.healthPort)).clock
      assert.isFalse(aheadClock.clock.ok)
      assert.isFalse(behindClock.ok)
      assert.closeTo(aheadClock.clock.skewMillis, 3_600_000, 60_000)
      assert.closeTo(behindClock.skewMillis, -3_600_000, 60_000)
      assert.include(ahead.output(), "clock differs from the database")

    } finally {
      await bedrock.close()
    }
  })

  it("poison payloads: a non-JSON one and an undecodable one of real units are dead-lettered at once; the units end INCONCLUSIVE with the reason and the job finishes", async () => {
    const bedrock = await emulator(5)
    try {
      const run = newRun(bedrock.url)
      // No worker yet: the units wait in Redis, where a bad producer (or bad migration) corrupts them.
      const { jobId } = await run.producer.certifyAll({ regions: ["eu-north-1"] })
      const units = await run.units(jobId)
      assert.isAtLeast(units.length, 3)
      const [notJson, undecodable] = units
      const admin = new Redis(own.redis().url)
      try {
        const key = (id: string) => `${run.prefix}:${run.queueName}:${id}`
        await admin.hset(key(notJson!.id), "data", "{this is not json")
        await admin.hset(key(undecodable!.id), "data", JSON.stringify({ unitId: undecodable!.id, region: "mars-1" }))
      } finally {
        admin.disconnect()
      }
      const started = Date.now()
      const worker = await run.spawnWorker()
      await waitForTerminal(run, jobId, 60_000)
      assert.deepStrictEqual(await violations(run, jobId), [])
      assert.strictEqual((await run.jobRow(jobId))?.status, "COMPLETED")
      const rows = await run.sql<Array<{ id: string; status: string; error: { message: string } | null }>>`
        SELECT id, status, error FROM ${run.sql(run.schema)}.units WHERE id IN ${run.sql([notJson!.id, undecodable!.id])}`
      for (const row of rows) {
        assert.strictEqual(row.status, "INCONCLUSIVE", row.id)
        assert.include(row.error?.message ?? "", "undecodable queue payload: invalid unit payload", row.id)
      }
      // Dead-lettered at once: in the failed set after a single start, long before a stalled check
      // would have given up on them (lock 2 s × 3 stalls).
      for (const id of [notJson!.id, undecodable!.id]) {
        assert.strictEqual(await run.bull.getJobState(id), "failed", id)
        const job = await run.bull.getJob(id).catch(() => undefined)
        assert.isAtMost(job?.attemptsStarted ?? 1, 1, `${id} started once`)
      }
      assert.isBelow(Date.now() - started, 30_000)
      assert.notInclude(worker.output(), "fault-tests-secret")
    } finally {
      await bedrock.close()
    }
  })
})
