/**
 * The emulator reads wall time (the `Date` header, the request log's `at`) from an Effect `Clock`:
 * a pinned clock given to `start`, or the `TestClock` in context for `make`.
 */
import { BedrockRuntimeClient, ConverseCommand } from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import * as BedrockEmulator from "../../src/emulator/BedrockEmulator.ts"

const scenario = {
  timeScale: 0,
  registry: "none",
  rules: [{ models: "clock.model-v1", availability: "offered" }]
} as const

const pinned = (millis: number): Clock.Clock => ({
  currentTimeMillisUnsafe: () => millis,
  currentTimeMillis: Effect.succeed(millis),
  currentTimeNanosUnsafe: () => BigInt(millis) * 1_000_000n,
  currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
  monotonicTimeNanosUnsafe: () => 0n,
  monotonicTimeNanos: Effect.succeed(0n),
  sleep: () => Effect.void
})

/** Call Converse through the real SDK and return the response's `Date` header. */
const dateHeaderOf = async (url: string): Promise<string | undefined> => {
  const client = new BedrockRuntimeClient({
    region: "us-east-1",
    endpoint: url,
    credentials: { accessKeyId: "AKIDCLOCK", secretAccessKey: "x" }
  })
  let date: string | undefined
  client.middlewareStack.add((next) => async (args) => {
    const out = await next(args)
    date = (out.response as { headers: Record<string, string> }).headers["date"]
    return out
  }, { step: "deserialize", name: "captureDateHeader" })
  const answer = await client.send(new ConverseCommand({
    modelId: "clock.model-v1",
    messages: [{ role: "user", content: [{ text: "What is 1 + 1?" }] }]
  }))
  assert.deepStrictEqual(answer.output?.message?.content, [{ text: "2" }])
  return date
}

const logged = async (handle: BedrockEmulator.EmulatorHandle): Promise<BedrockEmulator.RequestRecord> => {
  for (let i = 0; i < 500 && handle.requests().length === 0; i++) await new Promise((r) => setTimeout(r, 10))
  return handle.requests()[0] ?? assert.fail("the request was never logged")
}

describe("emulator wall time", () => {
  it("start with a pinned clock: the Date header and the log's at are the clock's time", async () => {
    const at = Date.UTC(2030, 5, 15, 12, 34, 56)
    const handle = await BedrockEmulator.start({ scenario, clock: pinned(at) })
    try {
      assert.strictEqual(await dateHeaderOf(handle.url), "Sat, 15 Jun 2030 12:34:56 GMT")
      assert.strictEqual((await logged(handle)).at, at)
    } finally {
      await handle.close()
    }
  })

  it.effect("make reads the TestClock in context", () =>
    Effect.gen(function*() {
      const at = Date.UTC(2041, 0, 2, 3, 4, 5)
      yield* TestClock.setTime(at)
      const handle = yield* BedrockEmulator.make({ scenario })
      const date = yield* Effect.promise(() => dateHeaderOf(handle.url))
      assert.strictEqual(date, "Wed, 02 Jan 2041 03:04:05 GMT")
      const record = yield* Effect.promise(() => logged(handle))
      assert.strictEqual(record.at, at)
    }).pipe(Effect.scoped))

  it.effect("an explicit clock option wins over the Clock in context", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2041, 0, 2))
      const at = Date.UTC(2035, 2, 3, 4, 5, 6)
      const handle = yield* BedrockEmulator.make({ scenario, clock: pinned(at) })
      const record = yield* Effect.promise(() => dateHeaderOf(handle.url).then(() => logged(handle)))
      assert.strictEqual(record.at, at)
    }).pipe(Effect.scoped))
})
