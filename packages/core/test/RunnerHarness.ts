/**
 * One unit certified end to end against a scoped emulator: the real runtime client (SDK retries
 * off), the built-in registry, a region governor whose breaker stays closed, and fast backoff — so
 * Runner tests count attempts on the emulator's request log rather than wait.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as BedrockRuntime from "../src/BedrockRuntime.ts"
import { Region } from "../src/Region.ts"
import * as RegionGovernor from "../src/RegionGovernor.ts"
import * as Registry from "../src/Registry.ts"
import * as Runner from "../src/Runner.ts"
import * as BedrockEmulator from "../src/emulator/BedrockEmulator.ts"
import type { ScenarioInput } from "../src/emulator/Scenario.ts"

/** us-east-1, decoded. */
export const east = Schema.decodeSync(Region)("us-east-1")

/** Certify `modelId` in us-east-1 on an emulator playing `scenario`; the outcome and the requests it made. */
export const certify = (
  scenario: ScenarioInput,
  modelId: string,
  maxAttempts: number,
  certifyThreshold?: number,
  options?: Runner.RunOptions
) =>
  Effect.gen(function*() {
    const emulator = yield* BedrockEmulator.make({ scenario })
    const services = Layer.mergeAll(
      BedrockRuntime.layer({
        endpoint: emulator.url,
        credentials: { accessKeyId: "AKIDRUNNERTEST", secretAccessKey: "runner-secret" }
      }),
      Registry.layer,
      RegionGovernor.layer({ failureThreshold: 50 })
    )
    const outcome = yield* Runner.runUnit({ modelId, region: east, certifyThreshold }, options).pipe(
      Effect.provide(services),
      Effect.provideService(Runner.RunnerConfig, {
        maxAttempts,
        backoffBaseMillis: 1,
        backoffMaxMillis: 5,
        throttleBudgetMillis: 1_000,
        testConcurrency: 3
      })
    )
    // A request is logged when its exchange closes, which can trail the client's last read of a broken stream.
    for (let i = 0; i < 500 && emulator.activeRequests() > 0; i++) yield* Effect.sleep("10 millis")
    const all = emulator.requests()
    const requests = all.filter((r) => r.modelId !== undefined && Registry.baseIdOf(r.modelId) === modelId)
    return { outcome, requests, all }
  })
