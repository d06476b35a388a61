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
  ModelStreamErrorException,
  ResourceNotFoundException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException
} from "@aws-sdk/client-bedrock-runtime"
import {
  BedrockClient,
  GetFoundationModelCommand,
  GetInferenceProfileCommand,
  ListFoundationModelsCommand,
  ListInferenceProfilesCommand
} from "@aws-sdk/client-bedrock"
import { assert, describe, it } from "@effect/vitest"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll } from "vitest"
import { builtinModels } from "../../src/Registry.ts"
import * as BedrockEmulator from "../../src/emulator/BedrockEmulator.ts"
import type * as Scenario from "../../src/emulator/Scenario.ts"

const fast = { ttftMs: { min: 0, max: 2 }, tokensPerSecond: 5000 } as const

const scenario: Scenario.ScenarioInput = {
  seed: 11,
  timeScale: 1,
  defaults: { latency: fast },
  rules: [
    {
      models: ["amazon.titan-embed-*", "cohere.embed-*", "anthropic.claude-3-haiku-20240307-v1:0"],
      availability: "offered"
    },
    { models: "test.chat-v1", availability: "offered" },
    { models: "test.denied-v1", availability: "access-denied" },
    { models: "test.marketplace-v1", availability: "marketplace-pending" },
    { models: "test.profile-v1", availability: "profile-only" },
    { models: "test.legacy-v1", availability: "legacy" },
    { models: "test.eol-v1", availability: "eol" },
    { models: "test.regional-v1", availability: "not-offered" },
    { models: "test.regional-v1", regions: ["eu-west-1"], availability: "offered" },
    { models: "test.throttled-v1", availability: "offered" },
    { models: "test.throttled-v1", regions: ["us-east-1"], throttle: { requestsPerSecond: 5, burst: 5 } },
    { models: "test.internal-v1", errorRate5xx: 1 },
    { models: "test.hang-v1", timeoutRate: 1 },
    {
      models: "test.limited-v1",
      capabilities: { systemPrompt: "no", toolUse: "no", streamingToolUse: "no", vision: "no", documents: "no" }
    },
    { models: "test.nostreamtools-v1", capabilities: { streamingToolUse: "no" } },
    { models: "test.broken-v1", quality: "broken-stream" },
    { models: "test.break-throttle-v1", streamBreakAfterDeltas: 2, streamBreakException: "throttlingException" },
    {
      models: "test.break-unavailable-v1",
      streamBreakAfterDeltas: 0,
      streamBreakException: "serviceUnavailableException"
    }
  ]
}

const credentials = { accessKeyId: "AKIDEMULATORTEST", secretAccessKey: "not-a-secret" }

let emulator: BedrockEmulator.EmulatorHandle

beforeAll(async () => {
  emulator = await BedrockEmulator.start({ scenario })
})
afterAll(async () => {
  await emulator.close()
})

const handlers = {
  "HTTP/2 (default handler)": () => ({}),
  "HTTP/1.1 (NodeHttpHandler)": () => ({ requestHandler: new NodeHttpHandler() })
} as const

const runtime = (
  region = "us-east-1",
  extra: { requestHandler?: NodeHttpHandler; maxAttempts?: number; accessKeyId?: string } = {}
) =>
  new BedrockRuntimeClient({
    region,
    endpoint: emulator.url,
    credentials: { ...credentials, accessKeyId: extra.accessKeyId ?? credentials.accessKeyId },
    ...(extra.requestHandler ? { requestHandler: extra.requestHandler } : {}),
    ...(extra.maxAttempts ? { maxAttempts: extra.maxAttempts } : {})
  })

const controlPlane = (region: string, url = emulator.url) => new BedrockClient({ region, endpoint: url, credentials })

const ask = (modelId: string, text: string, more: Partial<ConverseCommandInput> = {}): ConverseCommandInput => ({
  modelId,
  messages: [{ role: "user", content: [{ text }] }],
  inferenceConfig: { maxTokens: 200, temperature: 0 },
  ...more
})

const weatherTool = {
  tools: [{
    toolSpec: {
      name: "get_weather",
      description: "Current weather for a city",
      inputSchema: { json: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }
    }
  }]
}

type ErrorClass = new(...args: Array<any>) => any

const failure = async (promise: Promise<unknown>): Promise<any> => {
  const result = await promise.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error })
  )
  if (result.ok) assert.fail("expected the call to fail")
  return (result as { error: unknown }).error
}

const collect = async (stream: AsyncIterable<ConverseStreamOutput>) => {
  const events: Array<ConverseStreamOutput> = []
  for await (const event of stream) events.push(event)
  return events
}

