/**
 * Resume, don't restart (issue 16), through the real worker: a unit whose worker died mid-suite
 * (its claim left PROCESSING with some tests stored) is redelivered, and the new worker sends
 * Bedrock requests only for the tests still missing.
 */
import { BedrockRuntime, Domain, Queue, RegionGovernor, Registry, Runner, Storage, Worker } from "@myia/certification"
import { BedrockEmulator } from "@myia/certification/emulator"
import { Fixtures } from "@myia/certification/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { MemoryQueue, MemoryStorage } from "../src/index.ts"

const healthy = "amazon.nova-lite-v1:0" as Domain.ModelId
const east = Schema.decodeSync(Domain.Region)("us-east-1")
const fast = { maxAttempts: 4, backoffBaseMillis: 1, backoffMaxMillis: 5, throttleBudgetMillis: 1_000, testConcurrency: 3 }

describe("Worker resumes a redelivered unit (issue 16)", () => {
  it.live("a unit whose worker died after some tests runs only the missing ones and keeps the stored results", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.make({ scenario: { seed: 5, rules: [] } })
      const runtime = BedrockRuntime.layer({
        endpoint: emulator.url,
        credentials: { accessKeyId: "AKIDRESUMETEST", secretAccessKey: "resume-secret" }
      })
      const bedrock = Layer.mergeAll(runtime, Registry.layer, RegionGovernor.layer({ failureThreshold: 50 }))
      // What a whole run sends and decides, for comparison.
      const decided: Array<Domain.TestResult> = []
      const full = yield* Runner.runUnit({ modelId: healthy, region: east }, {
        onResult: (_target, result) => Effect.sync(() => decided.push(result))
      }).pipe(Effect.provide(bedrock), Effect.provideService(Runner.RunnerConfig, fast))
      const fullRequests = emulator.requests().length
      assert.isAbove(decided.length, 3)

      const infra = Layer.mergeAll(MemoryStorage.layer, MemoryQueue.layer())
      yield* Effect.gen(function*() {
        const storage = yield* Storage.Storage
        const queue = yield* Queue.Queue
        const job = Fixtures.makeJob({ modelIds: [healthy], regions: [east] })
        const [unit] = Fixtures.makeUnits(job)
        yield* storage.createJob(job, [unit!])
        yield* storage.markQueued([unit!.id])
        yield* storage.transitionJob(job.id, { from: ["PENDING"], to: "QUEUED" })
        yield* storage.transitionJob(job.id, { from: ["QUEUED"], to: "PROCESSING" })
        // The dead worker's claim: it stored the first half of the tests, then vanished.
        const kept = decided.slice(0, Math.ceil(decided.length / 2))
        Option.getOrThrow(yield* storage.claimUnit(unit!.id, "dead-worker"))
        assert.isTrue(yield* storage.saveProgress(unit!.id, "dead-worker", { invocationTarget: full.invocationTarget, tests: kept }))

        const before = emulator.requests().length
        yield* queue.enqueue([new Queue.UnitMessage({ unitId: unit!.id, jobId: job.id, modelId: healthy, region: east })])
        yield* Worker.run({ concurrency: 1 }).pipe(Effect.forkScoped)
        let done = Option.none<Domain.Unit>()
        for (let i = 0; i < 300 && Option.isNone(done); i++) {
          yield* Effect.sleep("50 millis")
          done = Option.filter(yield* storage.getUnit(unit!.id), (u) => Domain.verdictOf(u) !== null)
        }
        const finished = Option.getOrThrow(done)
        assert.strictEqual(finished.status, "CERTIFIED")
        const resumedRequests = emulator.requests().length - before
        assert.isAbove(resumedRequests, 0)
        assert.isAtMost(resumedRequests, fullRequests - kept.length)
        // The stored results are the ones in the verdict, unchanged; the rest were run now.
        const byId = new Map(finished.tests.map((t) => [t.id, t]))
        for (const t of kept) assert.deepStrictEqual(JSON.parse(JSON.stringify(byId.get(t.id))), JSON.parse(JSON.stringify(t)))
        assert.deepStrictEqual([...byId.keys()].sort(), full.tests.map((t) => t.id).sort())
        assert.strictEqual(finished.attempts, 2)
      }).pipe(Effect.provide(Layer.mergeAll(infra, bedrock)), Effect.provideService(Runner.RunnerConfig, fast))
    }).pipe(Effect.scoped))
})
