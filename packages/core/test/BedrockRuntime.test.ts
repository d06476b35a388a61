import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as BedrockRuntime from "../src/BedrockRuntime.ts"
import type { ErrorCategory } from "../src/Domain.ts"
import { Region } from "../src/Region.ts"
import * as BedrockEmulator from "../src/emulator/BedrockEmulator.ts"

// HTTP/2 is the SDK's default handler on Node; HTTP/1.1 is what many hosts configure.
const handlers = ["http2", "http1"] as const

const east = Schema.decodeSync(Region)("us-east-1")
const ireland = Schema.decodeSync(Region)("eu-west-1")

const fast = { ttftMs: { min: 1, max: 3 }, tokensPerSecond: 5000 }

const scenario = {
  seed: 7,
  registry: "none" as const,
  defaults: { availability: "offered" as const, latency: fast },
  rules: [
    { models: "acme.chat-v1:0" },
    { models: "acme.embed-v1:0" },
    { models: "acme.denied-v1:0", availability: "access-denied" as const },
    { models: "acme.profile-only-v1:0", availability: "profile-only" as const },
    { models: "acme.throttled-v1:0", throttle: { requestsPerSecond: 0.001, burst: 1 } },
    { models: "acme.down-v1:0", errorRate5xx: 1 },
    { models: "acme.hang-v1:0", timeoutRate: 1 },
    {
      models: "acme.broken-stream-v1:0",
      quality: "broken-stream" as const,
      streamBreakAfterDeltas: 1,
      streamBreakException: "throttlingException" as const
    },
    { models: "acme.slow-stream-v1:0", latency: { ttftMs: { min: 1, max: 2 }, tokensPerSecond: 2 } }
  ]
}

const story = "Write a long story about the sea."

const credentials = { accessKeyId: "AKIDEXAMPLEKEY", secretAccessKey: "s3cr3t-never-printed" }
const invalidCredentials = { accessKeyId: "AKIDINVALIDKEY", secretAccessKey: "an0ther-s3cr3t-never-printed" }

const ask = (modelId: string, text = "What is 2 + 3? Answer with the number only.") => ({
  modelId,
  messages: [{ role: "user" as const, content: [{ text }] }],
  inferenceConfig: { maxTokens: 64, temperature: 0 }
})

/** An emulator and a runtime pointed at it, both closed with the test's scope. */
const setupWith = (options: Partial<BedrockRuntime.Options>) =>
  Effect.gen(function*() {
    const emulator = yield* BedrockEmulator.make({ scenario })
    const runtime = yield* BedrockRuntime.make({ endpoint: emulator.url, credentials, ...options })
    return { emulator, runtime }
  })

/** Waits (real time, bounded) until the condition holds; fails the test otherwise. */
const eventually = (label: string, condition: () => boolean, within: Duration.Input = "1 second") =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(within)
    while (!condition()) {
      if (Date.now() > deadline) {
        return assert.fail(`not within ${Duration.format(Duration.fromInputUnsafe(within))}: ${label}`)
      }
      yield* Effect.sleep("10 millis")
    }
  })

const failureOf = <A>(effect: Effect.Effect<A, BedrockRuntime.BedrockError>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) return assert.fail("expected a BedrockError, got a success")
    const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
    if (error === undefined || error._tag !== "Fail") {
      return assert.fail(`expected a failure, got ${String(exit.cause)}`)
    }
    assert.instanceOf(error.error, BedrockRuntime.BedrockError)
    return error.error
  })

