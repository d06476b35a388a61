/**
 * Converse and ConverseStream requests are validated as Bedrock validates them, through the real AWS
 * SDK client (which checks nothing itself): the service model's constraints with AWS's "N validation
 * errors detected" wording, then Bedrock's conversation rules with their captured messages. Requests
 * that Bedrock accepts — a full tool round trip, a document, an image — still answer 200.
 */
import {
  ConverseCommand,
  type ConverseCommandInput,
  ConverseStreamCommand,
  ValidationException
} from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
import { failure, runtimeClient, useEmulator } from "./Harness.ts"

const haiku = "anthropic.claude-3-haiku-20240307-v1:0"

const emulator = useEmulator({
  seed: 4,
  timeScale: 0,
  rules: [{ models: [haiku, "test.chat-v1"], availability: "offered" }]
})

const client = () => runtimeClient(emulator().url, "AKIDVALIDATION")

const say = (text: string) => ({ role: "user" as const, content: [{ text }] })
const reply = (text: string) => ({ role: "assistant" as const, content: [{ text }] })
const weather = {
  tools: [{
    toolSpec: {
      name: "get_weather",
      inputSchema: { json: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }
    }
  }]
}
const toolUse = { toolUse: { toolUseId: "tooluse_1", name: "get_weather", input: { city: "Paris" } } }
const toolResult = { toolResult: { toolUseId: "tooluse_1", content: [{ json: { temperature: 18 } }] } }
const blank = (at: string) =>
  `The text field in the ContentBlock object at ${at} is blank. Add text to the text field, and try again.`
const violation = (value: string, at: string, constraint: string) =>
  `1 validation error detected: Value ${value} at '${at}' failed to satisfy constraint: ${constraint}`
const memo = new TextEncoder().encode("The code is X1.")
const png = Uint8Array.from(
  Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC", "base64")
)
const image = { bytes: png }

/** A request Bedrock refuses, and its exact message. */
const refused: ReadonlyArray<readonly [string, Omit<ConverseCommandInput, "modelId">, string]> = [
  [
    "a blank text block",
    { messages: [{ role: "user", content: [{ text: "" }] }] },
    blank("messages.0.content.0")
  ],
  [
    "a whitespace-only text block in a later turn",
    { messages: [say("Hi"), reply("Hello"), { role: "user", content: [{ text: "ok" }, { text: "  \n" }] }] },
    blank("messages.2.content.1")
  ],
  [
    "no messages",
    { messages: [] },
    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
  ],
  [
    "an assistant turn first",
    { messages: [reply("Hello"), say("Hi")] },
    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
  ],
  [
    "two user turns in a row",
    { messages: [say("Hi"), say("Are you there?")] },
    "A conversation must alternate between user and assistant roles. " +
    "Make sure the conversation alternates between user and assistant roles and try again."
  ],
  [
    "temperature above 1",
    { messages: [say("Hi")], inferenceConfig: { temperature: 1.5 } },
    violation("'1.5'", "inferenceConfig.temperature", "Member must have value less than or equal to 1")
  ],
  [
    "maxTokens 0 and a negative topP (every violation, in one message)",
    { messages: [say("Hi")], inferenceConfig: { maxTokens: 0, topP: -0.1 } },
    "2 validation errors detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: " +
    "Member must have value greater than or equal to 1; " +
    "Value '-0.1' at 'inferenceConfig.topP' failed to satisfy constraint: " +
    "Member must have value greater than or equal to 0"
  ],
  [
    "a tool name with a space",
    {
      messages: [say("Hi")],
      toolConfig: { tools: [{ toolSpec: { ...weather.tools[0]!.toolSpec, name: "get weather" } }] }
    },
    violation(
      "'get weather'",
      "toolConfig.tools.1.member.toolSpec.name",
      "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
    )
  ],
  [
    "an empty tool list",
    { messages: [say("Hi")], toolConfig: { tools: [] } },
    violation("'[]'", "toolConfig.tools", "Member must have length greater than or equal to 1")
  ],
  [
    "an image format outside the enum",
    {
      messages: [{ role: "user", content: [{ text: "Colour?" }, { image: { format: "bmp" as "png", source: image } }] }]
    },
    violation(
      "'bmp'",
      "messages.1.member.content.2.member.image.format",
      "Member must satisfy enum value set: [png, jpeg, gif, webp]"
    )
  ],
  [
    "an empty system text",
    { messages: [say("Hi")], system: [{ text: "" }] },
    violation("''", "system.1.member.text", "Member must have length greater than or equal to 1")
  ],
  [
    "a toolUse in the history without toolConfig",
    {
      messages: [say("Weather?"), { role: "assistant", content: [toolUse] }, { role: "user", content: [toolResult] }]
    },
    "The toolConfig field must be defined when using toolUse and toolResult content blocks."
  ],
  [
    "a tool result and a text block in the same turn",
    {
      toolConfig: weather,
      messages: [
        say("Weather in Paris?"),
        { role: "assistant", content: [toolUse] },
        { role: "user", content: [toolResult, { text: "Thanks" }] }
      ]
    },
    "messages.2.content: Conversation blocks and tool result blocks cannot be provided in the same turn."
  ],
  [
    "maxTokens above the model's limit (4096 for Claude 3 Haiku in the registry)",
    { messages: [say("Hi")], inferenceConfig: { maxTokens: 5000 } },
    "The maximum tokens you requested exceeds the model limit of 4096. " +
    "Try again with a maximum tokens value that is lower than 4096."
  ]
]