const streamedText = (events: ReadonlyArray<ConverseStreamOutput>) =>
  events.map((e) => e.contentBlockDelta?.delta?.text ?? "").join("")

const until = async (condition: () => boolean, what: string, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const chat = builtinModels.find((m) =>
  m.modality === "chat" && m.regionsKnown && m.lifecycle.status === "ACTIVE" &&
  m.regions.some((r) => r.region === "us-east-1" && r.invocation === "ON_DEMAND") &&
  !m.regions.some((r) => r.region === "sa-east-1")
)!

for (const [name, handler] of Object.entries(handlers)) {
  describe(`round trips through the unmodified SDK over ${name}`, () => {
    it("Converse answers through the responder with usage and the request id", async () => {
      const client = runtime("us-east-1", handler())
      const out = await client.send(new ConverseCommand(ask("test.chat-v1", "What is 12 * 12?")))
      assert.deepStrictEqual(out.output?.message?.content, [{ text: "144" }])
      assert.strictEqual(out.stopReason, "end_turn")
      assert.isAbove(out.usage!.inputTokens!, 0)
      assert.strictEqual(out.usage!.totalTokens, out.usage!.inputTokens! + out.usage!.outputTokens!)
      const record = emulator.requests().find((r) => r.requestId === out.$metadata.requestId)
      assert.isDefined(record)
      assert.strictEqual(record!.operation, "Converse")
      assert.strictEqual(record!.status, 200)
    })

    it("ConverseStream sends events in Bedrock's order and the text equals the non-streamed answer", async () => {
      const client = runtime("us-east-1", handler())
      const prompt = "Repeat exactly: the quick brown fox jumps over the lazy dog near the river bank"
      emulator.reset()
      const plain = await client.send(new ConverseCommand(ask("test.chat-v1", prompt)))
      emulator.reset()
      const out = await client.send(new ConverseStreamCommand(ask("test.chat-v1", prompt)))
      const events = await collect(out.stream!)
      const kinds = events.map((e) => Object.keys(e).find((k) => k !== "$unknown")!)
      assert.strictEqual(kinds[0], "messageStart")
      assert.deepStrictEqual(kinds.slice(-3), ["contentBlockStop", "messageStop", "metadata"])
      assert.isAbove(kinds.filter((k) => k === "contentBlockDelta").length, 2)
      const plainText = (plain.output!.message!.content![0] as { text: string }).text
      assert.strictEqual(streamedText(events), plainText)
      assert.strictEqual(events.at(-2)!.messageStop!.stopReason, plain.stopReason)
      assert.strictEqual(events.at(-1)!.metadata!.usage!.outputTokens, plain.usage!.outputTokens)
    })

    it("a streamed tool call carries the same input as the non-streamed one", async () => {
      const client = runtime("us-east-1", handler())
      const request = ask("test.chat-v1", "What is the weather in Paris?", { toolConfig: weatherTool })
      const plain = await client.send(new ConverseCommand(request))
      const plainTool = plain.output!.message!.content!.find((b) => b.toolUse !== undefined)!.toolUse!
      assert.strictEqual(plain.stopReason, "tool_use")
      const events = await collect((await client.send(new ConverseStreamCommand(request))).stream!)
      const start = events.find((e) => e.contentBlockStart !== undefined)!.contentBlockStart!
      const index = start.contentBlockIndex
      const input = events
        .filter((e) => e.contentBlockDelta?.contentBlockIndex === index)
        .map((e) => e.contentBlockDelta!.delta!.toolUse!.input)
        .join("")
      assert.strictEqual(start.start!.toolUse!.name, plainTool.name)
      assert.deepStrictEqual(JSON.parse(input), plainTool.input)
      assert.strictEqual(events.find((e) => e.messageStop)!.messageStop!.stopReason, "tool_use")
    })

    it("InvokeModel returns Titan v2 embeddings of the requested dimension", async () => {
      const client = runtime("us-east-1", handler())
      for (const dimensions of [256, 512, 1024]) {
        const out = await client.send(new InvokeModelCommand({
          modelId: "amazon.titan-embed-text-v2:0",
          contentType: "application/json",
          body: JSON.stringify({ inputText: "a cat sits on the mat", dimensions })
        }))
        const body = JSON.parse(new TextDecoder().decode(out.body))
        assert.strictEqual(body.embedding.length, dimensions)
        assert.isTrue(body.embedding.every(Number.isFinite))
        assert.isAbove(body.inputTextTokenCount, 0)
      }
    })

    it("control-plane ListFoundationModels answers", async () => {
      const out = await controlPlane("us-east-1").send(new ListFoundationModelsCommand({}))
      assert.isAbove(out.modelSummaries!.length, 10)
    })
  })
}

describe("InvokeModel bodies", () => {
  const invoke = (modelId: string, body: unknown) =>
    runtime().send(new InvokeModelCommand({ modelId, contentType: "application/json", body: JSON.stringify(body) }))
  const json = (out: { body: Uint8Array }) => JSON.parse(new TextDecoder().decode(out.body))

  it("Titan v1 returns a 1536-dimension embedding and the token count", async () => {
    const body = json(await invoke("amazon.titan-embed-text-v1", { inputText: "hello embedding world" }))
    assert.strictEqual(body.embedding.length, 1536)
    assert.strictEqual(body.inputTextTokenCount, 3)
  })

  it("Cohere returns one float vector per text, or embeddings by type when asked", async () => {
    const plain = json(
      await invoke("cohere.embed-english-v3", { texts: ["one", "two words"], input_type: "search_document" })
    )
    assert.strictEqual(plain.response_type, "embeddings_floats")
    assert.strictEqual(plain.embeddings.length, 2)
    assert.strictEqual(plain.embeddings[0].length, 1024)
    assert.deepStrictEqual(plain.texts, ["one", "two words"])
    const typed = json(
      await invoke("cohere.embed-english-v3", {
        texts: ["one"],
        input_type: "search_query",
        embedding_types: ["float"]
      })
    )
    assert.strictEqual(typed.embeddings.float.length, 1)
  })

  it("paraphrases embed closer than unrelated texts", async () => {
    const vector = async (inputText: string) =>
      json(await invoke("amazon.titan-embed-text-v2:0", { inputText })).embedding as Array<number>
    const cos = (a: Array<number>, b: Array<number>) => a.reduce((s, x, i) => s + x * b[i]!, 0)
    const a = await vector("The cat is sleeping on the sofa")
    const b = await vector("A cat sleeps on the sofa")
    const c = await vector("Quarterly tax filings are due in April")
    assert.isAbove(cos(a, b), cos(a, c))
  })

  it("a bad embedding body is a ValidationException naming the missing key and the extraneous one", async () => {
    const error = await failure(invoke("amazon.titan-embed-text-v2:0", { text: "wrong key" }))
    assert.instanceOf(error, ValidationException)
    assert.strictEqual(
      error.message,
      "Malformed input request: #: required key [inputText] not found#: extraneous key [text] is not permitted, " +
        "please reformat your input and try again."
    )
  })

  it("a chat model called through /invoke with an embedding body is a ValidationException", async () => {
    const error = await failure(invoke("test.chat-v1", { inputText: "embed me" }))
    assert.instanceOf(error, ValidationException)
    assert.match(error.message, /^Malformed input request: #: required key \[messages\] not found/)
  })

  it("an embedding model called through Converse is a ValidationException", async () => {
    const error = await failure(runtime().send(new ConverseCommand(ask("amazon.titan-embed-text-v2:0", "hi"))))
    assert.instanceOf(error, ValidationException)
    assert.strictEqual(error.message, BedrockEmulator.messages.notChatModel)
  })

  it("an Anthropic Messages body through /invoke gets an Anthropic-shaped answer", async () => {
    const body = json(await invoke("anthropic.claude-3-haiku-20240307-v1:0", {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 50,
      messages: [{ role: "user", content: "What is 7 + 8?" }]
    }))
    assert.strictEqual(body.type, "message")
    assert.strictEqual(body.content[0].text, "15")
    assert.strictEqual(body.stop_reason, "end_turn")
  })

  it("InvokeModelWithResponseStream delivers a chat answer as base64 chunks of the native events", async () => {
    const out = await runtime().send(new InvokeModelWithResponseStreamCommand({
      modelId: "anthropic.claude-3-haiku-20240307-v1:0",
      contentType: "application/json",
      body: JSON.stringify({
        anthropic_version: "bedrock-2023-05-31",
        max_tokens: 50,
        messages: [{ role: "user", content: "Repeat exactly: one two three four" }]
      })
    }))
    const chunks: Array<any> = []
    for await (const event of out.body!) {
      if (event.chunk?.bytes) chunks.push(JSON.parse(new TextDecoder().decode(event.chunk.bytes)))
    }
    assert.strictEqual(chunks[0].type, "message_start")
    const deltas = chunks.filter((c) => c.type === "content_block_delta")
    assert.strictEqual(deltas.map((c) => c.delta.text).join(""), "one two three four")
    assert.strictEqual(chunks[chunks.length - 1].type, "message_stop")
  })
})

describe("scripted errors arrive as the SDK's exception classes with Bedrock's messages", () => {
  const availabilityCases: ReadonlyArray<{
    availability: keyof typeof BedrockEmulator.availabilityErrors
    modelId: string
    cls: ErrorClass
  }> = [
    { availability: "not-offered", modelId: "nobody.unknown-v9", cls: ValidationException },
    { availability: "access-denied", modelId: "test.denied-v1", cls: AccessDeniedException },
    { availability: "marketplace-pending", modelId: "test.marketplace-v1", cls: AccessDeniedException },
    { availability: "profile-only", modelId: "test.profile-v1", cls: ValidationException },
    { availability: "legacy", modelId: "test.legacy-v1", cls: ResourceNotFoundException },
    { availability: "eol", modelId: "test.eol-v1", cls: ResourceNotFoundException }
  ]

  it("the cases below cover every availability row", () => {
    assert.deepStrictEqual(
      availabilityCases.map((c) => c.availability).sort(),
      Object.keys(BedrockEmulator.availabilityErrors).sort()
    )
  })

  for (const c of availabilityCases) {
    it(`${c.availability} → ${c.cls.name} with the real message, status and headers`, async () => {
      const error = await failure(runtime().send(new ConverseCommand(ask(c.modelId, "hi"))))
      const expected = BedrockEmulator.availabilityErrors[c.availability](c.modelId)
      assert.instanceOf(error, c.cls)
      assert.strictEqual(error.name, expected.name)
      assert.strictEqual(error.message, expected.message)
      assert.strictEqual(error.$metadata.httpStatusCode, expected.status)
      assert.match(error.$metadata.requestId, /^[0-9a-f-]{36}$/)
    })
  }

  it("profile-only uses the exact on-demand message with U+2019", async () => {
    const error = await failure(runtime().send(new ConverseCommand(ask("test.profile-v1", "hi"))))
    assert.strictEqual(
      error.message,
      "Invocation of model ID test.profile-v1 with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
    )
  })

  it("the same profile-only model answers through a profile of the caller's geography", async () => {
    const out = await runtime("eu-west-1").send(new ConverseCommand(ask("eu.test.profile-v1", "Say the word: ok")))
    assert.strictEqual(out.stopReason, "end_turn")
    const error = await failure(runtime("eu-west-1").send(new ConverseCommand(ask("us.test.profile-v1", "hi"))))
    assert.instanceOf(error, ValidationException)
    assert.strictEqual(error.message, BedrockEmulator.messages.invalidModel)
  })

  it("5xx arrives as InternalServerException or ServiceUnavailableException", async () => {
    const client = runtime("us-east-1", { maxAttempts: 1 })
    const seen = new Set<string>()
    for (let i = 0; i < 12; i++) {
      const error = await failure(client.send(new ConverseCommand(ask("test.internal-v1", "hi"))))
      if (error instanceof InternalServerException) {
        assert.strictEqual(error.message, BedrockEmulator.messages.internal)
        assert.strictEqual(error.$metadata.httpStatusCode, 500)
      } else {
        assert.instanceOf(error, ServiceUnavailableException)
        assert.strictEqual(error.message, "Bedrock is unable to process your request.")
        assert.strictEqual(error.$metadata.httpStatusCode, 503)
      }
      seen.add(error.name)
    }
    assert.strictEqual(seen.size, 2)
  })

  it("throttling arrives as ThrottlingException with status 429", async () => {
    const client = runtime("us-east-1", { maxAttempts: 1 })
    emulator.reset()
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        client.send(new ConverseCommand(ask("test.throttled-v1", "hi"))).then(() => undefined, (e: unknown) => e)
      )
    )
    const throttled = results.filter((e): e is ThrottlingException => e instanceof ThrottlingException)
    assert.isAbove(throttled.length, 0)
    assert.strictEqual(throttled[0]!.message, "Too many requests, please wait before trying again.")
    assert.strictEqual(throttled[0]!.$metadata.httpStatusCode, 429)
  })

  const capabilityCases: ReadonlyArray<{
    name: string
    request: ConverseCommandInput
    stream: boolean
    message: string
  }> = [
    {
      name: "a system prompt",
      request: ask("test.limited-v1", "hi", { system: [{ text: "Be brief." }] }),
      stream: false,
      message:
        "This model doesn't support system messages. Try again without a system message or use a model that supports system messages."
    },
    {
      name: "tools",
      request: ask("test.limited-v1", "weather in Paris?", { toolConfig: weatherTool }),
      stream: false,
      message: "This model doesn't support tool use."
    },
    {
      name: "tools while streaming",
      request: ask("test.nostreamtools-v1", "weather in Paris?", { toolConfig: weatherTool }),
      stream: true,
      message: "This model doesn't support tool use in streaming mode."
    },
    {
      name: "an image",
      request: {
        modelId: "test.limited-v1",
        messages: [{
          role: "user",
          content: [
            { text: "What colour?" },
            { image: { format: "png", source: { bytes: new Uint8Array([1, 2, 3]) } } }
          ]
        }]
      },
      stream: false,
      message: "This model doesn't support the image field for user messages. Remove image and try again."
    },
    {
      name: "a document",
      request: {
        modelId: "test.limited-v1",
        messages: [{
          role: "user",
          content: [
            { text: "Summarise" },
            { document: { format: "txt", name: "notes", source: { bytes: new TextEncoder().encode("x") } } }
          ]
        }]
      },
      stream: false,
      message: "This model doesn't support the document field for user messages. Remove document and try again."
    }
  ]

  for (const c of capabilityCases) {
    it(`a model without support for ${c.name} answers ValidationException "${c.message}"`, async () => {
      const client = runtime()
      const error = await failure(
        c.stream ? client.send(new ConverseStreamCommand(c.request)) : client.send(new ConverseCommand(c.request))
      )
      assert.instanceOf(error, ValidationException)
      assert.strictEqual(error.message, c.message)
    })
  }

  it("the model without streaming tool use still answers tools without streaming", async () => {
    const request = ask("test.nostreamtools-v1", "weather in Paris?", { toolConfig: weatherTool })
    const out = await runtime().send(new ConverseCommand(request))
    assert.strictEqual(out.stopReason, "tool_use")
  })

  const credentialCases = [
    {
      accessKeyId: "AKIAINVALIDKEY",
      name: "UnrecognizedClientException",
      message: "The security token included in the request is invalid."
    },
    {
      accessKeyId: "AKIAEXPIREDKEY",
      name: "ExpiredTokenException",
      message: "The security token included in the request is expired"
    }
  ]
  it("the credential cases cover every credential row", () => {
    assert.deepStrictEqual(
      credentialCases.map((c) => c.name),
      BedrockEmulator.credentialErrors.map((c) => c.error.name)
    )
  })
  for (const c of credentialCases) {
    it(`an access key containing the marker gets ${c.name} (403) on runtime and control plane`, async () => {
      const client = runtime("us-east-1", { accessKeyId: c.accessKeyId })
      const error = await failure(client.send(new ConverseCommand(ask("test.chat-v1", "hi"))))
      assert.strictEqual(error.name, c.name)
      assert.strictEqual(error.message, c.message)
      assert.strictEqual(error.$metadata.httpStatusCode, 403)
      const cp = new BedrockClient({
        region: "us-east-1",
        endpoint: emulator.url,
        credentials: { ...credentials, accessKeyId: c.accessKeyId }
      })
      const cpError = await failure(cp.send(new ListFoundationModelsCommand({})))
      assert.strictEqual(cpError.name, c.name)
    })
  }
})

