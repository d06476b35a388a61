/**
 * Issue #13 done-when, in process: the facade with the living registry on (memory adapters, the
 * emulator over real sockets, the real SDK clients), at a fixed instant. A model only the control
 * plane lists is certified with the control plane named as its source; a model the snapshot calls
 * ACTIVE but the control plane LEGACY carries the lifecycle finding, and one past its control-plane
 * end of life ends UNAVAILABLE — in the same job; ten unauthorized models end UNAVAILABLE with the
 * control-plane evidence and not one runtime call; with `bedrock:List*` denied the job completes on
 * the snapshot and every unit says preflight was skipped.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { createCertification, Registry } from "@myia/certification"
import { BedrockEmulator, type Scenario } from "@myia/certification/emulator"
import { Fixtures } from "@myia/certification/testing"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runCli, schemaErrors } from "./support.ts"

const tmp = mkdtempSync(join(tmpdir(), "bedrock-certify-living-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const instant = "2026-12-01T12:00:00.000Z"
const region = "us-east-1"
const newModel = "acme.new-chat-v1:0"
const runtimeOps = new Set(["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream", "CountTokens"])

// Chat models the snapshot calls ACTIVE and on demand in us-east-1 at the instant (whatever today is).
const active = Registry.builtinModels
  .filter((m) =>
    m.modality === "chat" && m.api === "CONVERSE" && Registry.lifecycleAt(m, instant) === "ACTIVE" &&
    m.regions.some((r) => r.region === region && r.invocation === "ON_DEMAND")
  )
  .map((m) => m.id)
  .sort()
const unauthorized = active.slice(0, 10)
const legacy = active[10]!
const pastEol = active[11]!

const scenario: Scenario.ScenarioInput = {
  seed: 3,
  timeScale: 0,
  registry: "builtin",
  defaults: { quality: "good" },
  rules: [
    { models: newModel, regions: [region], availability: "offered" },
    { models: unauthorized, regions: "*", availability: "offered", authorization: "NOT_AUTHORIZED" },
    { models: legacy, availability: "offered", lifecycle: { status: "LEGACY", legacyTime: "2026-11-01T00:00:00Z", endOfLifeTime: "2027-05-01T00:00:00Z" } },
    { models: pastEol, availability: "offered", lifecycle: { status: "LEGACY", legacyTime: "2026-06-01T00:00:00Z", endOfLifeTime: "2026-11-15T00:00:00Z" } }
  ]
}

const withEngine = async <A>(
  scenarioInput: Scenario.ScenarioInput,
  run: (
    certification: ReturnType<typeof createCertification>,
    emulator: BedrockEmulator.EmulatorHandle
  ) => Promise<A>
): Promise<A> => {
  const emulator = await BedrockEmulator.start({ scenario: scenarioInput, clock: Fixtures.clockAt(instant) })
  const certification = createCertification({
    storage: MemoryStorage.layer,
    queue: MemoryQueue.layer(),
    bedrock: { endpoint: emulator.url, credentials: { accessKeyId: "AKIDLIVING", secretAccessKey: "x" } },
    runner: { backoffBaseMillis: 1, backoffMaxMillis: 5 },
    worker: { concurrency: 8 },
    controlPlane: {},
    clock: Fixtures.clockAt(instant),
    logLevel: "Error",
    env: {}
  })
  try {
    return await run(certification, emulator)
  } finally {
    await certification.close()
    await emulator.close()
  }
}

describe("living registry, end to end (issue 13)", () => {
  it("certifies a model only the control plane lists, flags LEGACY, ends EOL and unauthorized models UNAVAILABLE without runtime calls", async () => {
    assert.isTrue(Registry.builtinModels.every((m) => m.id !== newModel), "the snapshot must not know the new model")
    assert.strictEqual(unauthorized.length, 10)
    await withEngine(scenario, async (certification, emulator) => {
      const models = [newModel, legacy, pastEol, ...unauthorized]
      const { jobId } = await certification.certifyMultiple({ modelIds: models, regions: [region] })
      const detail = await certification.waitForJob(jobId, { timeout: "120 seconds" })
      assert.strictEqual(detail.job.status, "COMPLETED")
      const unit = (id: string) => detail.units.find((u) => u.modelId === id) ?? assert.fail(`no unit for ${id}`)

      const fresh = unit(newModel)
      assert.strictEqual(fresh.status, "CERTIFIED", JSON.stringify(fresh.findings))
      assert.isTrue(
        fresh.findings.some((f) => f.startsWith(`registry facts for ${newModel} in ${region} come from the control plane`)),
        fresh.findings.join("\n")
      )

      const old = unit(legacy)
      assert.include(["CERTIFIED", "QUALITY_WARNING"], old.status)
      assert.isTrue(old.findings.some((f) => f.startsWith("lifecycle: LEGACY per the control plane")), old.findings.join("\n"))
      assert.isTrue(old.findings.some((f) => /registry difference \(snapshot stale\): lifecycle/.test(f)))

      const gone = unit(pastEol)
      assert.strictEqual(gone.status, "UNAVAILABLE")
      assert.strictEqual(gone.error?.category, "LEGACY_OR_EOL")
      assert.match(gone.error!.message, /end of life/)
      assert.isTrue(gone.findings.some((f) => f.startsWith("preflight evidence: operation=ListFoundationModels")))

      for (const id of unauthorized) {
        const u = unit(id)
        assert.strictEqual(u.status, "UNAVAILABLE", id)
        assert.strictEqual(u.error?.category, "ACCESS_DENIED", id)
        assert.include(
          u.findings,
          u.findings.find((f) => f.startsWith("preflight evidence: operation=GetFoundationModelAvailability field=authorizationStatus value=NOT_AUTHORIZED")),
          id
        )
        assert.match(u.error!.message, /no runtime call was made/)
      }
      const runtimeCalls = emulator.requests().filter((r) =>
        runtimeOps.has(r.operation) && r.modelId !== undefined &&
        [...unauthorized, pastEol].includes(Registry.baseIdOf(r.modelId))
      )
      assert.deepStrictEqual(runtimeCalls, [])
      // Each region's listing is made once for the job (the cache serves the other units).
      const listings = emulator.requests().filter((r) => r.operation === "ListFoundationModels")
      assert.strictEqual(listings.length, 1)
    })
  })

  it("with bedrock:List* denied the job completes on the snapshot and every unit says preflight was skipped", async () => {
    const denied: Scenario.ScenarioInput = { ...scenario, rules: [], controlPlaneDenied: "*" }
    await withEngine(denied, async (certification) => {
      const models = active.slice(0, 3)
      const { jobId } = await certification.certifyMultiple({ modelIds: models, regions: [region] })
      const detail = await certification.waitForJob(jobId, { timeout: "120 seconds" })
      assert.strictEqual(detail.job.status, "COMPLETED")
      assert.strictEqual(detail.units.length, 3)
      for (const u of detail.units) {
        assert.strictEqual(u.status, "CERTIFIED", u.modelId)
        assert.isTrue(
          u.findings.some((f) => /^preflight skipped: List(FoundationModels|InferenceProfiles) in us-east-1: ACCESS_DENIED/.test(f)),
          u.findings.join("\n")
        )
      }
    })
  })

  it("the CLI on the demo scenario certifies acme.new-chat-v1:0 and names the control plane as its source", async () => {
    const out = (name: string) => join(tmp, name)
    const ran = await runCli([
      "certify", "--emulator", "--models", newModel, "--regions", region, "-o", out("r.json"), "-o", out("r.manifest.json")
    ])
    assert.strictEqual(ran.status, 0, `stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
    const results = JSON.parse(readFileSync(out("r.json"), "utf8")) as {
      readonly units: ReadonlyArray<{ readonly modelId: string; readonly verdict: string; readonly findings: ReadonlyArray<string> }>
    }
    assert.strictEqual(schemaErrors("results", results), "")
    assert.deepStrictEqual(results.units.map((u) => [u.modelId, u.verdict]), [[newModel, "CERTIFIED"]])
    assert.isTrue(results.units[0]!.findings.some((f) => f.includes("come from the control plane")), results.units[0]!.findings.join("\n"))
    const manifest = JSON.parse(readFileSync(out("r.manifest.json"), "utf8")) as {
      readonly entries: ReadonlyArray<{ readonly registry?: ReadonlyArray<string> }>
    }
    assert.strictEqual(schemaErrors("manifest", manifest), "")
    assert.isTrue((manifest.entries[0]!.registry ?? []).some((f) => f.includes("[control-plane ")))
  })
})