describe("Converse and ConverseStream refuse what Bedrock refuses, with its message", () => {
  for (const [what, input, message] of refused) {
    it(`${what}: 400 ValidationException`, async () => {
      const commands = [
        new ConverseCommand({ modelId: haiku, ...input }),
        new ConverseStreamCommand({ modelId: haiku, ...input })
      ]
      for (const command of commands) {
        const error = await failure(client().send(command as ConverseCommand))
        assert.instanceOf(error, ValidationException)
        assert.strictEqual(error.$metadata.httpStatusCode, 400)
        assert.strictEqual(error.message, message)
      }
    })
  }

  it("a member of the wrong JSON type is a SerializationException naming it", async () => {
    const input = { modelId: haiku, messages: [say("Hi")], inferenceConfig: { maxTokens: "ten" } }
    const error = await failure(client().send(new ConverseCommand(input as unknown as ConverseCommandInput)))
    assert.strictEqual(error.name, "SerializationException")
    assert.strictEqual(error.$metadata.httpStatusCode, 400)
    assert.include(error.message, "'inferenceConfig.maxTokens'")
  })
})

describe("what Bedrock accepts is still answered", () => {
  it("a full tool round trip with toolConfig, an image and a document answer 200", async () => {
    const requests: ReadonlyArray<ConverseCommandInput> = [
      {
        modelId: haiku,
        toolConfig: weather,
        messages: [
          say("Weather in Paris?"),
          { role: "assistant", content: [{ text: "Let me check." }, toolUse] },
          { role: "user", content: [{ toolResult: { ...toolResult.toolResult, status: "success" } }] }
        ]
      },
      {
        modelId: haiku,
        messages: [{ role: "user", content: [{ image: { format: "png", source: image } }, { text: "Colour?" }] }]
      },
      {
        modelId: haiku,
        messages: [{
          role: "user",
          content: [
            { document: { format: "txt", name: "memo", source: { bytes: memo } } },
            { text: "What is the code?" }
          ]
        }],
        inferenceConfig: { maxTokens: 4096, temperature: 0, topP: 1, stopSequences: ["\n\n"] }
      },
      { modelId: "test.chat-v1", messages: [say("Hi")], inferenceConfig: { maxTokens: 100_000 } }
    ]
    for (const input of requests) {
      const out = await client().send(new ConverseCommand(input))
      assert.strictEqual(out.$metadata.httpStatusCode, 200)
    }
  })
})