describe("mid-stream exceptions are thrown from the async iterator", () => {
  const messages = BedrockEmulator.messages
  const cases: ReadonlyArray<{ modelId: string; cls: ErrorClass; message: string; minDeltas: number }> = [
    { modelId: "test.broken-v1", cls: ModelStreamErrorException, message: messages.streamError, minDeltas: 1 },
    { modelId: "test.break-throttle-v1", cls: ThrottlingException, message: messages.throttled, minDeltas: 2 },
    {
      modelId: "test.break-unavailable-v1",
      cls: ServiceUnavailableException,
      message: messages.unavailable,
      minDeltas: 0
    }
  ]
  for (const c of cases) {
    it(`${c.modelId}: ${c.cls.name} after ${c.minDeltas}+ deltas, with no messageStop`, async () => {
      const out = await runtime().send(
        new ConverseStreamCommand(ask(c.modelId, "Repeat exactly: one two three four five six seven eight nine ten"))
      )
      const events: Array<ConverseStreamOutput> = []
      const error = await failure((async () => {
        for await (const event of out.stream!) events.push(event)
      })())
      assert.instanceOf(error, c.cls)
      assert.strictEqual(error.message, c.message)
      assert.strictEqual(events[0]!.messageStart!.role, "assistant")
      const deltas = events.filter((e) => e.contentBlockDelta !== undefined).length
      assert.isAtLeast(deltas, c.minDeltas)
      assert.isUndefined(events.find((e) => e.messageStop !== undefined))
      await until(() => emulator.requests().some((r) => r.requestId === out.$metadata.requestId), "the log entry")
      const record = emulator.requests().find((r) => r.requestId === out.$metadata.requestId)!
      assert.strictEqual(record.status, 200)
      assert.isFalse(record.closedByClient)
      assert.strictEqual(record.errorName, c.cls.name.charAt(0).toLowerCase() + c.cls.name.slice(1))
    })
  }
})

