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

const slow = "amazon.nova-pro-v1:0"

describe("parking a unit on its model's own slow quota (issue 16)", () => {
  it.live("a model throttled by its own quota gets its own pace; once that pace would hold a request past parkAfterMillis the run ends at once, THROTTLED, and the region stays unpaced", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.make({
        scenario: { seed: 5, registry: "builtin", rules: [{ models: [slow], throttle: { requestsPerSecond: 0.2, burst: 1 } }] }
      })
      const services = Layer.mergeAll(
        BedrockRuntime.layer({ endpoint: emulator.url, credentials: { accessKeyId: "AKIDPARK", secretAccessKey: "park" } }),
        Registry.layer,
        RegionGovernor.layer({ failureThreshold: 50 })
      )
      const settings = {
        maxAttempts: 4,
        backoffBaseMillis: 50,
        backoffMaxMillis: 200,
        // A budget no run here reaches: a run that ends, ends because it parked.
        throttleBudgetMillis: 600_000,
        testConcurrency: 3,
        parkAfterMillis: 500
      }
      yield* Effect.gen(function*() {
        const governor = yield* RegionGovernor.RegionGovernor
        // Another model of the region runs first and meanwhile: the yardstick for "throttled more than the others".
        assert.strictEqual((yield* Runner.runUnit({ modelId: healthy, region: east })).verdict, "CERTIFIED")
        const others = yield* Effect.forkChild(Effect.forever(Runner.runUnit({ modelId: healthy, region: east })))
        const outcome = yield* Runner.runUnit({ modelId: slow, region: east })
        yield* Fiber.interrupt(others)
        assert.strictEqual(outcome.verdict, "INCONCLUSIVE")
        assert.strictEqual(outcome.error?.category, "THROTTLED")
        const errored = outcome.tests.filter((t) => t.status === "ERRORED")
        assert.isAbove(errored.length, 0)
        assert.isTrue(
          outcome.tests.some((t) => t.error?.message.includes("gives its worker slot back") === true),
          JSON.stringify(outcome.tests.map((t) => [t.id, t.status, t.error?.message]))
        )
        assert.isAbove(yield* governor.laneWait(east, slow), 0, "the slow model has a pace of its own")
        assert.strictEqual(yield* governor.laneWait(east, healthy), 0, "the other model has none")
        // The region is not paced: the healthy model is certified again at once, without waiting on a region pace.
        const again = yield* Runner.runUnit({ modelId: healthy, region: east })
        assert.strictEqual(again.verdict, "CERTIFIED")
        const slowRequests = emulator.requests().filter((r) => r.modelId !== undefined && Registry.baseIdOf(r.modelId) === slow)
        assert.isBelow(slowRequests.length, 15, "the parked model did not keep hammering its quota")
      }).pipe(Effect.provide(services), Effect.provideService(Runner.RunnerConfig, settings))
    }).pipe(Effect.scoped))
})
