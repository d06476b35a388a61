/**
 * Worker guarantees end to end: a redelivered unit (after completion, or twice at once) yields one
 * result; invalid credentials fail the job without further Bedrock calls; a model Bedrock serves only
 * through an inference profile is certified through the profile with the finding recorded.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import { type Domain, Queue } from "@myia/certification"
import { MemoryQueue } from "@myia/certification-memory"
import type { Scenario } from "@myia/certification/emulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Engine, fastRedelivery, startEngine } from "./support.ts"

const model = "amazon.titan-text-express-v1"
const modelId = model as Domain.ModelId
const quick: Scenario.ScenarioInput = { seed: 11, timeScale: 0.01 }

interface Redelivery {
  readonly unitId: string
  readonly result: Queue.DeliveryResult
  /** Bedrock requests the emulator saw during the redelivery. */
  readonly requests: number
}

/**
 * The memory queue, delivering every unit a second time: after the first delivery finished
 * ("after", a redelivery of a completed unit) or at the same time ("concurrent", two workers holding it).
 */
const redeliveringQueue = (mode: "after" | "concurrent", seen: () => number, log: Array<Redelivery>) =>
  Layer.effect(
    Queue.Queue,
    Effect.map(MemoryQueue.make({ redelivery: fastRedelivery }), (inner) =>
      Queue.Queue.of({
        ...inner,
        consume: (options) =>
          inner.consume({
            ...options,
            handler: (delivery) => {
              const again = Effect.gen(function*() {
                const before = seen()
                const result = yield* options.handler(delivery)
                log.push({ unitId: delivery.message.unitId, result, requests: seen() - before })
              })
              return mode === "after"
                ? Effect.tap(options.handler(delivery), () => again)
                : Effect.map(Effect.all([options.handler(delivery), again], { concurrency: 2 }), ([first]) => first)
            }
          })
      }))
  )

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("worker", () => {
  let engine: Engine | undefined
  afterEach(async () => {
    await engine?.close()
    engine = undefined
  })

  it("a unit redelivered after completion makes no Bedrock call and writes no second result", async () => {
    const log: Array<Redelivery> = []
    let requests = () => 0
    engine = await startEngine(quick, {
      queue: redeliveringQueue("after", () => requests(), log)
    })
    const { certification, emulator } = engine
    requests = () => emulator.requests().length
    const created = await certification.certifyMultiple({ modelIds: [model], regions: ["us-east-1", "us-west-2"] })
    const completions: Array<string> = []
    const done = await certification.waitForJob(created.jobId, {
      onEvent: (e) => e.type === "unit-completed" && completions.push(e.unitId!)
    })
    const latestBefore = await certification.latest({ modelId })
    while (log.length < 2) await sleep(20)
    await sleep(200)

    assert.strictEqual(done.job.status, "COMPLETED")
    assert.deepStrictEqual(log.map((r) => r.result._tag), ["Done", "Done"])
    assert.deepStrictEqual(log.map((r) => r.requests), [0, 0], "a redelivery of a finished unit calls Bedrock")
    const after = await certification.getJob(created.jobId)
    assert.deepStrictEqual(after.counts, done.counts)
    assert.deepStrictEqual(
      after.units.map((u) => [u.id, u.status, u.completedAt, u.attempts, u.score]),
      done.units.map((u) => [u.id, u.status, u.completedAt, u.attempts, u.score])
    )
    assert.deepStrictEqual(completions.sort(), done.units.map((u) => u.id).sort(), "one unit-completed event per unit")
    const latestAfter = await certification.latest({ modelId })
    assert.strictEqual(latestAfter.total, 2)
    const rows = (items: typeof latestAfter.items) => items.map((u) => [u.id, u.completedAt])
    assert.deepStrictEqual(rows(latestAfter.items), rows(latestBefore.items))
  })

  it("a unit delivered to two workers at once gets exactly one terminal write", async () => {
    const log: Array<Redelivery> = []
    let requests = () => 0
    engine = await startEngine(quick, { queue: redeliveringQueue("concurrent", () => requests(), log) })
    const { certification, emulator } = engine
    requests = () => emulator.requests().length
    const created = await certification.certifyModel({ modelId: model, region: "us-east-1" })
    const completions: Array<string> = []
    const done = await certification.waitForJob(created.jobId, {
      onEvent: (e) => e.type === "unit-completed" && completions.push(e.unitId!)
    })
    while (log.length < 1) await sleep(20)
    await sleep(200)

    assert.strictEqual(done.job.status, "COMPLETED")
    assert.deepStrictEqual(completions, [done.units[0]!.id])
    const after = await certification.getJob(created.jobId)
    assert.strictEqual(after.counts.completed, 1)
    assert.strictEqual(after.counts.byVerdict.CERTIFIED, 1)
    const row = (u: (typeof done.units)[number]) => [u.status, u.completedAt]
    assert.deepStrictEqual(row(after.units[0]!), row(done.units[0]!))
    assert.strictEqual((await certification.latest({ modelId })).total, 1)
  })

  // With the governor's pacing (on by default, issue 16) each start of the throttled unit first waits
  // its lane's pacer slot (up to 1 / minRate = 5 s): ~30 s for its 5 starts alone, so a loaded box gets
  // a wide ceiling. Behaviour is asserted, not speed.
  it("throttling is waited out until maxStarts, other environment errors until maxAttempts; then the unit ends INCONCLUSIVE with its real error", { timeout: 240_000 }, async () => {
    const throttled = "amazon.nova-micro-v1:0"
    const unavailable = "amazon.nova-lite-v1:0"
    const maxAttempts = 2
    const maxStarts = 5
    engine = await startEngine({
      ...quick,
      rules: [
        // One request ever per bucket, then throttling for good.
        { models: throttled, regions: ["us-east-1"], throttle: { requestsPerSecond: 0.0001, burst: 1 } },
        { models: unavailable, regions: ["us-east-1"], errorRate5xx: 1 }
      ]
    }, {
      queue: MemoryQueue.layer({ redelivery: { ...fastRedelivery, maxAttempts, maxStarts } }),
      runner: { backoffBaseMillis: 5, backoffMaxMillis: 20, throttleBudgetMillis: 50 }
    })
    const created = await engine.certification.certifyMultiple({ modelIds: [throttled, unavailable], regions: ["us-east-1"] })
    const starts = new Map<string, number>()
    const detail = await engine.certification.waitForJob(created.jobId, {
      onEvent: (e) => e.type === "unit-started" && starts.set(e.unitId!, (starts.get(e.unitId!) ?? 0) + 1)
    })
    const unit = (modelId: string) => detail.units.find((u) => u.modelId === modelId)!
    assert.strictEqual(detail.job.status, "COMPLETED")
    assert.deepStrictEqual(
      [unit(throttled).status, unit(throttled).error?.category, unit(throttled).attempts, starts.get(unit(throttled).id)],
      ["INCONCLUSIVE", "THROTTLED", maxStarts, maxStarts],
      "throttling does not spend the failure budget, but maxStarts bounds it"
    )
    assert.deepStrictEqual(
      [unit(unavailable).status, unit(unavailable).error?.category, unit(unavailable).attempts, starts.get(unit(unavailable).id)],
      ["INCONCLUSIVE", "SERVICE_UNAVAILABLE", maxAttempts, maxAttempts]
    )
  })

  it("invalid credentials fail the job, end every unit INCONCLUSIVE (CREDENTIALS), stop Bedrock calls", async () => {
    const accessKeyId = "AKIDINVALIDE2EKEY"
    engine = await startEngine(quick, { accessKeyId, worker: { concurrency: 2 } })
    const { certification, emulator } = engine
    const models = [model, "amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0", "mistral.mistral-large-2402-v1:0"]
    const created = await certification.certifyMultiple({ modelIds: models, regions: ["us-east-1", "us-west-2"] })
    assert.isAtLeast(created.totalUnits, 6)
    const detail = await certification.waitForJob(created.jobId)
    await sleep(500)
    const calls = emulator.requests()
    const failedAt = Date.parse(detail.job.completedAt ?? detail.job.updatedAt)

    assert.strictEqual(detail.job.status, "FAILED")
    assert.match(detail.job.reason ?? "", /CREDENTIALS/)
    for (const unit of detail.units) {
      assert.strictEqual(unit.status, "INCONCLUSIVE", `${unit.modelId} ${unit.region}`)
      assert.strictEqual(unit.error?.category, "CREDENTIALS", `${unit.modelId} ${unit.region}`)
    }
    // Only the units already running when the first call failed reached Bedrock, once each.
    assert.isAtLeast(calls.length, 1)
    assert.isAtMost(calls.length, 2)
    assert.isTrue(calls.every((r) => r.errorName === "UnrecognizedClientException"))
    const late = calls.filter((r) => r.at > failedAt).map((r) => r.modelId)
    assert.deepStrictEqual(late, [], "no Bedrock call after the job failed")
    // Credentials never reach stored results.
    const stored = JSON.stringify(await certification.getJob(created.jobId))
    assert.notInclude(stored, accessKeyId)
    assert.notInclude(stored, "e2e-secret")
  })

  it("a model served only through an inference profile is certified through it, with the finding", async () => {
    // The registry says on demand in us-east-1 and knows the profile us.amazon.nova-lite-v1:0.
    const fallback = "amazon.nova-lite-v1:0"
    const noProfile = "amazon.titan-text-express-v1" // the registry knows no profile for it
    engine = await startEngine({
      ...quick,
      rules: [{ models: [fallback, noProfile], regions: ["us-east-1"], availability: "profile-only" }]
    })
    const { certification, emulator } = engine
    const created = await certification.certifyMultiple({ modelIds: [fallback, noProfile], regions: ["us-east-1"] })
    const detail = await certification.waitForJob(created.jobId)

    const viaProfile = detail.units.find((u) => u.modelId === fallback)!
    assert.strictEqual(viaProfile.status, "CERTIFIED")
    assert.deepStrictEqual(
      { kind: viaProfile.invocationTarget?.kind, id: viaProfile.invocationTarget?.id },
      { kind: "SYSTEM_PROFILE", id: "us.amazon.nova-lite-v1:0" }
    )
    assert.isTrue(
      viaProfile.findings.some((f) => f.startsWith("works only via inference profile us.amazon.nova-lite-v1:0")),
      viaProfile.findings.join("; ")
    )
    // Bedrock refused the on-demand id once; every later call used the profile.
    const calls = emulator.requests().filter((r) => r.modelId?.endsWith(fallback))
    assert.deepStrictEqual(calls.filter((r) => r.modelId === fallback).map((r) => r.errorName), ["ValidationException"])
    assert.isAbove(calls.filter((r) => r.modelId === `us.${fallback}`).length, 5)

    const stuck = detail.units.find((u) => u.modelId === noProfile)!
    assert.strictEqual(stuck.status, "UNAVAILABLE")
    assert.strictEqual(stuck.error?.category, "REQUIRES_INFERENCE_PROFILE")
  })
})