describe("regions", () => {
  it("the region is read from the credential scope: a registry model offered in one region and not another", async () => {
    const ok = await runtime("us-east-1").send(new ConverseCommand(ask(chat.id, "Say the word: yes")))
    assert.strictEqual(ok.stopReason, "end_turn")
    const error = await failure(runtime("sa-east-1").send(new ConverseCommand(ask(chat.id, "Say the word: yes"))))
    assert.instanceOf(error, ValidationException)
    assert.strictEqual(error.message, "The provided model identifier is invalid.")
    const regions = emulator.requests().filter((r) => r.modelId === chat.id).map((r) => r.region)
    assert.includeMembers(regions, ["us-east-1", "sa-east-1"])
  })

  it("a scenario rule scoped to one region applies only there", async () => {
    const out = await runtime("eu-west-1").send(new ConverseCommand(ask("test.regional-v1", "Say the word: hi")))
    assert.strictEqual(out.stopReason, "end_turn")
    const error = await failure(runtime("us-east-1").send(new ConverseCommand(ask("test.regional-v1", "hi"))))
    assert.instanceOf(error, ValidationException)
  })

  it("the throttle quota holds per 1 s window, and throttling region A leaves region B unthrottled", async () => {
    emulator.reset()
    const a = runtime("us-east-1", { maxAttempts: 1 })
    const b = runtime("us-west-2", { maxAttempts: 1 })
    // Counted, not timed: B makes a fixed number of calls while A hammers, however slow the machine.
    const callsB = 15
    let doneB = 0
    let throttledA = 0
    let failedB = 0
    const hammerA = async () => {
      while (doneB < callsB || throttledA <= 20) {
        await a.send(new ConverseCommand(ask("test.throttled-v1", "hi"))).catch((e) => {
          if (e instanceof ThrottlingException) throttledA++
          else throw e
        })
      }
    }
    const steadyB = async () => {
      for (; doneB < callsB; doneB++) {
        await b.send(new ConverseCommand(ask("test.throttled-v1", "hi"))).catch(() => failedB++)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    await Promise.all([hammerA(), hammerA(), hammerA(), hammerA(), steadyB()])
    const log = emulator.requests().filter((r) => r.modelId === "test.throttled-v1")
    const admitted = log
      .filter((r) => r.region === "us-east-1" && r.status === 200)
      .map((r) => r.at)
      .sort((x, y) => x - y)
    const quota = 5
    const burst = 5
    for (const start of admitted) {
      assert.isAtMost(admitted.filter((t) => t >= start && t < start + 1000).length, quota + burst)
    }
    assert.isAtLeast(admitted.length, burst)
    assert.isAbove(throttledA, 20)
    assert.strictEqual(log.filter((r) => r.region === "us-east-1" && r.status === 429).length, throttledA)
    assert.strictEqual(failedB, 0)
    assert.strictEqual(log.filter((r) => r.region === "us-west-2" && r.status === 200).length, callsB)
  })
})

describe("client aborts and timeouts", () => {
  for (const [name, handler] of Object.entries(handlers)) {
    it(`a held request aborted by the client over ${name} is logged closedByClient and leaves nothing active`, async () => {
      const before = emulator.requests().length
      const controller = new AbortController()
      const client = runtime("us-east-1", handler())
      const pending = failure(
        client.send(new ConverseCommand(ask("test.hang-v1", "hi")), { abortSignal: controller.signal })
      )
      await until(() => emulator.activeRequests() === 1, "the request to arrive")
      controller.abort()
      const error = await pending
      assert.strictEqual(error.name, "AbortError")
      await until(() => emulator.activeRequests() === 0, "the server to see the abort")
      const record = emulator.requests().slice(before).find((r) => r.modelId === "test.hang-v1")!
      assert.isTrue(record.closedByClient)
      assert.strictEqual(record.status, 0)
    })
  }

  it("a stream abandoned mid-way is seen server-side", async () => {
    const latency = { ttftMs: { min: 0, max: 0 }, tokensPerSecond: 20 }
    emulator.setScenario({ ...scenario, rules: [{ models: "test.slow-v1", availability: "offered", latency }] })
    const controller = new AbortController()
    const out = await runtime().send(
      new ConverseStreamCommand(ask("test.slow-v1", "Repeat exactly: a b c d e f g h i j k l m n o p q r s t")),
      { abortSignal: controller.signal }
    )
    const iterator = out.stream![Symbol.asyncIterator]()
    await iterator.next()
    controller.abort()
    await iterator.next().catch(() => undefined)
    await until(() => emulator.activeRequests() === 0, "the stream to close")
    const record = emulator.requests().find((r) => r.requestId === out.$metadata.requestId)!
    assert.isTrue(record.closedByClient)
    assert.strictEqual(record.status, 200)
    emulator.setScenario(scenario)
  })
})

describe("control plane", () => {
  let plain: BedrockEmulator.EmulatorHandle
  beforeAll(async () => {
    plain = await BedrockEmulator.start({ scenario: { timeScale: 0 } })
  })
  afterAll(async () => {
    await plain.close()
  })

  it("ListFoundationModels lists the registry's models per region, profile-only ones as INFERENCE_PROFILE", async () => {
    for (const region of ["us-east-1", "eu-west-1", "ap-southeast-1"]) {
      const out = await controlPlane(region, plain.url).send(new ListFoundationModelsCommand({}))
      const byId = new Map(out.modelSummaries!.map((m) => [m.modelId!, m]))
      for (const m of builtinModels) {
        if (m.lifecycle.status === "EOL") {
          assert.isFalse(byId.has(m.id), `${m.id} is EOL`)
          continue
        }
        const entry = m.regionsKnown ? m.regions.find((r) => r.region === region) : undefined
        const expected = !m.regionsKnown
          ? (m.profileRequired === true ? "INFERENCE_PROFILE" : "ON_DEMAND")
          : entry === undefined
          ? undefined
          : entry.invocation === "PROFILE_ONLY"
          ? "INFERENCE_PROFILE"
          : "ON_DEMAND"
        if (expected === undefined) assert.isFalse(byId.has(m.id), `${m.id} not in ${region}`)
        else {
          assert.deepStrictEqual(byId.get(m.id)?.inferenceTypesSupported, [expected], `${m.id} in ${region}`)
          assert.strictEqual(byId.get(m.id)!.modelArn, `arn:aws:bedrock:${region}::foundation-model/${m.id}`)
        }
      }
    }
  })

  it("ListFoundationModels filters by output modality", async () => {
    const cp = controlPlane("us-east-1", plain.url)
    const out = await cp.send(new ListFoundationModelsCommand({ byOutputModality: "EMBEDDING" }))
    assert.isAbove(out.modelSummaries!.length, 0)
    assert.isTrue(out.modelSummaries!.every((m) => m.outputModalities!.includes("EMBEDDING")))
  })

  it("GetFoundationModel returns the details, and an invalid id is a ValidationException", async () => {
    const cp = controlPlane("us-east-1", plain.url)
    const out = await cp.send(new GetFoundationModelCommand({ modelIdentifier: chat.id }))
    assert.strictEqual(out.modelDetails!.modelId, chat.id)
    assert.strictEqual(out.modelDetails!.modelName, chat.name)
    const error = await failure(cp.send(new GetFoundationModelCommand({ modelIdentifier: "nobody.x" })))
    assert.strictEqual(error.name, "ValidationException")
  })

  it("ListInferenceProfiles lists the geography's profiles, pages through nextToken, and Get finds each", async () => {
    const cp = controlPlane("us-east-1", plain.url)
    const all = (await cp.send(new ListInferenceProfilesCommand({}))).inferenceProfileSummaries!
    assert.isAbove(all.length, 5)
    assert.isTrue(all.every((p) => /^(us|global)\./.test(p.inferenceProfileId!)), "only us. and global. profiles")
    const expected = builtinModels.find((m) =>
      m.lifecycle.status !== "EOL" && m.profiles.includes(`us.${m.id}`) &&
      m.regions.some((r) => r.region === "us-east-1")
    )!
    assert.isDefined(all.find((p) => p.inferenceProfileId === `us.${expected.id}`))
    const paged: Array<string> = []
    let nextToken: string | undefined
    do {
      const page = await cp.send(
        new ListInferenceProfilesCommand({ maxResults: 7, ...(nextToken ? { nextToken } : {}) })
      )
      assert.isAtMost(page.inferenceProfileSummaries!.length, 7)
      paged.push(...page.inferenceProfileSummaries!.map((p) => p.inferenceProfileId!))
      nextToken = page.nextToken
    } while (nextToken !== undefined)
    assert.deepStrictEqual(paged, all.map((p) => p.inferenceProfileId!))
    const one = await cp.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: `us.${expected.id}` }))
    assert.strictEqual(one.inferenceProfileId, `us.${expected.id}`)
    assert.strictEqual(one.models![0]!.modelArn!.endsWith(`foundation-model/${expected.id}`), true)
    const missing = await failure(
      cp.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: "eu.nobody.x" }))
    )
    assert.strictEqual(missing.name, "ResourceNotFoundException")
  })
})

