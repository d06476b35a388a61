/**
 * Issue #13 over HTTP: with the living registry on, `GET /models?region` lists the merged facts
 * with their sources (a model only the control plane knows included) and `GET /registry/diff?region`
 * the differences between snapshot, control plane and our runs. At a fixed instant.
 */
import { Registry } from "@myia/certification"
import { BedrockEmulator } from "@myia/certification/emulator"
import { Fixtures } from "@myia/certification/testing"
import { createCertificationHandler } from "@myia/certification-http"
import * as Memory from "@myia/certification-memory"
import { assert, describe, it } from "@effect/vitest"
import { afterAll, beforeAll } from "vitest"

const base = "/api/certification-queue"
const instant = "2026-12-01T12:00:00.000Z"
const newModel = "acme.new-chat-v1:0"
// A chat model the snapshot calls ACTIVE on demand in us-east-1 at the instant.
const legacy = Registry.builtinModels.filter((m) =>
  m.modality === "chat" && Registry.lifecycleAt(m, instant) === "ACTIVE" && m.lifecycle.status === "ACTIVE" &&
  m.regions.some((r) => r.region === "us-east-1" && r.invocation === "ON_DEMAND")
).map((m) => m.id).sort()[0]!

let emulator: BedrockEmulator.EmulatorHandle
let handler: ReturnType<typeof createCertificationHandler>

beforeAll(async () => {
  emulator = await BedrockEmulator.start({
    scenario: {
      timeScale: 0,
      rules: [
        { models: newModel, regions: ["us-east-1"], availability: "offered" },
        { models: legacy, lifecycle: { status: "LEGACY", endOfLifeTime: "2027-06-01T00:00:00Z" } }
      ]
    },
    clock: Fixtures.clockAt(instant)
  })
  handler = createCertificationHandler({
    certification: {
      storage: Memory.MemoryStorage.layer,
      queue: Memory.MemoryQueue.layer(),
      bedrock: { endpoint: emulator.url, credentials: { accessKeyId: "AKIDHTTPLIVING", secretAccessKey: "x" } },
      controlPlane: {},
      worker: false,
      clock: Fixtures.clockAt(instant),
      env: {}
    },
    basePath: base,
    anonymous: "read-write"
  })
})

afterAll(async () => {
  await handler.dispose()
  await emulator.close()
})

const get = async (path: string) => {
  const response = await handler.fetch(new Request(`http://host${base}${path}`))
  return { status: response.status, json: (await response.json()) as { status: string; data?: any; error?: any } }
}

describe("living registry over HTTP (issue 13)", () => {
  it("GET /models?region lists the merged facts with their sources, a control-plane-only model included", async () => {
    const { json, status } = await get("/models?region=us-east-1")
    assert.strictEqual(status, 200)
    const fresh = json.data.find((m: any) => m.id === newModel)
    assert.isDefined(fresh, "the model only the control plane lists is listed")
    assert.strictEqual(fresh.certifiability.certifiable, true)
    assert.strictEqual(fresh.registry.inSnapshot, false)
    assert.strictEqual(fresh.registry.listed, true)
    const invocation = fresh.registry.facts.find((f: any) => f.fact === "invocation")
    assert.deepStrictEqual([invocation.value, invocation.source], ["ON_DEMAND", "control-plane"])
    assert.strictEqual(Date.parse(invocation.at) >= Date.parse(instant), true)
    const old = json.data.find((m: any) => m.id === legacy)
    const lifecycle = old.registry.facts.find((f: any) => f.fact === "lifecycle")
    assert.strictEqual(lifecycle.source, "control-plane")
    assert.match(lifecycle.value, /^LEGACY/)
    // Without ?region there is no merged view.
    const all = await get("/models")
    assert.isUndefined(all.json.data.find((m: any) => m.id === legacy).registry)
  })

  it("GET /registry/diff?region lists each difference with the sources that disagree", async () => {
    const { json, status } = await get("/registry/diff?region=us-east-1")
    assert.strictEqual(status, 200)
    assert.strictEqual(json.data.discovery.observed, true)
    assert.isNull(json.data.discovery.reason)
    const stale = json.data.differences.find((d: any) => d.modelId === legacy && d.fact === "lifecycle")
    assert.isDefined(stale, JSON.stringify(json.data.differences.slice(0, 5)))
    assert.strictEqual(stale.kind, "snapshot-stale")
    assert.deepStrictEqual(stale.values.map((v: any) => v.source), ["control-plane", "snapshot"])
  })

  it("GET /registry/diff needs a known region: a 400 naming the field", async () => {
    const missing = await get("/registry/diff")
    assert.strictEqual(missing.status, 400)
    const unknown = await get("/registry/diff?region=mars-1")
    assert.strictEqual(unknown.status, 400)
    assert.include(JSON.stringify(unknown.json.error), "region")
  })
})
