/**
 * The certify threshold has one home: the service records its `settings.certifyThreshold` on each job,
 * and the worker judges the job's units by the job's value.
 */
import { assert, describe, it } from "@effect/vitest"
import { Rating } from "@myia/certification"
import { startEngine } from "./support.ts"

const pair = { modelIds: ["amazon.nova-micro-v1:0", "amazon.nova-lite-v1:0"], regions: ["us-east-1"] }

const certifyWith = async (certifyThreshold?: number) => {
  const engine = await startEngine(
    { seed: 9, timeScale: 0.01 },
    certifyThreshold === undefined ? {} : { settings: { certifyThreshold } }
  )
  try {
    const created = await engine.certification.certifyMultiple(pair)
    return await engine.certification.waitForJob(created.jobId)
  } finally {
    await engine.close()
  }
}

describe("certify threshold", () => {
  it("is recorded on the job from the service settings, and the worker judges the units by it", async () => {
    const byDefault = await certifyWith()
    assert.strictEqual(byDefault.job.config.certifyThreshold, Rating.defaultCertifyThreshold)
    assert.deepStrictEqual(byDefault.units.map((u) => u.status), ["CERTIFIED", "CERTIFIED"])

    // No score reaches 101: healthy models that pass every test end QUALITY_WARNING, not CERTIFIED.
    const strict = await certifyWith(101)
    assert.strictEqual(strict.job.config.certifyThreshold, 101)
    assert.deepStrictEqual(strict.units.map((u) => u.status), ["QUALITY_WARNING", "QUALITY_WARNING"])
    for (const unit of strict.units) {
      assert.isTrue(unit.tests.every((t) => t.status === "PASSED" || t.status === "SKIPPED"), unit.modelId)
    }
  })
})