describe("Effect API", () => {
  it.live("make starts an emulator that closes with its scope", () =>
    Effect.gen(function*() {
      const url = yield* Effect.scoped(
        Effect.gen(function*() {
          const handle = yield* BedrockEmulator.make({ scenario: { timeScale: 0 } })
          const cp = controlPlane("us-east-1", handle.url)
          const out = yield* Effect.promise(() => cp.send(new ListFoundationModelsCommand({})))
          assert.isAbove(out.modelSummaries!.length, 0)
          return handle.url
        })
      )
      const closed = yield* Effect.promise(() => fetch(`${url}/foundation-models`).then(() => false, () => true))
      assert.isTrue(closed)
    }))

  it.live("layer provides the BedrockEmulator service", () =>
    Effect.gen(function*() {
      const handle = yield* BedrockEmulator.BedrockEmulator
      assert.match(handle.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.strictEqual(handle.activeRequests(), 0)
    }).pipe(Effect.provide(BedrockEmulator.layer({ scenario: { timeScale: 0 } }))))

  it.live("an invalid scenario fails with EmulatorError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(BedrockEmulator.make({ scenario: { timeScale: -1 } })))
      assert.strictEqual(error._tag, "EmulatorError")
      assert.include(error.message, "timeScale")
    }))
})

