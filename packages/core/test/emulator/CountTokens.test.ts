/**
 * `CountTokens` through the real AWS SDK client: the count equals the `inputTokens` the same request
 * then reports (Converse and an Anthropic InvokeModel body), the input is checked like the request it
 * counts, Bedrock's refusals have its messages, and counting never changes the fates of the
 * inference requests that follow.
 */
import {
  AccessDeniedException,
  ConverseCommand,
  CountTokensCommand,
  InvokeModelCommand,
  ValidationException
} from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
import * as BedrockEmulator from "../../src/emulator/BedrockEmulator.ts"
import { failure, runtimeClient, useEmulator } from "./Harness.ts"

const claude = "anthropic.claude-3-haiku-20240307-v1:0"

const emulator = useEmulator({
  seed: 8,
  timeScale: 0,
  rules: [
    { models: [claude, "amazon.nova-lite-v1:0"], availability: "offered" },
    { models: "anthropic.claude-3-opus-20240229-v1:0", availability: "access-denied" },
    { models: "anthropic.claude-flaky-v1", errorRate5xx: 0.5 }
  ]
})

const client = (url = emulator().url) => runtimeClient(url, "AKIDCOUNT")

const conversation = {
  system: [{ text: "You are terse." }],
  messages: [
    { role: "user" as const, content: [{ text: "Remember the word ZEBRA." }] },
    { role: "assistant" as const, content: [{ text: "Remembered." }] },
    { role: "user" as const, content: [{ text: "What is the word?" }] }
  ]
}

describe("CountTokens", () => {
  it("a Converse input counts exactly the inputTokens Converse then reports", async () => {
    const counted = await client().send(new CountTokensCommand({ modelId: claude, input: { converse: conversation } }))
    const answered = await client().send(new ConverseCommand({ modelId: claude, ...conversation }))
    assert.isAbove(counted.inputTokens!, 8)
    assert.strictEqual(counted.inputTokens, answered.usage?.inputTokens)
  })

  it("an InvokeModel body counts exactly the input_tokens InvokeModel then reports", async () => {
    const body = new TextEncoder().encode(
      JSON.stringify({
        anthropic_version: "bedrock-2023-05-31",
        max_tokens: 50,
        system: "Be brief.",
        messages: [{ role: "user", content: "What is 2 + 2?" }]
      })
    )
    const counted = await client().send(new CountTokensCommand({ modelId: claude, input: { invokeModel: { body } } }))
    const answered = JSON.parse(
      new TextDecoder().decode((await client().send(new InvokeModelCommand({ modelId: claude, body }))).body)
    )
    assert.strictEqual(counted.inputTokens, answered.usage.input_tokens)
  })

  const refusals: ReadonlyArray<readonly [string, string, any, string]> = [
    [
      "a model that is not Claude",
      "amazon.nova-lite-v1:0",
      { converse: conversation },
      "The provided model doesn't support counting tokens."
    ],
    [
      "an inference profile",
      `us.${claude}`,
      { converse: conversation },
      "The provided model doesn't support counting tokens."
    ],
    [
      "a document block",
      claude,
      {
        converse: {
          messages: [
            {
              role: "user",
              content: [
                { document: { format: "txt", name: "memo", source: { bytes: new TextEncoder().encode("x") } } },
                { text: "Read it." }
              ]
            }
          ]
        }
      },
      "Document input not supported for token counting"
    ],
    [
      "a blank text block (the Converse rules apply)",
      claude,
      { converse: { messages: [{ role: "user", content: [{ text: " " }] }] } },
      "The text field in the ContentBlock object at messages.0.content.0 is blank. " +
        "Add text to the text field, and try again."
    ],
    [
      "an Anthropic body with stream: true (the family's schema applies)",
      claude,
      {
        invokeModel: {
          body: new TextEncoder().encode(
            JSON.stringify({
              anthropic_version: "bedrock-2023-05-31",
              max_tokens: 5,
              stream: true,
              messages: [{ role: "user", content: "hi" }]
            })
          )
        }
      },
      "Malformed input request: #: subject must not be valid against schema {\"required\":[\"messages\"]}" +
        "#: extraneous key [stream] is not permitted, please reformat your input and try again."
    ]
  ]
  for (const [what, modelId, input, message] of refusals) {
    it(`${what}: ValidationException "${message.slice(0, 50)}…"`, async () => {
      const error = await failure(client().send(new CountTokensCommand({ modelId, input })))
      assert.instanceOf(error, ValidationException)
      assert.strictEqual(error.message, message)
    })
  }

  it("a model the account cannot use answers as it does for inference", async () => {
    const error = await failure(
      client().send(
        new CountTokensCommand({ modelId: "anthropic.claude-3-opus-20240229-v1:0", input: { converse: conversation } })
      )
    )
    assert.instanceOf(error, AccessDeniedException)
  })

  it("counting does not move the seeded fates of the inference requests", async () => {
    const outcomes = async (count: boolean) => {
      const handle = await BedrockEmulator.start({ scenario: emulator().scenario() })
      const c = client(handle.url)
      const out: Array<string> = []
      for (let i = 0; i < 12; i++) {
        if (count)
          await c.send(
            new CountTokensCommand({ modelId: "anthropic.claude-flaky-v1", input: { converse: conversation } })
          )
        out.push(
          await c.send(new ConverseCommand({ modelId: "anthropic.claude-flaky-v1", ...conversation })).then(
            () => "ok",
            (e: Error) => e.name
          )
        )
      }
      await handle.close()
      return out
    }
    const plain = await outcomes(false)
    assert.include(plain, "ok")
    assert.isTrue(plain.some((o) => o !== "ok"))
    assert.deepStrictEqual(await outcomes(true), plain)
  })
})
