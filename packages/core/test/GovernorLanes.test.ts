/**
 * Governor per (region, model) through the real runner and emulator (issue 16): a model whose calls
 * all fail opens only its own breaker, so the other models of its region finish while it waits.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as BedrockRuntime from "../src/BedrockRuntime.ts"
import * as RegionGovernor from "../src/RegionGovernor.ts"
import * as Registry from "../src/Registry.ts"
import * as Runner from "../src/Runner.ts"
import * as BedrockEmulator from "../src/emulator/BedrockEmulator.ts"
import { east } from "./RunnerHarness.ts"

const down = "amazon.nova-pro-v1:0"
const healthy = "amazon.nova-lite-v1:0"

describe("RegionGovernor lanes through the runner (issue 16)", () => {
  it.live("a model failing 100 % opens its own breaker and waits; a healthy model of the same region is certified meanwhile", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.make({
        scenario: { seed: 3, registry: "builtin", rules: [{ models: [down], errorRate5xx: 1 }] }
      })
      const services = Layer.mergeAll(
        BedrockRuntime.layer({ endpoint: emulator.url, credentials: { accessKeyId: "AKIDLANES", secretAccessKey: "lanes" } }),
        Registry.layer,
        // Opens after 2 failures and stays open for the whole test: the failing model waits.
        RegionGovernor.layer({ failureThreshold: 2, openDuration: "1 hour" })
      )
      const settings = { maxAttempts: 6, backoffBaseMillis: 1, backoffMaxMillis: 5, throttleBudgetMillis: 1_000, testConcurrency: 3 }
      yield* Effect.gen(function*() {
        const governor = yield* RegionGovernor.RegionGovernor
        const failing = yield* Effect.forkChild(Runner.runUnit({ modelId: down, region: east }))
        for (let i = 0; i < 200 && (yield* governor.state(east, down)).breaker !== "open"; i++) yield* Effect.sleep("10 millis")
        assert.strictEqual((yield* governor.state(east, down)).breaker, "open")
        const outcome = yield* Runner.runUnit({ modelId: healthy, region: east })
        assert.strictEqual(outcome.verdict, "CERTIFIED")
        assert.isUndefined(failing.pollUnsafe(), "the failing model is still waiting on its own breaker")
        assert.strictEqual((yield* governor.state(east, healthy)).breaker, "closed")
        assert.strictEqual((yield* governor.regionState(east)).breaker, "closed")
        const downRequests = emulator.requests().filter((r) => r.modelId !== undefined && Registry.baseIdOf(r.modelId) === down)
        assert.strictEqual(downRequests.length, 2, "no call reaches the failing model while its breaker is open")
        yield* Fiber.interrupt(failing)
      }).pipe(Effect.provide(services), Effect.provideService(Runner.RunnerConfig, settings))
    }).pipe(Effect.scoped))
})
