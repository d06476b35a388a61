/**
 * InvokeModel and InvokeModelWithResponseStream speak each model family's native body, through the
 * real AWS SDK client: a valid body of every family is answered in that family's format (and streamed
 * in its native events), a body that breaks the family's schema gets Bedrock's "Malformed input
 * request" wording, and a scenario breaks a native stream mid-way with an exception frame.
 */
import {
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ModelStreamErrorException,
  ThrottlingException,
  ValidationException
} from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
import type * as Scenario from "../../src/emulator/Scenario.ts"
import { failure, runtimeClient, useEmulator } from "./Harness.ts"

const models = {
  anthropic: "anthropic.claude-3-haiku-20240307-v1:0",
  titan: "amazon.titan-text-express-v1",
  llama: "meta.llama3-8b-instruct-v1:0",
  mistral: "mistral.mistral-7b-instruct-v0:2",
  mistralChat: "mistral.mistral-large-2407-v1:0",
  commandR: "cohere.command-r-v1:0",
  command: "cohere.command-text-v14",
  nova: "amazon.nova-micro-v1:0",
  deepseek: "deepseek.r1-v1:0",
  openai: "openai.gpt-oss-20b-1:0"
} as const

const scenario: Scenario.ScenarioInput = {
  seed: 3,
  timeScale: 0,
  rules: [
    { models: [...Object.values(models), "amazon.titan-embed-text-v2:0"], availability: "offered" },
    { models: "meta.llama3-70b-instruct-v1:0", availability: "offered", streamBreakAfterDeltas: 2 },
    {
      models: "anthropic.claude-3-sonnet-20240229-v1:0",
      availability: "offered",
      streamBreakAfterDeltas: 1,
      streamBreakException: "throttlingException"
    }
  ]
}

const emulator = useEmulator(scenario)

const client = () => runtimeClient(emulator().url, "AKIDFAMILIES")

const invoke = async (modelId: string, body: unknown): Promise<any> => {
  const command = new InvokeModelCommand({ modelId, contentType: "application/json", body: JSON.stringify(body) })
  const out = await client().send(command)
  assert.strictEqual(out.contentType, "application/json")
  return JSON.parse(new TextDecoder().decode(out.body))
}

/** The decoded chunks of a native stream, and the error it ended with, if any. */
const stream = async (modelId: string, body: unknown) => {
  const out = await client().send(
    new InvokeModelWithResponseStreamCommand({ modelId, contentType: "application/json", body: JSON.stringify(body) })
  )
  assert.strictEqual(out.contentType, "application/json")
  const chunks: Array<any> = []
  const error = await (async () => {
    for await (const event of out.body!) {
      if (event.chunk?.bytes) chunks.push(JSON.parse(new TextDecoder().decode(event.chunk.bytes)))
    }
  })().then(() => undefined, (e: unknown) => e as any)
  return { chunks, error }
}

const malformed = (issues: string) => `Malformed input request: ${issues}, please reformat your input and try again.`

const question = "What is 7 + 8?"
const llamaPrompt = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n" +
  `${question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`

