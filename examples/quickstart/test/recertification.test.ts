/**
 * Continuous certification end to end on the memory adapters and the emulator: a scheduled tick
 * selects an expiring result at +28 days and not at +26 (the tick's instant is the scheduler's
 * clock), one job per tick, none while a scheduled job runs; requested recertification by
 * selection; pause and resume.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Certification } from "@myia/certification"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { type Engine, startEngine } from "./support.ts"

const DAY = 86_400_000
const model = "amazon.nova-lite-v1:0"
// Each call of these takes seconds, so a job of them is still running when the test acts on it.
const slow = ["amazon.nova-pro-v1:0", "meta.llama3-1-8b-instruct-v1:0"]

const failure = (promise: Promise<unknown>): Promise<any> =>
  promise.then(
    (value) => assert.fail(`expected a rejection, got ${JSON.stringify(value)}`),
    (error: unknown) => error
  )

describe("continuous certification (memory)", () => {
  let engine: Engine
  beforeAll(async () => {
    engine = await startEngine({
      seed: 7,
      timeScale: 0.01,
      rules: [{ models: slow, regions: "*", latency: { ttftMs: { min: 400, max: 400 }, tokensPerSecond: 1_000 } }]
    })
  })
  afterAll(() => engine.close())

  const tick = (key: string, at: number) =>
    engine.certification.runtime.runPromise(
      Effect.flatMap(Certification.Certification, (s) =>
        s.recertificationTick({ name: "test", key, at: DateTime.makeUnsafe(at) }))
    )

  let completedAt = 0
  it("a 30-day result is selected 'expiring' at +28 days (3-day lead) and not at +26", async () => {
    const { certification } = engine
    const created = await certification.certifyModel({ modelId: model, region: "us-east-1" })
    const done = await certification.waitForJob(created.jobId)
    assert.strictEqual(done.job.status, "COMPLETED")
    const unit = done.units[0]!
    assert.strictEqual(unit.status, "CERTIFIED")
    completedAt = Date.parse(unit.completedAt!)
    assert.strictEqual(Date.parse(unit.expiresAt!) - completedAt, 30 * DAY)

    // Off by default: a tick does nothing.
    const off = await tick("t0", completedAt + 28 * DAY)
    assert.isNull(off.job)
    assert.include(off.reason!, "disabled")

    const view = await certification.updateSchedule({ enabled: true, schedule: "every 1h" })
    assert.strictEqual(view.source, "stored")
    assert.strictEqual(view.leadTimeDays, 3)

    const early = await tick("t1", completedAt + 26 * DAY)
    assert.isNull(early.job, JSON.stringify(early))
    assert.deepStrictEqual(early.selected, [])

    const due = await tick("t2", completedAt + 28 * DAY)
    assert.isNotNull(due.job, JSON.stringify(due))
    assert.strictEqual(due.job!.type, "RECERTIFY")
    assert.deepStrictEqual(due.selected.map((s) => [s.modelId, s.region, s.reason]), [[model, "us-east-1", "expiring"]])
    const reasons = await certification.recertificationReasons(due.job!.jobId)
    assert.deepStrictEqual(reasons.map((r) => [r.modelId, r.region, r.reason]), [[model, "us-east-1", "expiring"]])
    const job = await certification.getJob(due.job!.jobId)
    assert.strictEqual(job.job.createdBy, "scheduler")

    // The same tick again, and a later tick while that job may still run: no second job.
    const again = await tick("t2", completedAt + 28 * DAY)
    assert.isNull(again.job)
    const history = await certification.history({ type: "RECERTIFY" }, { page: 1, limit: 100 })
    assert.strictEqual(history.total, 1)

    const schedule = await certification.schedule()
    assert.strictEqual(schedule.lastRun?.tick, "t2")
    assert.isNotNull(schedule.nextRunAt)
    await certification.waitForJob(due.job!.jobId)
  })

  it("recertify by selection: a job for what matches, or none with the reason; bad fields are named", async () => {
    const { certification } = engine
    const none = await certification.recertify({ modelIds: ["amazon.titan-text-express-v1"] })
    assert.isNull(none.job)
    assert.include(none.reason!, "no latest result")

    const all = await certification.recertify({ verdicts: ["CERTIFIED"], regions: ["us-east-1"] })
    assert.isNotNull(all.job)
    assert.deepStrictEqual(all.selected.map((s) => [s.modelId, s.reason]), [[model, "requested"]])
    await certification.waitForJob(all.job!.jobId)

    // Expiring within 40 days: the fresh 30-day result is in; within 1 day it is not.
    const within = await certification.recertify({ expiringWithinDays: 40 })
    assert.deepStrictEqual(within.selected.map((s) => s.reason), ["expiring"])
    await certification.waitForJob(within.job!.jobId)
    const soon = await certification.recertify({ expiringWithinDays: 1 })
    assert.isNull(soon.job)
    const older = await certification.recertify({ olderSuite: true })
    assert.isNull(older.job)

    const bad = await failure(
      certification.recertify({ expiringWithinDays: -1, regions: ["moon-1"], verdicts: ["GREAT"] })
    )
    assert.strictEqual(bad._tag, "InvalidRequest")
    assert.deepStrictEqual(bad.issues.map((i: any) => i.field).sort(), ["expiringWithinDays", "regions[0]", "verdicts[0]"])
    const cron = await failure(certification.updateSchedule({ schedule: "every day at noon" }))
    assert.strictEqual(cron._tag, "InvalidRequest")
    assert.deepStrictEqual(cron.issues.map((i: any) => i.field), ["schedule"])
    const negative = await failure(certification.updateSchedule({ leadTimeDays: -2 }))
    assert.deepStrictEqual(negative.issues.map((i: any) => i.field), ["leadTimeDays"])
    const ok = await certification.updateSchedule({ schedule: "0 3 * * *" })
    assert.strictEqual(ok.schedule, "0 3 * * *")
    assert.match(ok.nextRunAt!, /T03:00:00\.000Z$/)
  })

  it("pause stops new units, running ones finish; resume continues; conflicts are JobConflict", async () => {
    const { certification } = engine
    const created = await certification.certifyMultiple({ modelIds: slow, regions: ["us-east-1", "us-west-2", "eu-west-1"] })
    const paused = await certification.pause(created.jobId)
    assert.strictEqual(paused.status, "PAUSED")
    const twice = await failure(certification.pause(created.jobId))
    assert.strictEqual(twice._tag, "JobConflict")
    // Let any unit that was already running finish; then nothing more starts while paused.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const during = await certification.getJob(created.jobId)
    const startedWhilePaused = during.units.filter((u) => u.startedAt !== null).length
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const later = await certification.getJob(created.jobId)
    assert.strictEqual(later.job.status, "PAUSED")
    assert.strictEqual(later.units.filter((u) => u.startedAt !== null).length, startedWhilePaused)
    assert.isBelow(startedWhilePaused, 6)

    const resumed = await certification.resume(created.jobId)
    assert.include(["QUEUED", "PROCESSING", "COMPLETED"], resumed.status)
    const resumeRunning = await failure(certification.resume(created.jobId))
    assert.strictEqual(resumeRunning._tag, "JobConflict")
    const done = await certification.waitForJob(created.jobId)
    assert.strictEqual(done.job.status, "COMPLETED")
    assert.isTrue(done.units.every((u) => u.completedAt !== null))
    const terminal = await failure(certification.pause(created.jobId))
    assert.strictEqual(terminal._tag, "JobConflict")
    const unknown = await failure(certification.pause("no-such-job"))
    assert.strictEqual(unknown._tag, "JobNotFound")
  })
})

