/**
 * Issue #13: discovery results survive a restart on PostgreSQL. One living registry observes
 * us-east-1 through the emulator's control plane and stores it; a second one — a new process's
 * cache, a new pool — whose control plane is unreachable serves the stored observation while it is
 * fresh (TTL through `Clock`), and skips preflight once it is not. At a fixed instant (TestClock).
 */
import { assert, describe, it } from "@effect/vitest"
import { ControlPlane, LivingRegistry, Region, Registry } from "@myia/certification"
import { BedrockEmulator } from "@myia/certification/emulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import { skip, storageLayer, useSchema } from "./PgTest.ts"

const east = Schema.decodeSync(Region.Region)("us-east-1")
const instant = Date.parse("2026-12-01T12:00:00.000Z")
const credentials = { accessKeyId: "AKIDPGLIVING", secretAccessKey: "x" }
const newModel = "acme.new-chat-v1:0"

const living = (schema: string, endpoint: string) =>
  LivingRegistry.layer({ ttl: "1 hour", failureTtl: "1 minute" }).pipe(
    Layer.provide(ControlPlane.layer({ endpoint, credentials })),
    Layer.provide(Layer.merge(storageLayer(schema), Registry.layer))
  )

describe.skipIf(skip)("living registry on PostgreSQL", () => {
  const schema = useSchema()

  it.effect("an observation stored by one process serves the next after a restart, until its TTL passes", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(instant)
      const emulator = yield* BedrockEmulator.make({
        scenario: {
          timeScale: 0,
          registry: "builtin",
          rules: [{ models: newModel, regions: ["us-east-1"], availability: "offered", authorization: "NOT_AUTHORIZED" }]
        }
      })
      const first = yield* Effect.gen(function*() {
        const registry = yield* LivingRegistry.LivingRegistry
        return yield* registry.view(newModel, east)
      }).pipe(Effect.provide(living(schema, emulator.url)))
      assert.strictEqual(first.discovery._tag, "Observed")
      assert.strictEqual(first.merged.facts.access?.value, "NOT_AUTHORIZED")
      const calls = emulator.requests().length
      assert.isAbove(calls, 0)

      // The restart: new layer, new pool, empty cache; the control plane is unreachable now.
      yield* TestClock.adjust("59 minutes")
      const second = yield* Effect.gen(function*() {
        const registry = yield* LivingRegistry.LivingRegistry
        const view = yield* registry.view(newModel, east)
        yield* TestClock.adjust("2 minutes") // past the 1 h TTL of the stored observation
        const later = yield* registry.observe(east)
        return { view, later }
      }).pipe(Effect.provide(living(schema, "http://127.0.0.1:1")))
      assert.strictEqual(second.view.discovery._tag, "Observed")
      assert.isTrue(second.view.merged.listed)
      assert.strictEqual(second.view.merged.model?.id, newModel)
      assert.strictEqual(second.view.merged.facts.access?.value, "NOT_AUTHORIZED")
      assert.strictEqual(second.view.merged.facts.access?.at, new Date(instant).toISOString())
      assert.strictEqual(second.later._tag, "Skipped")
      // Nothing reached the emulator after the restart.
      assert.strictEqual(emulator.requests().length, calls)
    }), { timeout: 60_000 })
})