describe.each(handlers)("BedrockRuntime over %s", (requestHandler) => {
  const setup = (options: Partial<BedrockRuntime.Options> = {}) => setupWith({ requestHandler, ...options })

  it.live("converse round-trips through the real SDK and the region reaches the server", () =>
    Effect.gen(function*() {
      const { emulator, runtime } = yield* setup()
      const output = yield* runtime.converse(ireland, ask("acme.chat-v1:0"))
      const text = output.output?.message?.content?.[0]?.text
      assert.strictEqual(text?.trim(), "5")
      assert.isString(output.$metadata.requestId)
      const requests = emulator.requests()
      assert.strictEqual(requests.length, 1)
      assert.strictEqual(requests[0]!.region, "eu-west-1")
      assert.strictEqual(requests[0]!.modelId, "acme.chat-v1:0")
    }))

  it.live("converseStream emits the SDK's events in order", () =>
    Effect.gen(function*() {
      const { emulator, runtime } = yield* setup()
      const events = yield* Stream.runCollect(runtime.converseStream(east, ask("acme.chat-v1:0")))
      const kinds = events.map((event) => Object.keys(event).find((key) => key !== "$unknown"))
      assert.strictEqual(kinds[0], "messageStart")
      assert.include(kinds, "contentBlockDelta")
      assert.strictEqual(kinds.at(-1), "metadata")
      const text = events.flatMap((event) => event.contentBlockDelta?.delta?.text ?? []).join("")
      assert.strictEqual(text.trim(), "5")
      assert.strictEqual(emulator.requests()[0]!.region, "us-east-1")
    }))

  it.live("invokeModel sends a JSON body and parses the JSON answer", () =>
    Effect.gen(function*() {
      const { runtime } = yield* setup()
      const output = yield* runtime.invokeModel(east, {
        modelId: "acme.embed-v1:0",
        body: { inputText: "hello world", dimensions: 256 }
      })
      const body = output.body as { readonly embedding: ReadonlyArray<number> }
      assert.strictEqual(body.embedding.length, 256)
      assert.isTrue(body.embedding.every(Number.isFinite))
      assert.isString(output.requestId)
      assert.match(output.contentType ?? "", /json/)
    }))

  it.live("interrupting a call aborts its HTTP request within a second", () =>
    Effect.gen(function*() {
      const { emulator, runtime } = yield* setup()
      const fiber = yield* Effect.forkChild(runtime.converse(east, ask("acme.hang-v1:0")))
      yield* eventually("the request reaches the server", () => emulator.activeRequests() === 1)
      yield* Fiber.interrupt(fiber)
      yield* eventually("the server sees the request closed", () => emulator.activeRequests() === 0)
      assert.isTrue(emulator.requests()[0]!.closedByClient)
    }))
})

