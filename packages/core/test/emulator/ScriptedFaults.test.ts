/**
 * The scripted-fault knobs of a scenario rule — `errors` (HTTP or mid-stream), `connectionReset` and
 * `contentFilter` — each driven through the real AWS SDK client over real sockets.
 */
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandInput,
  ConverseStreamCommand,
  type ConverseStreamOutput,
  InternalServerException,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ModelErrorException,
  ModelNotReadyException,
  ModelStreamErrorException,
  ModelTimeoutException,
  ResourceNotFoundException,
  ServiceQuotaExceededException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException
} from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { afterAll, beforeAll } from "vitest"
import * as BedrockEmulator from "../../src/emulator/BedrockEmulator.ts"
import * as Scenario from "../../src/emulator/Scenario.ts"

type ErrorClass = new(...args: Array<any>) => Error

/** Every modeled runtime error a test may script, with Bedrock's status for it. */
const httpErrors: ReadonlyArray<{ readonly cls: ErrorClass; readonly name: string; readonly status: number }> = [
  { cls: ServiceQuotaExceededException, name: "ServiceQuotaExceededException", status: 400 },
  { cls: ModelErrorException, name: "ModelErrorException", status: 424 },
  { cls: ValidationException, name: "ValidationException", status: 400 },
  { cls: ModelTimeoutException, name: "ModelTimeoutException", status: 408 },
  { cls: ModelNotReadyException, name: "ModelNotReadyException", status: 429 },
  { cls: InternalServerException, name: "InternalServerException", status: 500 },
  { cls: ServiceUnavailableException, name: "ServiceUnavailableException", status: 503 },
  { cls: ThrottlingException, name: "ThrottlingException", status: 429 },
  { cls: AccessDeniedException, name: "AccessDeniedException", status: 403 },
  { cls: ResourceNotFoundException, name: "ResourceNotFoundException", status: 404 }
]

/** The exceptions ConverseStream models inside its event stream. */
const streamErrors: ReadonlyArray<{ readonly cls: ErrorClass; readonly name: string }> = [
  { cls: ModelStreamErrorException, name: "ModelStreamErrorException" },
  { cls: ThrottlingException, name: "ThrottlingException" },
  { cls: InternalServerException, name: "InternalServerException" },
  { cls: ServiceUnavailableException, name: "ServiceUnavailableException" },
  { cls: ValidationException, name: "ValidationException" }
]

const messageOf = (name: string) => `scripted ${name} for the test`

const scenario: Scenario.ScenarioInput = {
  seed: 5,
  timeScale: 0,
  registry: "none",
  rules: [
    ...httpErrors.map((e) => ({
      models: `http.${e.name}`,
      availability: "offered" as const,
      errors: [{ name: e.name, status: e.status, message: messageOf(e.name) }]
    })),
    ...streamErrors.map((e) => ({
      models: `mid.${e.name}`,
      availability: "offered" as const,
      errors: [{ name: e.name, status: 500, message: messageOf(e.name), midStream: true }]
    })),
    {
      models: "mid.after-three",
      streamBreakAfterDeltas: 3,
      errors: [{ name: "ModelStreamErrorException", status: 424, message: "after three", midStream: true }]
    },
    {
      models: "mid.invoke-timeout",
      errors: [{ name: "ModelTimeoutException", status: 408, message: "the model timed out", midStream: true }]
    },
    {
      models: "order.first-wins",
      errors: [
        { name: "ModelErrorException", status: 424, message: "never drawn", rate: 0 },
        { name: "ServiceQuotaExceededException", status: 400, message: "first drawn" },
        { name: "ThrottlingException", status: 429, message: "also drawn, but second" }
      ]
    },
    { models: "reset.always", connectionReset: 1 },
    { models: "slow.ok", latency: { ttftMs: { min: 300, max: 300 }, tokensPerSecond: 1000 } },
    { models: "filter.guardrail", contentFilter: { stopReason: "guardrail_intervened" } },
    { models: "filter.content", contentFilter: { stopReason: "content_filtered", message: "[filtered]" } },
    { models: "filter.never", contentFilter: { stopReason: "content_filtered", rate: 0 } },
    { models: "model.timeout", modelTimeout: {} },
    { models: "model.not-ready", modelNotReady: { rate: 1 } },
    { models: "model.timeout-mid", modelTimeout: { midStream: true } },
    { models: "model.not-ready-mid", modelNotReady: { midStream: true } },
    { models: "model.both", modelNotReady: { rate: 0 }, modelTimeout: { rate: 1 } },
    {
      models: "model.scripted-first",
      errors: [{ name: "ServiceQuotaExceededException", status: 400, message: "quota first" }],
      modelTimeout: {}
    }
  ]
}

