import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Runner from "../src/Runner.ts"
import type { ScenarioInput } from "../src/emulator/Scenario.ts"
import * as RunnerHarness from "./RunnerHarness.ts"

describe("Runner.retryBackoff", () => {
  const settingsRows = [
    { backoffBaseMillis: 200, backoffMaxMillis: 5_000 },
    { backoffBaseMillis: 10, backoffMaxMillis: 50 },
    { backoffBaseMillis: 1_000, backoffMaxMillis: 1_000 }
  ]
  for (const settings of settingsRows) {
    const { backoffBaseMillis: base, backoffMaxMillis: max } = settings
    it.effect(`step n stays within [0, min(max, base·2^(n−1))] for base ${base}, max ${max}`, () =>
      Effect.gen(function*() {
        const highest = Array.from({ length: 10 }, () => 0)
        for (let run = 0; run < 300; run++) {
          const step = yield* Schedule.toStep(Runner.retryBackoff(settings))
          for (let n = 1; n <= 10; n++) {
            const cap = Math.min(settings.backoffMaxMillis, settings.backoffBaseMillis * Math.pow(2, n - 1))
            const [, delay] = yield* step(0, undefined)
            const ms = Duration.toMillis(delay)
            assert.isAtLeast(ms, 0)
            assert.isAtMost(ms, cap, `step ${n}`)
            highest[n - 1] = Math.max(highest[n - 1]!, ms)
          }
        }
        // Full jitter spreads over the whole window: over 300 runs each step reaches its top half.
        highest.forEach((ms, i) => {
          const cap = Math.min(settings.backoffMaxMillis, settings.backoffBaseMillis * Math.pow(2, i))
          assert.isAbove(ms, cap / 2, `step ${i + 1} never drew above half its cap ${cap}`)
        })
      }))
  }
})

describe("Runner.runUnit through the emulator", () => {
  const denied = "amazon.nova-micro-v1:0"
  const down = "amazon.nova-pro-v1:0"
  const image = "amazon.titan-image-generator-v1"
  const unknown = "acme.does-not-exist-v9:0"
  const maxAttempts = 3

  const scenario: ScenarioInput = {
    seed: 11,
    registry: "builtin",
    defaults: { quality: "good", latency: { ttftMs: { min: 1, max: 2 }, tokensPerSecond: 5000 } },
    rules: [
      { models: [denied], availability: "access-denied" },
      { models: [down], errorRate5xx: 1 }
    ]
  }

  const certify = (modelId: string, certifyThreshold?: number) =>
    RunnerHarness.certify(scenario, modelId, maxAttempts, certifyThreshold)

  it.live("a denied model ends UNAVAILABLE / ACCESS_DENIED after one connectivity request (no retry)", () =>
    Effect.gen(function*() {
      const { outcome, requests } = yield* certify(denied)
      assert.strictEqual(outcome.verdict, "UNAVAILABLE")
      assert.strictEqual(outcome.error?.category, "ACCESS_DENIED")
      assert.strictEqual(requests.length, 1)
      const connectivity = outcome.tests.find((t) => t.id === "connectivity")
      assert.strictEqual(connectivity?.attempts, 1)
      // Nothing else ran after the gate.
      for (const t of outcome.tests.filter((t) => t.id !== "connectivity")) assert.strictEqual(t.status, "SKIPPED", t.id)
    }))

  it.live("a model that always answers 5xx ends INCONCLUSIVE / SERVICE_UNAVAILABLE after maxAttempts requests", () =>
    Effect.gen(function*() {
      const { outcome, requests } = yield* certify(down)
      assert.strictEqual(outcome.verdict, "INCONCLUSIVE")
      assert.strictEqual(outcome.error?.category, "SERVICE_UNAVAILABLE")
      assert.strictEqual(requests.length, maxAttempts)
      assert.isTrue(requests.every((r) => r.status >= 500), "every request was a 5xx")
      const connectivity = outcome.tests.find((t) => t.id === "connectivity")
      assert.strictEqual(connectivity?.status, "ERRORED")
      assert.strictEqual(connectivity?.attempts, maxAttempts)
    }))

  it.live("an image model ends UNSUPPORTED without any request", () =>
    Effect.gen(function*() {
      const { all, outcome } = yield* certify(image)
      assert.strictEqual(outcome.verdict, "UNSUPPORTED")
      assert.strictEqual(outcome.tests.length, 0)
      assert.isNotNull(outcome.error)
      assert.strictEqual(all.length, 0)
    }))

  it.live("an unknown model ends UNSUPPORTED without any request", () =>
    Effect.gen(function*() {
      const { all, outcome } = yield* certify(unknown)
      assert.strictEqual(outcome.verdict, "UNSUPPORTED")
      assert.strictEqual(outcome.tests.length, 0)
      assert.include(outcome.error?.message ?? "", unknown)
      assert.strictEqual(all.length, 0)
    }))

  it.live("a healthy model is CERTIFIED through its on-demand target (control for the cases above)", () =>
    Effect.gen(function*() {
      const { outcome, requests } = yield* certify("amazon.nova-lite-v1:0")
      assert.strictEqual(outcome.verdict, "CERTIFIED")
      assert.strictEqual(outcome.invocationTarget?.id, "amazon.nova-lite-v1:0")
      assert.isAbove(requests.length, 1)
    }))
  it.live("the unit's certify threshold decides CERTIFIED: a healthy model scoring below it is a QUALITY_WARNING", () =>
    Effect.gen(function*() {
      const healthy = "amazon.nova-lite-v1:0"
      const byDefault = yield* certify(healthy)
      const strict = yield* certify(healthy, 101)
      assert.strictEqual(byDefault.outcome.verdict, "CERTIFIED")
      assert.strictEqual(strict.outcome.verdict, "QUALITY_WARNING")
      assert.isTrue(strict.outcome.tests.every((t) => t.status !== "FAILED" && t.status !== "ERRORED"))
    }))
})
