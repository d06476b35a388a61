/**
 * The Promise facade end to end: create a job, follow its events to the end, read the result, and
 * close — which must stop the worker mid-run, abort its Bedrock calls and leave nothing that keeps
 * the process alive.
 */
import { assert, describe, it } from "@effect/vitest"
import { startEngine } from "./support.ts"

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Network handles that would keep Node alive (the test runner's own pipes and timers aside). */
const handles = () => process.getActiveResourcesInfo().filter((r) => /TCP|Http2|TLS|UDP/.test(r)).sort()

describe("createCertification facade", () => {
  it("runs a job end to end with events, and close() mid-run stops the worker and releases everything", async () => {
    const baseline = handles()
    const engine = await startEngine({ seed: 5, timeScale: 0.01 })
    const { certification, emulator } = engine
    const created = await certification.certifyMultiple({
      modelIds: ["amazon.nova-micro-v1:0", "amazon.titan-embed-text-v2:0"],
      regions: ["us-east-1", "eu-central-1"]
    })
    assert.strictEqual(created.status, "QUEUED")
    const events: Array<{ type: string; status: string; unitId: string | null }> = []
    for await (const e of certification.events(created.jobId)) events.push(e)
    const detail = await certification.waitForJob(created.jobId)

    assert.strictEqual(detail.job.status, "COMPLETED")
    assert.strictEqual(detail.units.length, created.totalUnits)
    assert.isTrue(detail.units.every((u) => u.status === "CERTIFIED"), detail.units.map((u) => u.status).join())
    assert.isTrue(detail.units.every((u) => u.model.name.length > 0 && u.tests.length > 0 && u.score !== null))
    // The stream ends with the terminal status and reports every unit's completion once.
    assert.deepStrictEqual([events.at(-1)?.type, events.at(-1)?.status], ["job-status", "COMPLETED"])
    const completed = events.filter((e) => e.type === "unit-completed").map((e) => e.unitId).sort()
    assert.deepStrictEqual(completed, detail.units.map((u) => u.id).sort())
    assert.strictEqual((await certification.stats()).unitsByVerdict.CERTIFIED, created.totalUnits)

    // A second, slow job: close while its calls are in flight.
    emulator.setScenario({
      seed: 5,
      timeScale: 1,
      defaults: { latency: { ttftMs: { min: 5_000, max: 5_100 }, tokensPerSecond: 1_000 } }
    })
    await certification.certifyMultiple({
      modelIds: ["amazon.nova-micro-v1:0", "amazon.nova-lite-v1:0"],
      regions: ["us-east-1"]
    })
    for (let i = 0; i < 250 && emulator.activeRequests() === 0; i++) await sleep(20)
    assert.isAbove(emulator.activeRequests(), 0)
    await certification.close()
    const closedAt = engine.clock.currentTimeMillisUnsafe()

    for (let i = 0; i < 50 && emulator.activeRequests() > 0; i++) await sleep(20)
    assert.strictEqual(emulator.activeRequests(), 0, "close() aborts the calls in flight")
    await sleep(300)
    assert.deepStrictEqual(emulator.requests().filter((r) => r.at > closedAt), [], "no call starts after close()")
    assert.strictEqual(await certification.getJob(created.jobId).then(() => "resolved", () => "rejected"), "rejected")
    await emulator.close()
    // Nothing the facade started still holds the event loop (timers, sockets, servers).
    for (let i = 0; i < 50 && handles().length > baseline.length; i++) await sleep(20)
    assert.deepStrictEqual(handles(), baseline)
  })
})

describe("createCertification waitForJob", () => {
  it("gives up after its timeout with a TimeoutError, and the job keeps running to completion", async () => {
    const engine = await startEngine({
      seed: 6,
      timeScale: 1,
      defaults: { latency: { ttftMs: { min: 300, max: 300 }, tokensPerSecond: 5_000, jitter: 0 } }
    })
    try {
      const { jobId } = await engine.certification.certifyModel({ modelId: "amazon.nova-lite-v1:0", region: "us-east-1" })
      const error = await engine.certification.waitForJob(jobId, { timeout: "200 millis" }).then(
        () => undefined,
        (e: unknown) => e
      )
      assert.strictEqual((error as { readonly _tag?: string })?._tag, "TimeoutError")
      const detail = await engine.certification.waitForJob(jobId, { timeout: "60 seconds" })
      assert.strictEqual(detail.job.status, "COMPLETED")
    } finally {
      await engine.close()
    }
  })
})