const credentials = { accessKeyId: "AKIDSCRIPTED", secretAccessKey: "not-a-secret" }

let emulator: BedrockEmulator.EmulatorHandle

beforeAll(async () => {
  emulator = await BedrockEmulator.start({ scenario })
})
afterAll(async () => {
  await emulator.close()
})

const runtime = (options: { readonly http1?: boolean; readonly url?: string } = {}) =>
  new BedrockRuntimeClient({
    region: "us-east-1",
    endpoint: options.url ?? emulator.url,
    credentials,
    maxAttempts: 1,
    ...(options.http1 === true ? { requestHandler: new NodeHttpHandler() } : {})
  })

const ask = (modelId: string, text = "Repeat exactly: one two three four five six seven eight nine ten") =>
  ({ modelId, messages: [{ role: "user", content: [{ text }] }] }) satisfies ConverseCommandInput

const failure = async (promise: Promise<unknown>): Promise<any> => {
  const result = await promise.then(() => undefined, (error: unknown) => ({ error }))
  if (result === undefined) return assert.fail("expected the call to fail")
  return result.error
}

/** Read a stream to its end or its error; the events received either way. */
const drain = async (stream: AsyncIterable<ConverseStreamOutput>) => {
  const events: Array<ConverseStreamOutput> = []
  const error = await (async () => {
    for await (const event of stream) events.push(event)
  })().then(() => undefined, (e: unknown) => e as any)
  return { events, error }
}