describe.each(handlers)("BedrockRuntime failures over %s", (requestHandler) => {
  const setup = (options: Partial<BedrockRuntime.Options> = {}) => setupWith({ requestHandler, ...options })

  const categoryCases: ReadonlyArray<{
    readonly name: string
    readonly modelId: string
    readonly category: ErrorCategory
    readonly warmUp?: boolean
  }> = [
    { name: "access denied", modelId: "acme.denied-v1:0", category: "ACCESS_DENIED" },
    {
      name: "profile-only model called by its base id",
      modelId: "acme.profile-only-v1:0",
      category: "REQUIRES_INFERENCE_PROFILE"
    },
    { name: "throttled", modelId: "acme.throttled-v1:0", category: "THROTTLED", warmUp: true },
    { name: "5xx", modelId: "acme.down-v1:0", category: "SERVICE_UNAVAILABLE" }
  ]

  for (const row of categoryCases) {
    it.live(`${row.name} surfaces as a BedrockError of category ${row.category}, after exactly one request`, () =>
      Effect.gen(function*() {
        const { emulator, runtime } = yield* setup()
        if (row.warmUp === true) yield* runtime.converse(east, ask(row.modelId))
        const before = emulator.requests().length
        const error = yield* failureOf(runtime.converse(east, ask(row.modelId)))
        assert.strictEqual(error.error.category, row.category)
        assert.strictEqual(error.operation, "Converse")
        assert.strictEqual(error.region, "us-east-1")
        assert.strictEqual(error.modelId, row.modelId)
        assert.strictEqual(error.isRetryable, error.error.retryable)
        assert.strictEqual(emulator.requests().length - before, 1, "the SDK must not retry")
      }))
  }

  it.live("a profile-only model answers through its inference profile", () =>
    Effect.gen(function*() {
      const { runtime } = yield* setup()
      const output = yield* runtime.converse(east, ask("us.acme.profile-only-v1:0"))
      assert.strictEqual(output.output?.message?.content?.[0]?.text?.trim(), "5")
    }))

  it.live("a mid-stream exception fails the stream with a BedrockError after the first events", () =>
    Effect.gen(function*() {
      const { runtime } = yield* setup()
      const seen: Array<string> = []
      const error = yield* failureOf(
        Stream.runForEach(
          runtime.converseStream(east, ask("acme.broken-stream-v1:0")),
          (event) => Effect.sync(() => seen.push(Object.keys(event)[0]!))
        )
      )
      assert.strictEqual(seen[0], "messageStart")
      assert.strictEqual(error.operation, "ConverseStream")
      assert.strictEqual(error.error.category, "THROTTLED")
      assert.strictEqual(error.error.awsErrorName, "ThrottlingException")
    }))

  it.live("invalid credentials surface as CREDENTIALS and no secret appears in the error", () =>
    Effect.gen(function*() {
      const { runtime } = yield* setup({ credentials: invalidCredentials })
      const error = yield* failureOf(runtime.converse(east, ask("acme.chat-v1:0")))
      assert.strictEqual(error.error.category, "CREDENTIALS")
      const rendered = [JSON.stringify(error), error.message, String(error), JSON.stringify(error.error)].join("\n")
      for (const secret of [invalidCredentials.accessKeyId, invalidCredentials.secretAccessKey]) {
        assert.notInclude(rendered, secret)
      }
    }))

  it.live("a credentials provider function is used and its secrets stay out of errors", () =>
    Effect.gen(function*() {
      let calls = 0
      const { emulator, runtime } = yield* setup({
        credentials: () => {
          calls++
          return Promise.resolve(invalidCredentials)
        }
      })
      const error = yield* failureOf(runtime.converse(east, ask("acme.chat-v1:0")))
      assert.isAbove(calls, 0)
      assert.strictEqual(emulator.requests().length, 1)
      assert.notInclude(JSON.stringify(error) + error.message, invalidCredentials.secretAccessKey)
    }))

  it.live("a failing credentials provider becomes a BedrockError that does not repeat the access key", () =>
    Effect.gen(function*() {
      const leakyKey = "AKIAIOSFODNN7EXAMPLE"
      const { emulator, runtime } = yield* setup({
        credentials: () => Promise.reject(new Error(`could not refresh credentials for ${leakyKey}`))
      })
      const error = yield* failureOf(runtime.converse(east, ask("acme.chat-v1:0")))
      assert.strictEqual(emulator.requests().length, 0)
      assert.include(error.error.message, "could not refresh credentials")
      assert.notInclude(JSON.stringify(error) + error.message, leakyKey)
    }))

  it.live("a per-call timeout fails with TIMEOUT and closes the request server-side", () =>
    Effect.gen(function*() {
      const { emulator, runtime } = yield* setup()
      const error = yield* failureOf(runtime.converse(east, ask("acme.hang-v1:0"), { timeout: "200 millis" }))
      assert.strictEqual(error.error.category, "TIMEOUT")
      assert.isTrue(error.isRetryable)
      yield* eventually("the server sees the request closed", () => emulator.activeRequests() === 0)
      assert.isTrue(emulator.requests()[0]!.closedByClient)
    }))

  it.live("the configured default timeout applies when a call gives none", () =>
    Effect.gen(function*() {
      const { runtime } = yield* setup({ timeout: "150 millis" })
      const error = yield* failureOf(runtime.invokeModel(east, { modelId: "acme.hang-v1:0", body: { inputText: "x" } }))
      assert.strictEqual(error.error.category, "TIMEOUT")
      assert.strictEqual(error.operation, "InvokeModel")
    }))

  it.live("stopping a stream consumer early aborts the streaming request", () =>
    Effect.gen(function*() {
      const { emulator, runtime } = yield* setup()
      const first = yield* Stream.runCollect(
        runtime.converseStream(east, ask("acme.slow-stream-v1:0", story)).pipe(Stream.take(1))
      )
      assert.strictEqual(first.length, 1)
      yield* eventually("the server sees the stream closed", () => emulator.activeRequests() === 0)
      assert.isTrue(emulator.requests()[0]!.closedByClient)
    }))

  it.live("a stream that outlives its timeout fails with TIMEOUT", () =>
    Effect.gen(function*() {
      const { emulator, runtime } = yield* setup()
      const error = yield* failureOf(
        Stream.runDrain(runtime.converseStream(east, ask("acme.slow-stream-v1:0", story), {
          timeout: "300 millis"
        }))
      )
      assert.strictEqual(error.error.category, "TIMEOUT")
      assert.strictEqual(error.operation, "ConverseStream")
      yield* eventually("the server sees the stream closed", () => emulator.activeRequests() === 0)
    }))

  it.live("a stream whose response never starts times out with TIMEOUT and closes the request", () =>
    Effect.gen(function*() {
      const { emulator, runtime } = yield* setup()
      const error = yield* failureOf(
        Stream.runDrain(runtime.converseStream(east, ask("acme.hang-v1:0"), { timeout: "200 millis" }))
      )
      assert.strictEqual(error.error.category, "TIMEOUT")
      yield* eventually("the server sees the request closed", () => emulator.activeRequests() === 0)
      assert.isTrue(emulator.requests()[0]!.closedByClient)
    }))

  it.live("a body that cannot be serialised fails invokeModel with a BedrockError before any request", () =>
    Effect.gen(function*() {
      const { emulator, runtime } = yield* setup()
      const error = yield* failureOf(runtime.invokeModel(east, { modelId: "acme.embed-v1:0", body: { n: 1n } }))
      assert.strictEqual(error.operation, "InvokeModel")
      assert.strictEqual(emulator.requests().length, 0)
    }))
})