/** A valid body of each family, and how its answer and its streamed text read. */
const cases: ReadonlyArray<{
  readonly family: string
  readonly modelId: string
  readonly body: unknown
  readonly text: (answer: any) => string
  readonly streamed: (chunks: ReadonlyArray<any>) => string
  readonly last: (chunk: any) => unknown
  readonly stop: unknown
}> = [
  {
    family: "Anthropic Messages",
    modelId: models.anthropic,
    body: { anthropic_version: "bedrock-2023-05-31", max_tokens: 50, messages: [{ role: "user", content: question }] },
    text: (a) => {
      assert.strictEqual(a.type, "message")
      assert.strictEqual(a.stop_reason, "end_turn")
      return a.content[0].text
    },
    streamed: (chunks) => {
      assert.deepStrictEqual([...new Set(chunks.map((c) => c.type))], [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
      return chunks.filter((c) => c.type === "content_block_delta").map((c) => c.delta.text).join("")
    },
    last: (c) => c.type,
    stop: "message_stop"
  },
  {
    family: "Titan Text",
    modelId: models.titan,
    body: { inputText: question, textGenerationConfig: { maxTokenCount: 50, temperature: 0 } },
    text: (a) => {
      assert.strictEqual(a.results[0].completionReason, "FINISH")
      assert.isNumber(a.inputTextTokenCount)
      return a.results[0].outputText
    },
    streamed: (chunks) => chunks.map((c) => c.outputText).join(""),
    last: (c) => c.completionReason,
    stop: "FINISH"
  },
  {
    family: "Llama",
    modelId: models.llama,
    body: { prompt: llamaPrompt, max_gen_len: 50, temperature: 0 },
    text: (a) => {
      assert.strictEqual(a.stop_reason, "stop")
      assert.isNumber(a.prompt_token_count)
      return a.generation
    },
    streamed: (chunks) => chunks.map((c) => c.generation).join(""),
    last: (c) => c.stop_reason,
    stop: "stop"
  },
  {
    family: "Mistral (prompt)",
    modelId: models.mistral,
    body: { prompt: `<s>[INST] ${question} [/INST]`, max_tokens: 50 },
    text: (a) => a.outputs[0].text,
    streamed: (chunks) => chunks.map((c) => c.outputs[0].text).join(""),
    last: (c) => c.outputs[0].stop_reason,
    stop: "stop"
  },
  {
    family: "Mistral (chat)",
    modelId: models.mistralChat,
    body: { messages: [{ role: "user", content: question }], max_tokens: 50 },
    text: (a) => a.choices[0].message.content,
    streamed: (chunks) => chunks.map((c) => c.choices[0].message.content).join(""),
    last: (c) => c.choices[0].stop_reason,
    stop: "stop"
  },
  {
    family: "Cohere Command R",
    modelId: models.commandR,
    body: { message: question, chat_history: [{ role: "USER", message: "Hi" }, { role: "CHATBOT", message: "Hello" }] },
    text: (a) => {
      assert.strictEqual(a.finish_reason, "COMPLETE")
      return a.text
    },
    streamed: (chunks) => {
      assert.strictEqual(chunks[0].event_type, "stream-start")
      return chunks.filter((c) => c.event_type === "text-generation").map((c) => c.text).join("")
    },
    last: (c) => c.event_type,
    stop: "stream-end"
  },
  {
    family: "Cohere Command",
    modelId: models.command,
    body: { prompt: question, max_tokens: 50 },
    text: (a) => a.generations[0].text,
    streamed: (chunks) => chunks.filter((c) => !c.is_finished).map((c) => c.text).join(""),
    last: (c) => c.finish_reason,
    stop: "COMPLETE"
  },
  {
    family: "Nova",
    modelId: models.nova,
    body: {
      schemaVersion: "messages-v1",
      messages: [{ role: "user", content: [{ text: question }] }],
      inferenceConfig: { maxTokens: 50 }
    },
    text: (a) => {
      assert.strictEqual(a.stopReason, "end_turn")
      assert.strictEqual(a.usage.totalTokens, a.usage.inputTokens + a.usage.outputTokens)
      return a.output.message.content[0].text
    },
    streamed: (chunks) => {
      assert.deepStrictEqual(chunks[0], { messageStart: { role: "assistant" } })
      return chunks.filter((c) => c.contentBlockDelta).map((c) => c.contentBlockDelta.delta.text).join("")
    },
    last: (c) => Object.keys(c).filter((k) => k !== "amazon-bedrock-invocationMetrics"),
    stop: ["metadata"]
  },
  {
    family: "DeepSeek-R1",
    modelId: models.deepseek,
    body: { prompt: `<｜User｜>${question}<｜Assistant｜>`, max_tokens: 50 },
    text: (a) => a.choices[0].text,
    streamed: (chunks) => chunks.map((c) => c.choices[0].text).join(""),
    last: (c) => c.choices[0].stop_reason,
    stop: "stop"
  },
  {
    family: "OpenAI-style chat completion (every other vendor)",
    modelId: models.openai,
    body: { messages: [{ role: "user", content: question }], max_completion_tokens: 50 },
    text: (a) => {
      assert.strictEqual(a.object, "chat.completion")
      return a.choices[0].message.content
    },
    streamed: (chunks) => chunks.map((c) => c.choices[0].delta.content ?? "").join(""),
    last: (c) => c.choices[0].finish_reason,
    stop: "stop"
  }
]

describe("every family answers its native body in its own format", () => {
  for (const c of cases) {
    it(`${c.family}: InvokeModel answers, and the stream's native events carry the same text`, async () => {
      assert.strictEqual(c.text(await invoke(c.modelId, c.body)), "15")
      const { chunks, error } = await stream(c.modelId, c.body)
      assert.isUndefined(error)
      assert.isAtLeast(chunks.length, 2)
      assert.strictEqual(c.streamed(chunks), "15")
      const last = chunks[chunks.length - 1]
      assert.deepStrictEqual(c.last(last), c.stop)
      assert.isNumber(last["amazon-bedrock-invocationMetrics"].outputTokenCount)
      assert.notProperty(chunks[0], "amazon-bedrock-invocationMetrics")
    })
  }

  it("Anthropic tools: the answer is a tool_use block, streamed as input_json_delta", async () => {
    const body = {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 200,
      tools: [{
        name: "get_weather",
        input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
      }],
      messages: [{ role: "user", content: "What is the weather in Paris?" }]
    }
    const answer = await invoke(models.anthropic, body)
    assert.strictEqual(answer.stop_reason, "tool_use")
    const call = answer.content.find((b: any) => b.type === "tool_use")
    assert.deepStrictEqual(call.input, { city: "Paris" })
    const { chunks } = await stream(models.anthropic, body)
    const json = chunks.filter((c) => c.delta?.type === "input_json_delta").map((c) => c.delta.partial_json).join("")
    assert.deepStrictEqual(JSON.parse(json), { city: "Paris" })
  })
})

describe("bodies that break the family's schema get Bedrock's wording", () => {
  const anthropic = {
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: 50,
    messages: [{ role: "user", content: "hi" }]
  }
  const legacy = "#: subject must not be valid against schema {\"required\":[\"messages\"]}"
  const rows: ReadonlyArray<readonly [string, string, unknown, string]> = [
    [
      "Anthropic with stream: true",
      models.anthropic,
      { ...anthropic, stream: true },
      `${legacy}#: extraneous key [stream] is not permitted`
    ],
    [
      "Anthropic without anthropic_version",
      models.anthropic,
      { max_tokens: 50, messages: [{ role: "user", content: "hi" }] },
      `${legacy}#: required key [anthropic_version] not found`
    ],
    [
      "Anthropic with an empty content array",
      models.anthropic,
      { ...anthropic, messages: [{ role: "user", content: [] }] },
      `${legacy}#/messages/0/content: expected type: String, found: JSONArray` +
      "#/messages/0/content: expected minimum item count: 1, found: 0"
    ],
    [
      "Titan Text without inputText",
      models.titan,
      { prompt: "hi" },
      "#: required key [inputText] not found#: extraneous key [prompt] is not permitted"
    ],
    [
      "Titan Text with temperature 2",
      models.titan,
      { inputText: "hi", textGenerationConfig: { temperature: 2 } },
      "#/textGenerationConfig/temperature: 2 is not less or equal to 1"
    ],
    [
      "Llama with a messages body",
      models.llama,
      { messages: [] },
      "#: required key [prompt] not found#: extraneous key [messages] is not permitted"
    ],
    [
      "Llama with max_gen_len as a string",
      models.llama,
      { prompt: "hi", max_gen_len: "50" },
      "#/max_gen_len: expected type: Integer, found: String"
    ],
    [
      "Nova with string content",
      models.nova,
      { messages: [{ role: "user", content: "hi" }] },
      "#/messages/0/content: expected type: JSONArray, found: String"
    ],
    ["Cohere Command R without message", models.commandR, { prompt: "hi" }, "#: required key [message] not found"],
    ["a body that is not an object", models.mistral, ["prompt"], "#: expected type: JSONObject, found: JSONArray"]
  ]
  for (const [what, modelId, body, issues] of rows) {
    it(`${what}: 400 ValidationException "${issues.slice(0, 60)}…"`, async () => {
      for (const call of [invoke(modelId, body), stream(modelId, body)]) {
        const error = await failure(call)
        assert.instanceOf(error, ValidationException)
        assert.strictEqual(error.$metadata.httpStatusCode, 400)
        assert.strictEqual(error.message, malformed(issues))
      }
    })
  }

  it("an embedding model does not stream: The model is unsupported for streaming.", async () => {
    const error = await failure(stream("amazon.titan-embed-text-v2:0", { inputText: "hi" }))
    assert.instanceOf(error, ValidationException)
    assert.strictEqual(error.message, "The model is unsupported for streaming.")
  })
})

describe("a native stream breaks mid-way as the scenario says", () => {
  it("streamBreakAfterDeltas 2: two Llama chunks with text, then ModelStreamErrorException", async () => {
    const prompt = "Repeat exactly: one two three four five six seven"
    const { chunks, error } = await stream("meta.llama3-70b-instruct-v1:0", { prompt })
    assert.instanceOf(error, ModelStreamErrorException)
    assert.strictEqual(chunks.filter((c) => c.generation !== "").length, 2)
    assert.isTrue(chunks.every((c) => c.stop_reason === null), "no chunk says the generation stopped")
  })

  it("streamBreakException throttlingException: Anthropic events stop after one delta", async () => {
    const { chunks, error } = await stream("anthropic.claude-3-sonnet-20240229-v1:0", {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 50,
      messages: [{ role: "user", content: "Repeat exactly: one two three four five six" }]
    })
    assert.instanceOf(error, ThrottlingException)
    assert.deepStrictEqual(chunks.map((c) => c.type), ["message_start", "content_block_start", "content_block_delta"])
  })
})