/** The log record a predicate picks, once the emulator has logged it (a record is written when the exchange closes). */
const logged = async (
  pick: (r: BedrockEmulator.RequestRecord, index: number) => boolean
): Promise<BedrockEmulator.RequestRecord> => {
  for (let i = 0; i < 500; i++) {
    const record = emulator.requests().findLast(pick)
    if (record !== undefined) return record
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return assert.fail("the request was never logged")
}

describe("errors: scripted HTTP errors", () => {
  for (const e of httpErrors) {
    it(`${e.name}: Converse, ConverseStream and InvokeModel get the SDK's class with status ${e.status}`, async () => {
      const client = runtime()
      const modelId = `http.${e.name}`
      const calls = [
        () => client.send(new ConverseCommand(ask(modelId))),
        () => client.send(new ConverseStreamCommand(ask(modelId))),
        () => client.send(new InvokeModelCommand({ modelId, body: JSON.stringify({ messages: [] }) }))
      ]
      for (const call of calls) {
        const error = await failure(call())
        const metadata = error.$metadata
        assert.instanceOf(error, e.cls)
        assert.strictEqual(error.name, e.name)
        assert.strictEqual(error.message, messageOf(e.name))
        assert.strictEqual(metadata.httpStatusCode, e.status)
        assert.strictEqual((await logged((r) => r.requestId === metadata.requestId)).errorName, e.name)
      }
    })
  }

  it("the first entry drawn answers; an entry with rate 0 is never drawn", async () => {
    const error = await failure(runtime().send(new ConverseCommand(ask("order.first-wins"))))
    assert.instanceOf(error, ServiceQuotaExceededException)
    assert.strictEqual(error.message, "first drawn")
  })
})

describe("errors: scripted mid-stream exception frames", () => {
  for (const e of streamErrors) {
    it(`${e.name}: ConverseStream streams deltas, then the iterator throws ${e.cls.name}`, async () => {
      const out = await runtime().send(new ConverseStreamCommand(ask(`mid.${e.name}`)))
      assert.strictEqual(out.$metadata.httpStatusCode, 200)
      const { error, events } = await drain(out.stream!)
      assert.instanceOf(error, e.cls)
      assert.strictEqual(error.message, messageOf(e.name))
      assert.isAtLeast(events.filter((ev) => ev.contentBlockDelta !== undefined).length, 1)
      assert.isUndefined(events.find((ev) => ev.messageStop !== undefined))
    })
  }

  it("a mid-stream error breaks after streamBreakAfterDeltas deltas when the rule sets it", async () => {
    const out = await runtime().send(new ConverseStreamCommand(ask("mid.after-three")))
    const { error, events } = await drain(out.stream!)
    assert.instanceOf(error, ModelStreamErrorException)
    assert.strictEqual(events.filter((ev) => ev.contentBlockDelta !== undefined).length, 3)
  })

  it("a non-streaming Converse to the same model ignores the mid-stream entry and answers", async () => {
    const out = await runtime().send(new ConverseCommand(ask("mid.ModelStreamErrorException", "What is 2 + 2?")))
    assert.strictEqual(out.stopReason, "end_turn")
    assert.deepStrictEqual(out.output?.message?.content, [{ text: "4" }])
  })

  it("InvokeModelWithResponseStream: native chunks, then the scripted ModelTimeoutException mid-way", async () => {
    const body = JSON.stringify({ messages: [{ role: "user", content: "Repeat exactly: one two three four five" }] })
    const chunks: Array<unknown> = []
    const error = await failure((async () => {
      const command = new InvokeModelWithResponseStreamCommand({ modelId: "mid.invoke-timeout", body })
      const out = await runtime().send(command)
      assert.strictEqual(out.$metadata.httpStatusCode, 200)
      for await (const chunk of out.body!) chunks.push(chunk)
    })())
    assert.instanceOf(error, ModelTimeoutException)
    assert.strictEqual(error.message, "the model timed out")
    assert.isAtLeast(chunks.length, 1)
    const record = await logged((r) => r.modelId === "mid.invoke-timeout")
    assert.strictEqual(record.status, 200)
    assert.strictEqual(record.errorName, "ModelTimeoutException")
  })
})

describe("errors: rate is a seeded share", () => {
  const outcomes = async (rules: ReadonlyArray<Scenario.Rule>) => {
    const handle = await BedrockEmulator.start({ scenario: { seed: 9, timeScale: 0, registry: "none", rules } })
    const client = runtime({ url: handle.url })
    const out: Array<string> = []
    for (let i = 0; i < 30; i++) {
      out.push(await client.send(new ConverseCommand(ask("rate.model", "hi"))).then(() => "ok", (e: Error) => e.name))
    }
    await handle.close()
    return out
  }
  const quota = { name: "ServiceQuotaExceededException", status: 400, message: "quota" }

  it("rate 0.5 errors some requests and not others, the same ones on every run", async () => {
    const rules = [{ models: "rate.model", errors: [{ ...quota, rate: 0.5 }] }]
    const first = await outcomes(rules)
    const errored = first.filter((o) => o === "ServiceQuotaExceededException").length
    assert.isAbove(errored, 0)
    assert.isBelow(errored, 30)
    assert.deepStrictEqual(await outcomes(rules), first)
  })

  it("adding scripted knobs leaves the fates of errorRate5xx unchanged (they draw from their own stream)", async () => {
    const plain = await outcomes([{ models: "rate.model", errorRate5xx: 0.5 }])
    const withKnobs = await outcomes([{
      models: "rate.model",
      errorRate5xx: 0.5,
      errors: [{ ...quota, rate: 0 }],
      connectionReset: 0,
      contentFilter: { stopReason: "content_filtered", rate: 0 }
    }])
    assert.include(plain, "ok")
    assert.isTrue(plain.some((o) => o !== "ok"), "some requests get a 5xx")
    assert.deepStrictEqual(withKnobs, plain)
  })
})

describe("connectionReset", () => {
  it("HTTP/2: the request's stream is reset (ERR_HTTP2_STREAM_ERROR) and logged as ConnectionReset", async () => {
    const seen = emulator.requests().length
    const error = await failure(runtime().send(new ConverseCommand(ask("reset.always"))))
    assert.strictEqual(error.code, "ERR_HTTP2_STREAM_ERROR")
    const record = await logged((r, index) => index >= seen && r.modelId === "reset.always")
    assert.strictEqual(record.status, 0)
    assert.strictEqual(record.errorName, "ConnectionReset")
    assert.isFalse(record.closedByClient)
  })

  it("HTTP/2: other requests on the same connection are not affected", async () => {
    const client = runtime()
    const slow = client.send(new ConverseCommand(ask("slow.ok", "What is 3 + 4?")))
    const reset = await failure(client.send(new ConverseStreamCommand(ask("reset.always"))))
    assert.strictEqual(reset.code, "ERR_HTTP2_STREAM_ERROR")
    const out = await slow
    assert.deepStrictEqual(out.output?.message?.content, [{ text: "7" }])
  })

  it("HTTP/1.1: the socket is destroyed and the SDK sees ECONNRESET", async () => {
    const seen = emulator.requests().length
    const error = await failure(runtime({ http1: true }).send(new ConverseCommand(ask("reset.always"))))
    assert.strictEqual(error.code, "ECONNRESET")
    const record = await logged((r, index) => index >= seen && r.modelId === "reset.always")
    assert.strictEqual(record.errorName, "ConnectionReset")
  })
})

describe("contentFilter", () => {
  it("guardrail_intervened: Converse answers 200 with the guardrail's stock message", async () => {
    const out = await runtime().send(new ConverseCommand(ask("filter.guardrail")))
    assert.strictEqual(out.$metadata.httpStatusCode, 200)
    assert.strictEqual(out.stopReason, "guardrail_intervened")
    assert.deepStrictEqual(out.output?.message?.content, [{ text: "Sorry, the model cannot answer this question." }])
  })

  it("content_filtered with a message: ConverseStream streams it and stops with content_filtered", async () => {
    const out = await runtime().send(new ConverseStreamCommand(ask("filter.content")))
    const { error, events } = await drain(out.stream!)
    assert.isUndefined(error)
    assert.strictEqual(events.map((e) => e.contentBlockDelta?.delta?.text ?? "").join(""), "[filtered]")
    assert.strictEqual(events.find((e) => e.messageStop !== undefined)?.messageStop?.stopReason, "content_filtered")
  })

  it("rate 0 never filters", async () => {
    const out = await runtime().send(new ConverseCommand(ask("filter.never", "What is 2 + 2?")))
    assert.strictEqual(out.stopReason, "end_turn")
    assert.deepStrictEqual(out.output?.message?.content, [{ text: "4" }])
  })
})

describe("model faults: modelTimeout and modelNotReady", () => {
  const invokeBody = JSON.stringify({ messages: [{ role: "user", content: "Repeat exactly: one two three four" }] })
  const allOperations = (client: BedrockRuntimeClient, modelId: string) => [
    () => client.send(new ConverseCommand(ask(modelId))),
    () => client.send(new ConverseStreamCommand(ask(modelId))),
    () => client.send(new InvokeModelCommand({ modelId, body: invokeBody })),
    () => client.send(new InvokeModelWithResponseStreamCommand({ modelId, body: invokeBody }))
  ]

  it("modelTimeout: every runtime operation gets ModelTimeoutException (408) with Bedrock's message", async () => {
    for (const call of allOperations(runtime(), "model.timeout")) {
      const error = await failure(call())
      assert.instanceOf(error, ModelTimeoutException)
      assert.strictEqual(error.$metadata.httpStatusCode, 408)
      assert.strictEqual(error.message, BedrockEmulator.messages.modelTimeout)
    }
  })

  it("modelNotReady: ModelNotReadyException (429), which the SDK's own retry policy retries", async () => {
    for (const call of allOperations(runtime(), "model.not-ready")) {
      const error = await failure(call())
      assert.instanceOf(error, ModelNotReadyException)
      assert.strictEqual(error.$metadata.httpStatusCode, 429)
      assert.strictEqual(error.message, BedrockEmulator.messages.modelNotReady)
    }
    const seen = emulator.requests().length
    const endpoint = emulator.url
    const retrying = new BedrockRuntimeClient({ region: "us-east-1", endpoint, credentials, maxAttempts: 3 })
    const error = await failure(retrying.send(new ConverseCommand(ask("model.not-ready"))))
    assert.instanceOf(error, ModelNotReadyException)
    assert.strictEqual(error.$metadata.attempts, 3)
    assert.strictEqual(emulator.requests().slice(seen).filter((r) => r.modelId === "model.not-ready").length, 3)
  })

  it("midStream modelTimeout: ConverseStream and InvokeModelWithResponseStream break after some deltas", async () => {
    const client = runtime()
    const converse = await drain((await client.send(new ConverseStreamCommand(ask("model.timeout-mid")))).stream!)
    assert.isAtLeast(converse.events.filter((e) => e.contentBlockDelta !== undefined).length, 1)
    // ConverseStream does not model it: the SDK names an unmodeled stream exception by its :exception-type.
    assert.strictEqual(converse.error?.name, "modelTimeoutException")
    assert.include(converse.error?.message, BedrockEmulator.messages.modelTimeout)
    const command = new InvokeModelWithResponseStreamCommand({ modelId: "model.timeout-mid", body: invokeBody })
    const invoked = await client.send(command)
    const chunks: Array<unknown> = []
    const error = await failure((async () => {
      for await (const chunk of invoked.body!) chunks.push(chunk)
    })())
    // InvokeModelWithResponseStream models modelTimeoutException as a stream member: the SDK's own class.
    assert.instanceOf(error, ModelTimeoutException)
    assert.isAtLeast(chunks.length, 1)
  })

  it("midStream modelNotReady: the stream breaks with an exception named modelNotReadyException", async () => {
    const out = await runtime().send(new ConverseStreamCommand(ask("model.not-ready-mid")))
    const { error, events } = await drain(out.stream!)
    assert.isAtLeast(events.filter((e) => e.contentBlockDelta !== undefined).length, 1)
    assert.strictEqual(error?.name, "modelNotReadyException")
    assert.include(error?.message, BedrockEmulator.messages.modelNotReady)
    const record = await logged((r) => r.modelId === "model.not-ready-mid")
    assert.strictEqual(record.status, 200)
    assert.strictEqual(record.errorName, "ModelNotReadyException")
  })

  it("midStream faults leave non-streaming calls alone; rate 0 never fires; scripted errors come first", async () => {
    const client = runtime()
    for (const modelId of ["model.timeout-mid", "model.not-ready-mid"]) {
      const out = await client.send(new ConverseCommand(ask(modelId, "What is 2 + 2?")))
      assert.deepStrictEqual(out.output?.message?.content, [{ text: "4" }])
    }
    assert.instanceOf(await failure(client.send(new ConverseCommand(ask("model.both")))), ModelTimeoutException)
    const first = await failure(client.send(new ConverseCommand(ask("model.scripted-first"))))
    assert.instanceOf(first, ServiceQuotaExceededException)
  })
})

describe("scripted knobs are validated", () => {
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["an error name that is not an AWS name", { errors: [{ name: "bad name", status: 400, message: "m" }] }, "name"],
    ["a status outside 400..599", { errors: [{ name: "ValidationException", status: 200, message: "m" }] }, "status"],
    ["a missing message", { errors: [{ name: "ValidationException", status: 400 }] }, "message"],
    ["a rate above 1", { errors: [{ name: "ValidationException", status: 400, message: "m", rate: 2 }] }, "rate"],
    ["a connectionReset below 0", { connectionReset: -0.1 }, "connectionReset"],
    ["an unknown stop reason", { contentFilter: { stopReason: "end_turn" } }, "stopReason"],
    ["a modelTimeout rate above 1", { modelTimeout: { rate: 1.5 } }, "rate"],
    ["a modelNotReady midStream that is not a boolean", { modelNotReady: { midStream: "yes" } }, "midStream"]
  ]
  for (const [what, behaviour, field] of cases) {
    it(`${what} is rejected, naming ${field}`, () => {
      const message = Scenario.validate({ rules: [{ models: "m", ...(behaviour as object) }] })
      assert.isDefined(message)
      assert.include(message, field)
    })
  }
})