describe("determinism and per-region quotas", () => {
  const statuses = async (seed: number) => {
    const handle = await BedrockEmulator.start({
      scenario: {
        seed,
        timeScale: 0,
        registry: "none",
        rules: [{ models: "d.flaky-v1", availability: "offered", errorRate5xx: 0.5 }]
      }
    })
    const client = new BedrockRuntimeClient({ region: "us-east-1", endpoint: handle.url, credentials, maxAttempts: 1 })
    const out: Array<string> = []
    for (let i = 0; i < 24; i++) {
      out.push(
        await client.send(new ConverseCommand(ask("d.flaky-v1", "hi"))).then(() => "ok", (e: Error) => e.name)
      )
    }
    await handle.close()
    return out
  }

  it("the n-th request to a (region, model) meets the same fate for the same seed, another with another seed", async () => {
    const a = await statuses(3)
    assert.deepStrictEqual(await statuses(3), a)
    assert.notDeepEqual(await statuses(4), a)
    assert.include(a, "ok")
    assert.isTrue(a.some((s) => s !== "ok"))
  })

  it("a regionThrottle bucket is shared by every model of that region only", async () => {
    emulator.setScenario({
      ...scenario,
      regionThrottle: { "us-east-2": { requestsPerSecond: 0.01, burst: 2 } }
    })
    const east2 = runtime("us-east-2", { maxAttempts: 1 })
    const west2 = runtime("us-west-2", { maxAttempts: 1 })
    await east2.send(new ConverseCommand(ask("test.chat-v1", "hi")))
    // A model the region does not offer is refused before the quota is consulted, so it takes no token.
    await failure(east2.send(new ConverseCommand(ask("test.regional-v1", "hi"))))
    await east2.send(new ConverseCommand(ask("test.limited-v1", "hi")))
    const error = await failure(east2.send(new ConverseCommand(ask("test.throttled-v1", "hi"))))
    assert.instanceOf(error, ThrottlingException)
    for (let i = 0; i < 4; i++) await west2.send(new ConverseCommand(ask("test.chat-v1", "hi")))
    emulator.setScenario(scenario)
  })
})

