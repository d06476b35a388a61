/**
 * Continuous certification in one process (memory adapters, emulator): the scheduler ticks on its
 * own and follows a stored schedule change; a lifecycle change the control plane observed after a
 * result selects it with reason "lifecycle", an authorization the account lost with reason
 * "authorization"; and a job resumed while a worker was claiming one of
 * its units still runs that unit (it used to be acknowledged and left QUEUED).
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import { Certification, createCertification, Recertification, Storage } from "@myia/certification"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type Engine, startEngine } from "./support.ts"

const DAY = 86_400_000
const model = "amazon.nova-lite-v1:0"
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("continuous certification in process", () => {
  let engine: Engine | undefined
  afterEach(async () => {
    await engine?.close()
    engine = undefined
  })

  it("the scheduler ticks by itself, one job per tick with work, and stops when the stored schedule is disabled", async () => {
    engine = await startEngine({ seed: 3, timeScale: 0.01 }, {
      // Every fresh 30-day result is due with a 40-day lead: each tick has work once the last job ended.
      recertification: { schedule: "every 1s", leadTimeDays: 40, pollInterval: "200 millis" }
    })
    const { certification } = engine
    const first = await certification.certifyModel({ modelId: model, region: "us-east-1" })
    await certification.waitForJob(first.jobId)
    const scheduled = async () => (await certification.history({ type: "RECERTIFY" }, { page: 1, limit: 100 })).items
    for (let i = 0; i < 100 && (await scheduled()).length < 2; i++) await sleep(100)
    const jobs = await scheduled()
    assert.isAtLeast(jobs.length, 2)
    assert.isTrue(jobs.every((j) => j.job.createdBy === "scheduler"))
    // Never two scheduled jobs live at once.
    const live = jobs.filter((j) => !["COMPLETED", "FAILED", "CANCELLED"].includes(j.job.status))
    assert.isAtMost(live.length, 1)
    const view = await certification.schedule()
    assert.strictEqual(view.source, "config")
    assert.isNotNull(view.lastRun)
    assert.match(view.lastRun!.message, /^scheduled recertification: /)

    await certification.updateSchedule({ enabled: false })
    await sleep(600) // the poll sees the change and stops the ticks
    for (const j of await scheduled()) await certification.waitForJob(j.job.id)
    const stopped = (await scheduled()).length
    await sleep(2_500)
    assert.strictEqual((await scheduled()).length, stopped, "no job after the schedule was disabled")
  })

  it("a lifecycle change observed after the result selects the pair with reason 'lifecycle' at the next tick", async () => {
    let changedAt = "2000-01-01T00:00:00.000Z"
    const observations = Layer.succeed(Recertification.Observations, {
      observe: Effect.sync(() => [{ modelId: model, region: "us-east-1", lifecycle: { value: "LEGACY", changedAt } }])
    })
    engine = await startEngine({ seed: 3, timeScale: 0.01 }, { recertification: { observations } })
    const { certification } = engine
    const done = await certification.waitForJob((await certification.certifyModel({ modelId: model, region: "us-east-1" })).jobId)
    const completedAt = Date.parse(done.units[0]!.completedAt!)
    await certification.updateSchedule({ enabled: true, schedule: "every 1h" })
    const tick = (key: string, at: number) =>
      certification.runtime.runPromise(Effect.flatMap(Certification.Certification, (s) =>
        s.recertificationTick({ name: "lifecycle", key, at: DateTime.makeUnsafe(at) })))

    // Observed LEGACY long before the result: not a change since it.
    assert.isNull((await tick("t1", completedAt + DAY)).job)
    changedAt = new Date(completedAt + 1_000).toISOString()
    const due = await tick("t2", completedAt + DAY)
    assert.deepStrictEqual(due.selected.map((s) => [s.modelId, s.region, s.reason]), [[model, "us-east-1", "lifecycle"]])
    const reasons = await certification.recertificationReasons(due.job!.jobId)
    assert.strictEqual(reasons[0]!.reason, "lifecycle")
    assert.include(reasons[0]!.detail, "LEGACY")
  })

  it("a job resumed while a worker was claiming its unit still runs that unit", async () => {
    // Storage that resumes the job right after a claim refused because it was paused: the worker then
    // finds the job live again and must not acknowledge (and so strand) the delivery.
    let resumedOnce = false
    const storage = Layer.effect(
      Storage.Storage,
      Effect.map(MemoryStorage.make, (inner) =>
        Storage.Storage.of({
          ...inner,
          claimUnit: (id, lease) =>
            Effect.tap(inner.claimUnit(id, lease), (claimed) =>
              Effect.gen(function*() {
                if (Option.isSome(claimed) || resumedOnce) return
                const unit = yield* inner.getUnit(id)
                if (Option.isNone(unit)) return
                const job = yield* inner.getJob(unit.value.jobId)
                if (Option.isNone(job) || job.value.status !== "PAUSED") return
                resumedOnce = true
                yield* inner.transitionJob(unit.value.jobId, { from: ["PAUSED"], to: "QUEUED" })
              }))
        }))
    )
    engine = await startEngine({ seed: 3, timeScale: 0.01 }, { storage, worker: { concurrency: 1 } })
    const { certification } = engine
    const created = await certification.certifyMultiple({
      modelIds: [model, "amazon.nova-micro-v1:0"],
      regions: ["us-east-1"]
    })
    // Whichever unit is claimed first, a later claim is refused (paused) and the job resumed under it.
    await certification.pause(created.jobId)
    const done = await certification.waitForJob(created.jobId, { timeout: "20 seconds" }).catch((e) => e)
    assert.isTrue(resumedOnce)
    assert.strictEqual(done.job?.status, "COMPLETED", String(done))
  })

  it("a bad schedule from code or CERTIFICATION_SCHEDULE rejects calls naming the option or the variable", async () => {
    const fromCode = createCertification({
      storage: MemoryStorage.layer,
      queue: MemoryQueue.layer(),
      worker: false,
      logLevel: "None",
      recertification: { schedule: "every 5 fortnights", leadTimeDays: -1 }
    })
    const bad = await fromCode.schedule().then(() => null, (e: any) => e)
    await fromCode.close()
    assert.strictEqual(bad?._tag, "InvalidRequest")
    assert.deepStrictEqual(bad.issues.map((i: any) => i.field).sort(), ["recertification.leadTimeDays", "recertification.schedule"])
    const fromEnv = createCertification({
      storage: MemoryStorage.layer,
      queue: MemoryQueue.layer(),
      worker: false,
      logLevel: "None",
      env: { CERTIFICATION_SCHEDULE: "sometimes" }
    })
    const config = await fromEnv.schedule().then(() => null, (e: any) => e)
    await fromEnv.close()
    assert.strictEqual(config?._tag, "ConfigError")
    assert.include(String(config.message), "CERTIFICATION_SCHEDULE")
    const ok = createCertification({
      storage: MemoryStorage.layer,
      queue: MemoryQueue.layer(),
      worker: false,
      logLevel: "None",
      env: { CERTIFICATION_SCHEDULE: "0 3 * * *" }
    })
    const view = await ok.schedule()
    await ok.close()
    assert.deepStrictEqual([view.enabled, view.schedule, view.source], [true, "0 3 * * *", "config"])
  })

  it("a model turned LEGACY in the emulator's control plane after its certification is rechecked at the next tick with reason 'lifecycle'", async () => {
    engine = await startEngine({ seed: 3, timeScale: 0.01 }, { recertification: { controlPlane: true } })
    const { certification, emulator } = engine
    const done = await certification.waitForJob((await certification.certifyModel({ modelId: model, region: "us-east-1" })).jobId)
    const completedAt = Date.parse(done.units[0]!.completedAt!)
    await certification.updateSchedule({ enabled: true, schedule: "every 1h" })
    const tick = (key: string) =>
      certification.runtime.runPromise(Effect.flatMap(Certification.Certification, (s) =>
        s.recertificationTick({ name: "lifecycle", key, at: DateTime.makeUnsafe(completedAt + DAY) })))

    // ACTIVE, as the registry declares: no change, nothing due.
    const before = await tick("t1")
    assert.isNull(before.job, JSON.stringify(before))
    emulator.setScenario({ seed: 3, timeScale: 0.01, rules: [{ models: model, regions: "us-east-1", availability: "legacy" }] })
    const after = await tick("t2")
    assert.deepStrictEqual(after.selected.map((s) => [s.modelId, s.region, s.reason]), [[model, "us-east-1", "lifecycle"]])
    assert.include(after.selected[0]!.detail, "LEGACY")
    const rechecked = await certification.waitForJob(after.job!.jobId)
    // The recheck ran: a legacy model is not usable, and the result says so.
    assert.strictEqual(rechecked.units[0]!.status, "UNAVAILABLE")
  })

  it("an authorization the account lost after the certification (GetFoundationModelAvailability) is rechecked with reason 'authorization'", async () => {
    engine = await startEngine({ seed: 3, timeScale: 0.01 }, { recertification: { controlPlane: true } })
    const { certification, emulator } = engine
    const done = await certification.waitForJob((await certification.certifyModel({ modelId: model, region: "us-east-1" })).jobId)
    const completedAt = Date.parse(done.units[0]!.completedAt!)
    await certification.updateSchedule({ enabled: true, schedule: "every 1h" })
    const tick = (key: string, hours: number) =>
      certification.runtime.runPromise(Effect.flatMap(Certification.Certification, (s) =>
        s.recertificationTick({ name: "authorization", key, at: DateTime.makeUnsafe(completedAt + DAY + hours * 3_600_000) })))

    // AUTHORIZED, as when it was certified: the first answer seen is no change, nothing due.
    const before = await tick("t1", 0)
    assert.isNull(before.job, JSON.stringify(before))
    emulator.setScenario({ seed: 3, timeScale: 0.01, rules: [{ models: model, regions: "us-east-1", authorization: "NOT_AUTHORIZED" }] })
    const after = await tick("t2", 2)
    assert.deepStrictEqual(after.selected.map((s) => [s.modelId, s.region, s.reason]), [[model, "us-east-1", "authorization"]])
    assert.include(after.selected[0]!.detail, "NOT_AUTHORIZED")
    await certification.waitForJob(after.job!.jobId)
  })
})
