/**
 * End of life over HTTP, at fixed instants: a model whose end of life is before "now" is refused in an
 * explicit request (400 naming the model and the date) and skipped with that reason in an all-models
 * request; the day before its end of life the same request is accepted. The engine's clock is pinned,
 * so these hold on any date the suite runs.
 */
import { Registry } from "@myia/certification"
import { Fixtures } from "@myia/certification/testing"
import { createCertificationHandler } from "@myia/certification-http"
import * as Memory from "@myia/certification-memory"
import { afterAll, assert, describe, it } from "@effect/vitest"

const base = "/api/certification-queue"
const instant = "2026-12-01T12:00:00.000Z"
const registry = Registry.make()

// A chat model the registry says reached end of life on a known date before the instant, in a region it was offered in.
const retired = registry.models.find((m) =>
  m.modality === "chat" && m.lifecycle.eolAt !== null && m.regions.length > 0 &&
  Registry.lifecycleAt(m, instant) === "EOL"
)!
const region = retired.regions[0]!.region
const dayBefore = new Date(Date.parse(`${retired.lifecycle.eolAt}T00:00:00.000Z`) - 86_400_000).toISOString()

type Handler = ReturnType<typeof createCertificationHandler>
const handlers: Array<Handler> = []

/** A plugin with no worker (nothing reaches Bedrock) whose clock starts at `at`. */
const pluginAt = (at: string): Handler => {
  const handler = createCertificationHandler({
    certification: {
      storage: Memory.MemoryStorage.layer,
      queue: Memory.MemoryQueue.layer(),
      worker: false,
      logLevel: "None",
      clock: Fixtures.clockAt(at)
    },
    basePath: base,
    anonymous: "read-write"
  })
  handlers.push(handler)
  return handler
}

afterAll(async () => {
  await Promise.all(handlers.map((h) => h.dispose()))
})

const post = async (handler: Handler, path: string, body: unknown) => {
  const response = await handler.fetch(
    new Request(`http://host${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
  )
  return { status: response.status, json: (await response.json()) as any }
}

describe("end of life at a fixed instant", () => {
  it("the registry has a model past its end of life at the instant (the data this test needs)", () => {
    assert.isDefined(retired)
    assert.isTrue(Date.parse(`${retired.lifecycle.eolAt}T00:00:00.000Z`) <= Date.parse(instant))
  })

  it("an explicit request for it is a 400 naming the model and the date, and creates no job", async () => {
    const plugin = pluginAt(instant)
    const { json, status } = await post(plugin, "/certify-model", { modelId: retired.id, region })
    assert.strictEqual(status, 400)
    assert.strictEqual(json.status, "error")
    assert.include(json.error.message, retired.id)
    assert.include(json.error.message, retired.lifecycle.eolAt!)
    assert.include(JSON.stringify(json.error.details), "END_OF_LIFE")
    const history = await plugin.fetch(new Request(`http://host${base}/history`))
    assert.strictEqual(((await history.json()) as any).data.pagination.total, 0)
  })

  it("an all-models request skips it with the reason and the date", async () => {
    const { json, status } = await post(pluginAt(instant), "/certify-all", { regions: [region] })
    assert.strictEqual(status, 201)
    const skipped = (json.data.skipped as Array<any>).find((s) => s.modelId === retired.id && s.region === region)
    assert.isDefined(skipped, `${retired.id} is listed as skipped in ${region}`)
    assert.strictEqual(skipped.reason, "END_OF_LIFE")
    assert.include(skipped.message, retired.lifecycle.eolAt!)
  })

  it("the day before its end of life, the same explicit request creates a job", async () => {
    const { json, status } = await post(pluginAt(dayBefore), "/certify-model", { modelId: retired.id, region })
    assert.strictEqual(status, 201, JSON.stringify(json))
    assert.strictEqual(json.data.modelId, retired.id)
  })
})
