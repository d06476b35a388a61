/**
 * Traces (issue 18): a job run with an in-memory span exporter (a tracer that keeps every span)
 * makes the tree job creation → unit → test → Bedrock call, with the unit continuing the creating
 * request's trace through the queue payload's `traceparent`, and the attributes an operator filters
 * on: region, model, operation, invocation target, attempt, throttled, error category.
 */
import { assert, describe, it } from "@effect/vitest"
import { Certification, CertificationClient } from "@myia/certification"
import { BedrockEmulator } from "@myia/certification/emulator"
import { Fixtures } from "@myia/certification/testing"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Tracer from "effect/Tracer"
import { emulatorCredentials, testInstant } from "./support.ts"

/** Keeps every span the program starts: the in-memory exporter of these tests. */
const inMemoryTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, layer: Layer.succeed(Tracer.Tracer, tracer) }
}

const parentId = (span: Tracer.NativeSpan) => Option.getOrUndefined(Option.map(span.parent, (p) => p.spanId))

describe("traces", () => {
  it.live("a job's spans make the tree job creation → unit → test → Bedrock call, with their attributes", () =>
    Effect.gen(function*() {
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() => BedrockEmulator.start({ port: 0, scenario: { seed: 3, rules: [] } })),
        (e) => Effect.promise(() => e.close())
      )
      const exporter = inMemoryTracer()
      const engine = CertificationClient.layer({
        storage: MemoryStorage.layer,
        queue: MemoryQueue.layer(),
        bedrock: { endpoint: emulator.url, credentials: emulatorCredentials() },
        logLevel: "None",
        clock: Fixtures.clockAt(testInstant)
      }).pipe(Layer.provide(exporter.layer))

      const jobId = yield* Effect.gen(function*() {
        const service = yield* Certification.Certification
        const created = yield* service.certifyModel({ modelId: "amazon.nova-lite-v1:0", region: "us-east-1" }).pipe(
          Effect.withSpan("http.request POST /certify-model")
        )
        yield* service.getJob(created.jobId).pipe(
          Effect.filterOrFail((d) => d.job.status === "COMPLETED", () => new Error("not yet")),
          Effect.retry(Schedule.spaced("100 millis")),
          Effect.timeout("60 seconds")
        )
        return created.jobId
      }).pipe(Effect.provide(engine), Effect.provide(exporter.layer))

      const spans = exporter.spans
      const named = (name: string) => spans.filter((s) => s.name === name)
      const [request] = named("http.request POST /certify-model")
      const [creation] = named("Certification.certifyModel")
      assert.isDefined(request)
      assert.isDefined(creation)
      assert.strictEqual(parentId(creation!), request!.spanId, "job creation runs under the request")

      const units = named("Worker.unit")
      assert.strictEqual(units.length, 1)
      const unit = units[0]!
      assert.strictEqual(unit.traceId, request!.traceId, "the unit continues the creating request's trace")
      assert.strictEqual(parentId(unit), creation!.spanId, "through the traceparent enqueued by job creation")
      assert.strictEqual(unit.attributes.get("region"), "us-east-1")
      assert.strictEqual(unit.attributes.get("modelId"), "amazon.nova-lite-v1:0")
      assert.strictEqual(unit.attributes.get("certification.job_id"), jobId)
      assert.strictEqual(unit.attributes.get("certification.attempt"), 1)

      // Every span of the unit's trace hangs off the unit: test spans under it, Bedrock calls under the tests.
      const byId = new Map(spans.map((s) => [s.spanId, s]))
      const ancestors = (span: Tracer.NativeSpan) => {
        const out: Array<string> = []
        for (let p = parentId(span); p !== undefined; p = parentId(byId.get(p)!)) out.push(byId.get(p)?.name ?? "?")
        return out
      }
      const tests = named("Runner.test")
      assert.isAbove(tests.length, 1)
      for (const test of tests) {
        assert.include(ancestors(test), "Worker.unit")
        assert.strictEqual(test.attributes.get("bedrock.region"), "us-east-1")
        assert.strictEqual(test.attributes.get("certification.model_id"), "amazon.nova-lite-v1:0")
        assert.isString(test.attributes.get("bedrock.invocation_target"))
        assert.isString(test.attributes.get("certification.test_id"))
        assert.isNumber(test.attributes.get("certification.attempt"))
      }
      const calls = spans.filter((s) => s.name.startsWith("BedrockRuntime."))
      assert.isAbove(calls.length, 1)
      for (const call of calls) {
        assert.strictEqual(ancestors(call)[0], "Runner.test", `${call.name} runs under a test`)
        assert.includeMembers(ancestors(call), ["Runner.test", "Worker.unit", "Certification.certifyModel"])
        assert.strictEqual(call.traceId, request!.traceId)
        assert.strictEqual(call.attributes.get("bedrock.region"), "us-east-1")
        assert.strictEqual(call.attributes.get("certification.model_id"), "amazon.nova-lite-v1:0")
        assert.isString(call.attributes.get("bedrock.operation"))
        assert.isString(call.attributes.get("bedrock.invocation_target"))
        assert.strictEqual(call.attributes.get("bedrock.throttled"), false)
        assert.strictEqual(call.status._tag, "Ended")
      }
      const operations = new Set(calls.map((c) => c.attributes.get("bedrock.operation")))
      assert.isTrue(operations.has("ConverseStream") || operations.has("Converse"))
      const unary = calls.filter((c) => c.name !== "BedrockRuntime.converseStream")
      assert.isTrue(unary.every((c) => typeof c.attributes.get("bedrock.attempt") === "number"))
    }).pipe(Effect.scoped))

  it.live("a failed call's span names its error category", () =>
    Effect.gen(function*() {
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() => BedrockEmulator.start({ port: 0, scenario: { seed: 3, rules: [] } })),
        (e) => Effect.promise(() => e.close())
      )
      const exporter = inMemoryTracer()
      const engine = CertificationClient.layer({
        storage: MemoryStorage.layer,
        queue: MemoryQueue.layer(),
        // The emulator refuses this key id with UnrecognizedClientException.
        bedrock: { endpoint: emulator.url, credentials: emulatorCredentials("AKIDINVALIDKEY") },
        logLevel: "None",
        clock: Fixtures.clockAt(testInstant)
      }).pipe(Layer.provide(exporter.layer))
      yield* Effect.gen(function*() {
        const service = yield* Certification.Certification
        const created = yield* service.certifyModel({ modelId: "amazon.nova-lite-v1:0", region: "us-east-1" })
        yield* service.getJob(created.jobId).pipe(
          Effect.filterOrFail((d) => ["COMPLETED", "FAILED"].includes(d.job.status), () => new Error("not yet")),
          Effect.retry(Schedule.spaced("100 millis")),
          Effect.timeout("60 seconds")
        )
      }).pipe(Effect.provide(engine), Effect.provide(exporter.layer))
      const failed = exporter.spans.filter((s) => s.name.startsWith("BedrockRuntime.") && s.attributes.has("error.category"))
      assert.isAbove(failed.length, 0)
      assert.isString(failed[0]!.attributes.get("error.category"))
      assert.strictEqual(failed[0]!.attributes.get("bedrock.throttled"), false)
    }).pipe(Effect.scoped))
})
