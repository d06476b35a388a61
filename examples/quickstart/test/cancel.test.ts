/**
 * Cancel mid-run: with slow Bedrock answers and units in flight, cancelling ends the job CANCELLED,
 * no Bedrock request starts after the cancel returned, the in-flight requests are aborted, and
 * nothing is written afterwards.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import type { Scenario } from "@myia/certification/emulator"
import { type Engine, startEngine } from "./support.ts"

const fast = "amazon.titan-text-express-v1"
const slow = [
  "amazon.nova-lite-v1:0",
  "amazon.nova-micro-v1:0",
  "amazon.nova-pro-v1:0",
  "mistral.mistral-large-2402-v1:0"
]

// Slow answers everywhere (3 s to first token, real time), except one fast model that completes first.
const scenario: Scenario.ScenarioInput = {
  seed: 3,
  timeScale: 1,
  defaults: { latency: { ttftMs: { min: 3_000, max: 3_200 }, tokensPerSecond: 1_000 } },
  rules: [{ models: [fast], latency: { ttftMs: { min: 1, max: 2 }, tokensPerSecond: 100_000 } }]
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

describe("cancel during a run", () => {
  let engine: Engine
  beforeAll(async () => {
    engine = await startEngine(scenario, { worker: { concurrency: 3 } })
  })
  afterAll(() => engine?.close())

  it("ends CANCELLED, starts no call after the cancel, aborts calls in flight, writes nothing after", async () => {
    const { certification, emulator } = engine
    const created = await certification.certifyMultiple({
      modelIds: [fast, ...slow],
      regions: ["us-east-1", "us-west-2"]
    })
    assert.isAtLeast(created.totalUnits, 6)

    // Wait for a finished unit (the fast model) and slow calls in flight.
    await until("a completed unit and calls in flight", async () => {
      const detail = await certification.getJob(created.jobId)
      return detail.counts.completed >= 1 && emulator.activeRequests() >= 2
    })
    const cancelled = await certification.cancel(created.jobId)
    const cancelReturned = engine.clock.currentTimeMillisUnsafe()
    assert.strictEqual(cancelled.status, "CANCELLED")

    // In-flight calls are aborted well before their 3 s answer would come.
    await until("in-flight calls to close", () => emulator.activeRequests() === 0, 2_000)
    const afterCancel = await certification.getJob(created.jobId)
    await sleep(1_500)

    const late = emulator.requests().filter((r) => r.at > cancelReturned)
    const lateCalls = late.map((r) => `${r.operation} ${r.modelId} ${r.region}`)
    assert.deepStrictEqual(lateCalls, [], "no request starts after the cancel")
    // Slow calls open at the cancel would have taken ≥ 3 s: each must have been closed by the client, soon after.
    const openAtCancel = emulator.requests().filter((r) =>
      r.modelId !== fast && r.at <= cancelReturned && r.at + r.durationMs >= cancelReturned - 50
    )
    assert.isAtLeast(openAtCancel.length, 1)
    for (const r of openAtCancel) {
      assert.isTrue(r.closedByClient, `${r.operation} ${r.modelId} ${r.region} was aborted`)
      assert.isBelow(r.at + r.durationMs, cancelReturned + 2_000)
    }

    const detail = await certification.getJob(created.jobId)
    assert.strictEqual(detail.job.status, "CANCELLED")
    const cancelledAt = Date.parse(detail.job.cancelledAt!)
    for (const unit of detail.units) {
      if (unit.status === "CANCELLED") continue
      assert.isNotNull(unit.completedAt, `${unit.modelId} ${unit.region} is terminal`)
      const name = `${unit.modelId} ${unit.region}`
      assert.isAtMost(Date.parse(unit.completedAt!), cancelledAt, `${name} completed before the cancel`)
    }
    assert.isTrue(detail.units.some((u) => u.status === "CANCELLED"))
    assert.isTrue(detail.units.some((u) => u.modelId === fast && u.status !== "CANCELLED"))
    // Counts are derived from the rows, and nothing changed since just after the cancel.
    assert.strictEqual(detail.counts.total, detail.units.length)
    assert.strictEqual(detail.counts.byVerdict.CANCELLED, detail.units.filter((u) => u.status === "CANCELLED").length)
    assert.strictEqual(detail.counts.completed, detail.units.length)
    const rows = (units: typeof detail.units) => units.map((u) => [u.id, u.status, u.completedAt, u.attempts, u.lease])
    assert.deepStrictEqual(rows(detail.units), rows(afterCancel.units))
    assert.strictEqual(detail.job.updatedAt, afterCancel.job.updatedAt)
  })
})
