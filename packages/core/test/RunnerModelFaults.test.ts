/**
 * The Runner against Bedrock's two model-side faults, end to end: the emulator's `modelTimeout` and
 * `modelNotReady` knobs answer ModelTimeoutException (408) and ModelNotReadyException (429) over
 * HTTP or mid-stream, the real SDK client (retries off) surfaces them, the categorizer files them
 * TIMEOUT and SERVICE_UNAVAILABLE, and the Runner retries each test a bounded number of times before
 * it leaves the unit INCONCLUSIVE with that category — never FAILED, since neither is the model's
 * answer. The emulator's request log counts the attempts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ScenarioInput } from "../src/emulator/Scenario.ts"
import * as RunnerHarness from "./RunnerHarness.ts"

const maxAttempts = 3

const models = {
  timeout: "amazon.nova-lite-v1:0",
  notReady: "amazon.nova-pro-v1:0",
  timeoutMid: "amazon.nova-micro-v1:0",
  notReadyMid: "meta.llama3-8b-instruct-v1:0"
} as const

const scenario: ScenarioInput = {
  seed: 21,
  registry: "builtin",
  defaults: { quality: "good", latency: { ttftMs: { min: 1, max: 2 }, tokensPerSecond: 5000 } },
  rules: [
    { models: Object.values(models), availability: "offered" },
    { models: models.timeout, modelTimeout: { rate: 1 } },
    { models: models.notReady, modelNotReady: { rate: 1 } },
    { models: models.timeoutMid, modelTimeout: { midStream: true } },
    { models: models.notReadyMid, modelNotReady: { midStream: true } }
  ]
}

const certify = (modelId: string) => RunnerHarness.certify(scenario, modelId, maxAttempts)

describe("Runner: scripted ModelTimeoutException and ModelNotReadyException", () => {
  const http = [
    { knob: "modelTimeout", modelId: models.timeout, name: "ModelTimeoutException", status: 408, category: "TIMEOUT" },
    {
      knob: "modelNotReady",
      modelId: models.notReady,
      name: "ModelNotReadyException",
      status: 429,
      category: "SERVICE_UNAVAILABLE"
    }
  ] as const
  for (const c of http) {
    it.live(
      `${c.knob} over HTTP: the gate is tried ${maxAttempts} times, then the unit is INCONCLUSIVE / ${c.category}`,
      () =>
        Effect.gen(function*() {
          const { outcome, requests } = yield* certify(c.modelId)
          assert.strictEqual(outcome.verdict, "INCONCLUSIVE")
          assert.strictEqual(outcome.error?.category, c.category)
          assert.strictEqual(outcome.error?.blame, "environment")
          const gate = outcome.tests.find((t) => t.id === "connectivity")
          assert.strictEqual(gate?.status, "ERRORED")
          assert.strictEqual(gate?.attempts, maxAttempts)
          // One request per attempt: the SDK's own retries are off, the Runner's are bounded.
          assert.strictEqual(requests.length, maxAttempts)
          assert.isTrue(
            requests.every((r) => r.status === c.status && r.errorName === c.name),
            JSON.stringify(requests)
          )
          for (const t of outcome.tests.filter((t) => t.id !== "connectivity"))
            assert.strictEqual(t.status, "SKIPPED", t.id)
        })
    )
  }

  const midStream = [
    { knob: "modelTimeout", modelId: models.timeoutMid, category: "TIMEOUT" },
    { knob: "modelNotReady", modelId: models.notReadyMid, category: "SERVICE_UNAVAILABLE" }
  ] as const
  for (const c of midStream) {
    it.live(
      `${c.knob} mid-stream: streaming tests are retried and ERRORED, the unit INCONCLUSIVE / ${c.category}`,
      () =>
        Effect.gen(function*() {
          const { outcome, requests } = yield* certify(c.modelId)
          assert.strictEqual(outcome.verdict, "INCONCLUSIVE")
          assert.strictEqual(outcome.error?.category, c.category)
          assert.strictEqual(outcome.tests.find((t) => t.id === "connectivity")?.status, "PASSED")
          const streaming = outcome.tests.find((t) => t.id === "streaming")!
          assert.strictEqual(streaming.status, "ERRORED")
          assert.strictEqual(streaming.error?.category, c.category)
          assert.strictEqual(streaming.attempts, maxAttempts)
          assert.isTrue(
            outcome.tests.every((t) => t.status !== "FAILED"),
            "a model fault never fails a test"
          )
          const broken = requests.filter((r) => r.operation === "ConverseStream")
          const streamed = outcome.tests.filter((t) => t.id === "streaming" || t.id === "tool-use-streaming")
          assert.strictEqual(
            broken.length,
            streamed.reduce((n, t) => n + t.attempts, 0)
          )
          assert.isTrue(
            broken.every((r) => r.status === 200 && r.errorName !== undefined),
            "every stream broke after its 200"
          )
        })
    )
  }
})