describe("request log", () => {
  it("keeps only the newest maxLogEntries records", async () => {
    const handle = await BedrockEmulator.start({
      scenario: { timeScale: 0, registry: "none", defaults: { availability: "offered" } },
      maxLogEntries: 3
    })
    const client = new BedrockRuntimeClient({ region: "us-east-1", endpoint: handle.url, credentials })
    for (let i = 0; i < 7; i++) await client.send(new ConverseCommand(ask(`log.model-${i}`, "hi")))
    await until(() => handle.activeRequests() === 0, "requests to finish")
    assert.deepStrictEqual(handle.requests().map((r) => r.modelId), ["log.model-4", "log.model-5", "log.model-6"])
    handle.reset()
    assert.strictEqual(handle.requests().length, 0)
    await handle.close()
  })
})

describe("malformed requests", () => {
  it("a model id with broken percent-encoding is a 400 ValidationException, not a server error", async () => {
    const res = await fetch(`${emulator.url}/model/bad%E0%A4/converse`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261122/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=x"
      },
      body: JSON.stringify({ messages: [] })
    })
    assert.strictEqual(res.status, 400)
    assert.match(res.headers.get("x-amzn-errortype") ?? "", /^ValidationException/)
    assert.deepStrictEqual(await res.json(), { message: "The provided model identifier is invalid." })
  })
})
