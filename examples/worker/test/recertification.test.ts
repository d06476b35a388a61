/**
 * Continuous certification with real processes (PostgreSQL + BullMQ, worker processes spawned from
 * `src/main.ts`, our own servers as in the fault tests):
 * - two workers both run the scheduler; BullMQ's job scheduler gives each tick to one of them: one
 *   RECERTIFY job per tick that has work, none when nothing is due (counted in PostgreSQL);
 * - a 200-unit job paused and resumed: no unit starts while paused, nothing is stranded, every unit
 *   ends with one terminal row.
 */
import { assert, describe, it } from "@effect/vitest"

import {
  chatModels,
  emulator,
  ownServices,
  type Run,
  shouldRun,
  sleep,
  violations,
  waitFor,
  waitForTerminal
} from "./Harness.ts"

describe.skipIf(!shouldRun)("continuous certification across worker processes", { timeout: 240_000 }, () => {
  const own = ownServices()

  const newRun = (bedrockEndpoint: string, env?: Record<string, string>) =>
    own.newRun({ bedrockEndpoint, ...(env !== undefined ? { env } : {}) })

  /** RECERTIFY jobs in PostgreSQL, with the tick key each was created under. */
  const recertifyJobs = (run: Run) =>
    run.sql<Array<{ id: string; status: string; created_by: string | null; idempotency_key: string | null }>>`
      SELECT id, status, created_by, idempotency_key FROM ${run.sql(run.schema)}.jobs
      WHERE type = 'RECERTIFY' ORDER BY created_at`

  /** The tick the last scheduled run handled (the scheduler records it in storage). */
  const lastTick = async (run: Run) => (await run.producer.schedule()).lastRun

  it("two workers with the scheduler, three ticks: one RECERTIFY job per tick with work, none when nothing is due", async () => {
    const bedrock = await emulator(10)
    try {
      const run = newRun(bedrock.url, { CERTIFICATION_SCHEDULE: "every 3s" })
      // Stored before the workers start, so both follow it; leadTimeDays 0: nothing is due yet.
      await run.producer.updateSchedule({ enabled: true, schedule: "every 3s", leadTimeDays: 0 })
      const models = chatModels("us-east-1", 40).filter((m) => chatModels("us-west-2", 40).includes(m)).slice(0, 2)
      const [a, b] = await Promise.all([run.spawnWorker(), run.spawnWorker()])
      const created = await run.producer.certifyMultiple({ modelIds: models, regions: ["us-east-1", "us-west-2"] })
      await waitForTerminal(run, created.jobId)

      const nextTick = async (after: string | null) => {
        await waitFor("the next scheduled tick", async () => {
          const last = await lastTick(run)
          return last !== null && last.tick !== after
        }, 20_000, 100)
        return (await lastTick(run))!
      }

      // Tick 1: nothing due.
      const t1 = await nextTick((await lastTick(run))?.tick ?? null)
      assert.isNull(t1.jobId, JSON.stringify(t1))
      assert.strictEqual((await recertifyJobs(run)).length, 0)

      // Tick 2: every 30-day result expires within 40 days → one job for the four pairs.
      await run.producer.updateSchedule({ leadTimeDays: 40 })
      let t2 = await nextTick(t1.tick)
      // A tick that was already under way when the lead time changed may still have found nothing.
      if (t2.jobId === null) t2 = await nextTick(t2.tick)
      assert.isNotNull(t2.jobId, JSON.stringify(t2))
      assert.strictEqual(t2.pairs, 4)
      assert.deepStrictEqual(t2.reasons, { expiring: 4 })
      await waitForTerminal(run, t2.jobId!)
      const reasons = await run.producer.recertificationReasons(t2.jobId!)
      assert.deepStrictEqual(reasons.map((r) => r.reason), ["expiring", "expiring", "expiring", "expiring"])

      // Tick 3: nothing due again → no job.
      await run.producer.updateSchedule({ leadTimeDays: 0 })
      let t3 = await nextTick(t2.tick)
      if (t3.jobId !== null) t3 = await nextTick(t3.tick) // under way before the change
      assert.isNull(t3.jobId, JSON.stringify(t3))
      await sleep(3_500) // one more period: still nothing
      const jobs = await recertifyJobs(run)
      const withWork = jobs.length
      assert.isAtLeast(withWork, 1)
      assert.isAtMost(withWork, 2, JSON.stringify(jobs))
      // One job per tick: every job carries a distinct tick key, all created by the scheduler.
      const ticks = jobs.map((j) => JSON.parse(j.idempotency_key!)[1] as string)
      assert.strictEqual(new Set(ticks).size, jobs.length, ticks.join(", "))
      assert.isTrue(jobs.every((j) => j.created_by === "scheduler"))
      assert.isTrue(jobs.some((j) => j.id === t2.jobId))
      // Exactly one process acted per tick with work: the log line appears once per job in both outputs.
      const lines = (a.output() + b.output()).split("\n").filter((l) => l.includes("scheduled recertification: 4 pairs"))
      assert.strictEqual(lines.length, withWork, lines.join("\n"))
      assert.include(lines[0]!, "reasons 4 expiring")
      for (const job of jobs) assert.deepStrictEqual(await violations(run, job.id), [])
    } finally {
      await bedrock.close()
    }
  })

  it("pause a 200-unit job, resume: no unit starts while paused, nothing is stranded, one terminal row per unit", async () => {
    const bedrock = await emulator(40)
    try {
      // maxAttempts 1 → maxStarts 20 (RedeliveryPolicy: 20 starts per attempt). A paused unit is
      // postponed about once a second (its first backoff step, ±20 % jitter), so a 30 s pause
      // postpones each waiting unit more than 20 times: were a postpone counted as a start, every
      // waiting unit would be dead-lettered INCONCLUSIVE. The pause also outlasts the lock (2 s) and
      // stalled-check (1 s) horizons many times over, so any length behaves like this one.
      const run = newRun(bedrock.url, { CERTIFICATION_MAX_RETRIES: "1", CERTIFICATION_CONCURRENCY: "4" })
      const regions = ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"]
      const models = regions.map((r) => chatModels(r, 200)).reduce((x, y) => x.filter((m) => y.includes(m))).slice(0, 50)
      assert.strictEqual(models.length, 50)
      await Promise.all([run.spawnWorker(), run.spawnWorker()])
      const created = await run.producer.certifyMultiple({ modelIds: models, regions })
      assert.strictEqual(created.totalUnits, 200)
      const jobId = created.jobId

      const finished = async () =>
        (await run.units(jobId)).filter((u) => !["PENDING", "QUEUED", "PROCESSING"].includes(u.status)).length
      // Issue 10: no clock is compared here. Units carry `started_at` from their worker's clock (and
      // only for the first start), which need not agree with this process's or the database's; every
      // claim increments `attempts`, so a unit started while paused shows as more attempts between a
      // snapshot after the pause and one before the resume.
      const claims = async () =>
        new Map((await run.sql<Array<{ id: string; attempts: number }>>`
          SELECT id, attempts FROM ${run.sql(run.schema)}.units WHERE job_id = ${jobId}`).map((r) => [r.id, r.attempts]))
      await waitFor("some units finished", async () => (await finished()) >= 10, 60_000)
      await run.producer.pause(jobId)
      assert.strictEqual((await run.jobRow(jobId))!.status, "PAUSED")
      const twice = await run.producer.pause(jobId).then(() => null, (e: any) => e._tag)
      assert.strictEqual(twice, "JobConflict")
      // A claim whose statement began before the pause committed may still land: let it.
      await sleep(1_000)
      const atPause = await claims()

      await sleep(29_000)
      const atResume = await claims()
      const startedWhilePaused = [...atResume].filter(([id, attempts]) => attempts > (atPause.get(id) ?? 0))
      assert.deepStrictEqual(startedWhilePaused, [], "units started while the job was paused")
      const doneBeforeResume = await finished()
      assert.isBelow(doneBeforeResume, 200, "the job finished before it was resumed")
      const resumed = await run.producer.resume(jobId)
      assert.include(["PROCESSING", "QUEUED"], resumed.status)
      const again = await run.producer.resume(jobId).then(() => null, (e: any) => e._tag)
      assert.strictEqual(again, "JobConflict")

      await waitForTerminal(run, jobId, 180_000).catch(async (error) => {
        const byStatus: Record<string, number> = {}
        for (const u of await run.units(jobId)) byStatus[u.status] = (byStatus[u.status] ?? 0) + 1
        throw new Error(`${String(error)}: units ${JSON.stringify(byStatus)}, BullMQ ${JSON.stringify(await run.bullCounts())}, ` +
          `job ${JSON.stringify(await run.jobRow(jobId))}\n${run.workers.map((w) => w.output().slice(-3000)).join("\n---\n")}`)
      })
      assert.strictEqual((await run.jobRow(jobId))!.status, "COMPLETED")
      const rows = await run.sql<Array<{ id: string; status: string; attempts: number; error: any }>>`
        SELECT id, status, attempts, error FROM ${run.sql(run.schema)}.units WHERE job_id = ${jobId}`
      assert.strictEqual(rows.length, 200)
      // Nothing was dead-lettered by the pause: no unit gave up after its starts.
      const gaveUp = rows.filter((r) => r.status === "INCONCLUSIVE")
      assert.deepStrictEqual(gaveUp.map((r) => r.error?.message), [])
      assert.isTrue(rows.filter((r) => r.attempts > (atResume.get(r.id) ?? 0)).length > 0, "units started after the resume")
      assert.deepStrictEqual(await violations(run, jobId), [])
    } finally {
      await bedrock.close()
    }
  })
})