describe("BedrockRuntime configuration", () => {
  it.live("layerConfig reads BEDROCK_ENDPOINT and CERTIFICATION_TIMEOUT (ms)", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.make({ scenario })
      const env = ConfigProvider.fromEnvRecord({ BEDROCK_ENDPOINT: emulator.url, CERTIFICATION_TIMEOUT: "150" })
      const layer = BedrockRuntime.layerConfig({ credentials }).pipe(Layer.provide(ConfigProvider.layer(env)))
      const [answer, error] = yield* Effect.gen(function*() {
        const runtime = yield* BedrockRuntime.BedrockRuntime
        const answer = yield* runtime.converse(east, ask("acme.chat-v1:0"))
        const error = yield* failureOf(runtime.converse(east, ask("acme.hang-v1:0")))
        return [answer, error] as const
      }).pipe(Effect.provide(layer))
      assert.strictEqual(answer.output?.message?.content?.[0]?.text?.trim(), "5")
      assert.strictEqual(error.error.category, "TIMEOUT")
      assert.strictEqual(emulator.requests()[0]!.modelId, "acme.chat-v1:0")
    }))

  it.live("without explicit credentials the AWS default provider chain is used (environment keys)", () =>
    Effect.gen(function*() {
      const keys = { AWS_ACCESS_KEY_ID: "AKIDINVALIDFROMENV", AWS_SECRET_ACCESS_KEY: "env-s3cr3t-never-printed" }
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const saved = { ...process.env }
          Object.assign(process.env, keys)
          delete process.env.AWS_PROFILE
          delete process.env.AWS_SESSION_TOKEN
          return saved
        }),
        (saved) =>
          Effect.sync(() => {
            for (const key of Object.keys(keys)) delete process.env[key]
            Object.assign(process.env, saved)
          })
      )
      const { emulator, runtime } = yield* setupWith({ credentials: undefined })
      const error = yield* failureOf(runtime.converse(east, ask("acme.chat-v1:0")))
      assert.strictEqual(emulator.requests().length, 1)
      assert.strictEqual(error.error.category, "CREDENTIALS", "the emulator rejected the key from the environment")
      assert.notInclude(JSON.stringify(error) + error.message, keys.AWS_SECRET_ACCESS_KEY)
    }))
})
