/**
 * The chat model families of `InvokeModel` / `InvokeModelWithResponseStream`, as data: for each, which
 * model ids speak it, the JSON Schema its body must satisfy (see `NativeSchema`), how to read the body
 * as a conversation for the `Responder`, and how to write the answer back in the family's own format —
 * as one body, and as the chunks of its native streaming events.
 *
 * Formats (Bedrock's model-parameter pages): Anthropic Messages (`anthropic_version`, `max_tokens`,
 * `messages` → `message` / `message_start` … `message_stop`), Amazon Titan Text (`inputText` →
 * `results[]`), Meta Llama (`prompt` → `generation`), Mistral (`prompt` → `outputs[]`, or chat
 * `messages` → `choices[]`), Cohere Command R (`message` → `text`, events `stream-start` …
 * `stream-end`) and Command (`prompt` → `generations[]`), Amazon Nova (`messages` → `output.message`,
 * events `messageStart` … `metadata`), DeepSeek-R1 (`prompt` → `choices[].text`), and for every
 * other vendor the OpenAI-style chat completion
 * (`messages` → `choices[]`, `chat.completion.chunk`s). Families are tried in order; the last matches
 * any id, so a scenario-only model speaks the OpenAI-style format.
 *
 * @since 0.1.0
 */
import type { Answer, AnswerBlock, ConverseLikeRequest } from "./Responder.ts"
import { any, bool, int, list, num, object, oneOf, openObject, type Schema, str } from "./NativeSchema.ts"

type Json = Record<string, unknown>

/** One chunk of a native stream; `tokens > 0` marks a delta (counted by `streamBreakAfterDeltas`, paced per token). */
export interface Part {
  readonly body: Json
  readonly tokens: number
}

/** What an answer needs besides the answer itself. */
export interface AnswerContext {
  readonly modelId: string
  /** A fresh id for the family's `id` fields. */
  readonly id: string
  /** Epoch seconds (OpenAI-style `created`). */
  readonly created: number
  /** Splits a text or a tool input into stream deltas. */
  readonly textDeltas: (text: string) => ReadonlyArray<string>
  readonly jsonDeltas: (json: string) => ReadonlyArray<string>
}

/** One native chat format. */
export interface Family {
  readonly name: string
  readonly matches: (modelId: string) => boolean
  /** The schema the body must satisfy (some families accept two forms and pick by the body). */
  readonly schema: (body: Json) => Schema
  /** Issues Bedrock reports ahead of the schema's own when the body fails (Anthropic's legacy-prompt branch). */
  readonly preface?: (body: Json) => ReadonlyArray<string>
  readonly request: (body: Json) => ConverseLikeRequest
  readonly answer: (answer: Answer, context: AnswerContext) => Json
  readonly stream: (answer: Answer, context: AnswerContext) => ReadonlyArray<Part>
}

// ---------------------------------------------------------------------------------------------
// Reading bodies
// ---------------------------------------------------------------------------------------------

const rec = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? v as Json : {})
const arr = (v: unknown): ReadonlyArray<unknown> => (Array.isArray(v) ? v : [])
const txt = (v: unknown): string => (typeof v === "string" ? v : "")
const numOr = (v: unknown, fallback: number): number => (typeof v === "number" ? v : fallback)

type Turn = ConverseLikeRequest["messages"][number]
const turn = (role: string, text: string): Turn => ({ role, content: [{ text }] })

/** Text of a string-or-blocks content (OpenAI, Mistral chat). */
const contentText = (content: unknown): string =>
  typeof content === "string"
    ? content
    : arr(content).map((b) => txt(rec(b)["text"])).filter((t) => t !== "").join("\n")

const conversation = (
  turns: ReadonlyArray<{ readonly role: string; readonly text: string }>,
  maxTokens: number,
  system?: string
): ConverseLikeRequest => ({
  messages: turns.filter((t) => t.role !== "system").map((t) => turn(t.role, t.text)),
  system: [system, ...turns.filter((t) => t.role === "system").map((t) => t.text)]
    .filter((s): s is string => s !== undefined && s !== "")
    .map((text) => ({ text })),
  inferenceConfig: { maxTokens }
})

const llama3Turn = /<\|start_header_id\|>(\w+)<\|end_header_id\|>([\s\S]*?)(?=<\|eot_id\|>|<\|start_header_id\|>|$)/g

/** Llama 3 header tokens, or Llama 2 / Mistral `[INST]` pairs, as turns; else the prompt is one user turn. */
export const promptTurns = (prompt: string): ReadonlyArray<{ readonly role: string; readonly text: string }> => {
  const headers = [...prompt.matchAll(llama3Turn)]
  if (headers.length > 0) {
    return headers.map((m) => ({ role: m[1]!, text: m[2]!.trim() })).filter((t) => t.text !== "")
  }
  const pairs = [...prompt.matchAll(/\[INST\]([\s\S]*?)\[\/INST\]([\s\S]*?)(?=\[INST\]|$)/g)]
  if (pairs.length > 0) {
    return pairs.flatMap((m) => {
      const sys = /<<SYS>>([\s\S]*?)<<\/SYS>>/.exec(m[1]!)
      const question = m[1]!.replace(/<<SYS>>[\s\S]*?<<\/SYS>>/, "").trim()
      const reply = m[2]!.replace(/<\/?s>/g, "").trim()
      return [
        ...(sys ? [{ role: "system", text: sys[1]!.trim() }] : []),
        { role: "user", text: question },
        ...(reply === "" ? [] : [{ role: "assistant", text: reply }])
      ]
    })
  }
  // DeepSeek's special tokens (<｜User｜>, <｜Assistant｜>) and Human:/Assistant: framing are not the question.
  const bare = prompt
    .replace(/<｜[^｜]*｜>/g, " ")
    .replace(/^\s*(Human|User):\s*/i, "")
    .replace(/\s*(Assistant|Bot):\s*$/i, "")
  return [{ role: "user", text: bare.trim() }]
}

// ---------------------------------------------------------------------------------------------
// Writing answers
// ---------------------------------------------------------------------------------------------

const answerText = (a: Answer): string => a.content.map((b) => ("text" in b ? b.text : "")).join("")

/** Text deltas of an answer, one `Part` per delta, built by `make`. */
const textParts = (a: Answer, c: AnswerContext, make: (delta: string, first: boolean) => Json): ReadonlyArray<Part> =>
  c.textDeltas(answerText(a)).map((delta, i) => ({ body: make(delta, i === 0), tokens: Math.max(1, tokenish(delta)) }))

const tokenish = (s: string): number => (s.match(/[A-Za-z0-9]+|[^\sA-Za-z0-9]/g) ?? []).length

const meta = (body: Json): Part => ({ body, tokens: 0 })

/** Stop reasons per family, from the Responder's Converse-style ones. */
const stop = (a: Answer, names: { readonly end: string; readonly length: string; readonly tool?: string }): string =>
  a.stopReason === "max_tokens" ? names.length : a.stopReason === "tool_use" && names.tool ? names.tool : names.end

// ---------------------------------------------------------------------------------------------
// Anthropic Messages
// ---------------------------------------------------------------------------------------------

const anthropicBlock: Schema = {
  type: "object",
  required: ["type"],
  properties: { type: oneOf("text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking") },
  additional: true
}
const anthropicContent: Schema = { anyOf: [str, list(anthropicBlock, 1)] }
const anthropicSchema = object({
  anthropic_version: str,
  anthropic_beta: list(str),
  max_tokens: int(1),
  messages: list(object({ role: oneOf("user", "assistant"), content: anthropicContent }, ["role", "content"]), 1),
  system: { anyOf: [str, list(anthropicBlock)] },
  stop_sequences: list(str),
  temperature: num(0, 1),
  top_p: num(0, 1),
  top_k: int(0),
  tools: list(openObject),
  tool_choice: openObject,
  thinking: openObject
}, ["anthropic_version", "max_tokens", "messages"])

const fromAnthropicBlock = (block: unknown): Json => {
  const b = rec(block)
  const source = rec(b["source"])
  switch (b["type"]) {
    case "text":
      return { text: txt(b["text"]) }
    case "image":
      return { image: { format: txt(source["media_type"]).replace("image/", ""), source: { bytes: source["data"] } } }
    case "document":
      return { document: { source: source["type"] === "text" ? { text: source["data"] } : { bytes: source["data"] } } }
    case "tool_use":
      return { toolUse: { toolUseId: b["id"], name: b["name"], input: b["input"] } }
    case "tool_result": {
      const content = typeof b["content"] === "string"
        ? [{ text: b["content"] }]
        : arr(b["content"]).map((c) => (rec(c)["type"] === "text" ? { text: txt(rec(c)["text"]) } : { json: c }))
      return { toolResult: { toolUseId: b["tool_use_id"], content } }
    }
    default:
      return {}
  }
}
const anthropicBlocks = (content: unknown): ReadonlyArray<Json> =>
  typeof content === "string" ? [{ text: content }] : arr(content).map(fromAnthropicBlock)

const toAnthropicBlock = (b: AnswerBlock): Json =>
  "text" in b
    ? { type: "text", text: b.text }
    : { type: "tool_use", id: b.toolUse.toolUseId, name: b.toolUse.name, input: b.toolUse.input }

const anthropicStop = (a: Answer) => stop(a, { end: "end_turn", length: "max_tokens", tool: "tool_use" })

const legacyBranch = `#: subject must not be valid against schema {"required":["messages"]}`

const anthropic: Family = {
  name: "anthropic",
  matches: (id) => id.startsWith("anthropic."),
  schema: () => anthropicSchema,
  // Bedrock's Anthropic schema also allows the legacy text-completion body, which must lack `messages`.
  preface: (body) => ("messages" in body ? [legacyBranch] : []),
  request: (body) => ({
    messages: arr(body["messages"]).map((m) => ({
      role: txt(rec(m)["role"]),
      content: anthropicBlocks(rec(m)["content"])
    })),
    system: body["system"] === undefined ? undefined : anthropicBlocks(body["system"]),
    inferenceConfig: { maxTokens: numOr(body["max_tokens"], 512) },
    toolConfig: body["tools"] === undefined ? undefined : {
      tools: arr(body["tools"]).map((t) => ({
        toolSpec: { name: rec(t)["name"], inputSchema: { json: rec(t)["input_schema"] } }
      }))
    }
  }),
  answer: (a, c) => ({
    id: `msg_bdrk_${c.id.replaceAll("-", "").slice(0, 24)}`,
    type: "message",
    role: "assistant",
    model: c.modelId,
    content: a.content.map(toAnthropicBlock),
    stop_reason: anthropicStop(a),
    stop_sequence: null,
    usage: { input_tokens: a.inputTokens, output_tokens: a.outputTokens }
  }),
  stream: (a, c) => [
    meta({
      type: "message_start",
      message: {
        id: `msg_bdrk_${c.id.replaceAll("-", "").slice(0, 24)}`,
        type: "message",
        role: "assistant",
        model: c.modelId,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: a.inputTokens, output_tokens: 1 }
      }
    }),
    ...a.content.flatMap((b, index): ReadonlyArray<Part> => [
      meta({
        type: "content_block_start",
        index,
        content_block: "text" in b
          ? { type: "text", text: "" }
          : { type: "tool_use", id: b.toolUse.toolUseId, name: b.toolUse.name, input: {} }
      }),
      ...("text" in b
        ? c.textDeltas(b.text).map((text) => ({
          body: { type: "content_block_delta", index, delta: { type: "text_delta", text } },
          tokens: Math.max(1, tokenish(text))
        }))
        : c.jsonDeltas(JSON.stringify(b.toolUse.input)).map((partial_json) => ({
          body: { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json } },
          tokens: Math.max(1, tokenish(partial_json))
        }))),
      meta({ type: "content_block_stop", index })
    ]),
    meta({
      type: "message_delta",
      delta: { stop_reason: anthropicStop(a), stop_sequence: null },
      usage: { output_tokens: a.outputTokens }
    }),
    meta({ type: "message_stop" })
  ]
}

// ---------------------------------------------------------------------------------------------
// Amazon Titan Text
// ---------------------------------------------------------------------------------------------

const titanStop = (a: Answer) => stop(a, { end: "FINISH", length: "LENGTH" })

const titanText: Family = {
  name: "titan-text",
  matches: (id) => id.startsWith("amazon.titan-text-") || id.startsWith("amazon.titan-tg1"),
  schema: () =>
    object({
      inputText: str,
      textGenerationConfig: object({
        temperature: num(0, 1),
        topP: num(0, 1),
        maxTokenCount: int(0),
        stopSequences: list(str)
      })
    }, ["inputText"]),
  request: (body) =>
    conversation(promptTurns(txt(body["inputText"])), numOr(rec(body["textGenerationConfig"])["maxTokenCount"], 512)),
  answer: (a) => ({
    inputTextTokenCount: a.inputTokens,
    results: [{ tokenCount: a.outputTokens, outputText: answerText(a), completionReason: titanStop(a) }]
  }),
  stream: (a, c) => [
    ...textParts(a, c, (outputText, first) => ({
      outputText,
      index: 0,
      totalOutputTextTokenCount: null,
      completionReason: null,
      inputTextTokenCount: first ? a.inputTokens : null
    })),
    meta({
      outputText: "",
      index: 0,
      totalOutputTextTokenCount: a.outputTokens,
      completionReason: titanStop(a),
      inputTextTokenCount: null
    })
  ]
}

// ---------------------------------------------------------------------------------------------
// Meta Llama
// ---------------------------------------------------------------------------------------------

const llamaStop = (a: Answer) => stop(a, { end: "stop", length: "length" })

const llama: Family = {
  name: "llama",
  matches: (id) => id.startsWith("meta.llama"),
  schema: () =>
    object(
      { prompt: str, temperature: num(0, 1), top_p: num(0, 1), max_gen_len: int(1), images: list(str) },
      ["prompt"]
    ),
  request: (body) => conversation(promptTurns(txt(body["prompt"])), numOr(body["max_gen_len"], 512)),
  answer: (a) => ({
    generation: answerText(a),
    prompt_token_count: a.inputTokens,
    generation_token_count: a.outputTokens,
    stop_reason: llamaStop(a)
  }),
  stream: (a, c) => {
    let generated = 0
    return [
      ...textParts(a, c, (generation, first) => ({
        generation,
        prompt_token_count: first ? a.inputTokens : null,
        generation_token_count: (generated += Math.max(1, tokenish(generation))),
        stop_reason: null
      })),
      meta({
        generation: "",
        prompt_token_count: null,
        generation_token_count: a.outputTokens,
        stop_reason: llamaStop(a)
      })
    ]
  }
}

// ---------------------------------------------------------------------------------------------
// Mistral
// ---------------------------------------------------------------------------------------------

const mistralStop = (a: Answer) => stop(a, { end: "stop", length: "length", tool: "tool_calls" })
const mistralChat = (body: Json) => "messages" in body

const mistral: Family = {
  name: "mistral",
  matches: (id) => id.startsWith("mistral."),
  schema: (body) =>
    mistralChat(body)
      ? object({
        messages: list(object({ role: oneOf("system", "user", "assistant", "tool"), content: any }, ["role"], true), 1),
        max_tokens: int(1),
        temperature: num(0, 1),
        top_p: num(0, 1),
        stop: list(str),
        tools: list(openObject),
        tool_choice: any,
        response_format: openObject
      }, ["messages"])
      : object(
        { prompt: str, max_tokens: int(1), stop: list(str), temperature: num(0, 1), top_p: num(0, 1), top_k: int(0) },
        ["prompt"]
      ),
  request: (body) =>
    mistralChat(body)
      ? conversation(
        arr(body["messages"]).map((m) => ({ role: txt(rec(m)["role"]), text: contentText(rec(m)["content"]) })),
        numOr(body["max_tokens"], 512)
      )
      : conversation(promptTurns(txt(body["prompt"])), numOr(body["max_tokens"], 512)),
  answer: (a) => ({ outputs: [{ text: answerText(a), stop_reason: mistralStop(a) }] }),
  stream: (a, c) => [
    ...textParts(a, c, (text) => ({ outputs: [{ text, stop_reason: null }] })),
    meta({ outputs: [{ text: "", stop_reason: mistralStop(a) }] })
  ]
}

/** Mistral's chat form answers with `choices`, so it is its own family for the answer's shape. */
const mistralChatFamily: Family = {
  ...mistral,
  name: "mistral-chat",
  matches: () => false,
  answer: (a) => ({
    choices: [{ index: 0, message: { role: "assistant", content: answerText(a) }, stop_reason: mistralStop(a) }]
  }),
  stream: (a, c) => [
    ...textParts(a, c, (content) => ({
      choices: [{ index: 0, message: { role: "assistant", content }, stop_reason: null }]
    })),
    meta({ choices: [{ index: 0, message: { role: "assistant", content: "" }, stop_reason: mistralStop(a) }] })
  ]
}

// ---------------------------------------------------------------------------------------------
// Cohere Command R and Command
// ---------------------------------------------------------------------------------------------

const cohereStop = (a: Answer) => stop(a, { end: "COMPLETE", length: "MAX_TOKENS" })

const cohereR: Family = {
  name: "cohere-command-r",
  matches: (id) => id.startsWith("cohere.command-r"),
  schema: () =>
    object({
      message: str,
      chat_history: list(object({ role: oneOf("USER", "CHATBOT", "SYSTEM", "TOOL"), message: str }, ["role"], true)),
      preamble: str,
      max_tokens: int(1),
      temperature: num(0, 1),
      p: num(0, 1),
      k: int(0, 500),
      stop_sequences: list(str),
      documents: list(openObject),
      search_queries_only: bool,
      tools: list(openObject),
      tool_results: list(openObject)
    }, ["message"], true),
  request: (body) =>
    conversation(
      [
        ...arr(body["chat_history"]).map((m) => ({
          role: rec(m)["role"] === "CHATBOT" ? "assistant" : rec(m)["role"] === "SYSTEM" ? "system" : "user",
          text: txt(rec(m)["message"])
        })),
        { role: "user", text: txt(body["message"]) }
      ],
      numOr(body["max_tokens"], 512),
      txt(body["preamble"])
    ),
  answer: (a, c) => ({
    response_id: c.id,
    text: answerText(a),
    generation_id: c.id,
    chat_history: [],
    finish_reason: cohereStop(a)
  }),
  stream: (a, c) => [
    meta({ is_finished: false, event_type: "stream-start", generation_id: c.id }),
    ...textParts(a, c, (text) => ({ is_finished: false, event_type: "text-generation", text })),
    meta({
      is_finished: true,
      event_type: "stream-end",
      response: cohereR.answer(a, c),
      finish_reason: cohereStop(a)
    })
  ]
}

const cohereCommand: Family = {
  name: "cohere-command",
  matches: (id) => id.startsWith("cohere.command"),
  schema: () =>
    object({
      prompt: str,
      temperature: num(0, 5),
      p: num(0, 1),
      k: int(0, 500),
      max_tokens: int(1),
      stop_sequences: list(str),
      return_likelihoods: oneOf("GENERATION", "ALL", "NONE"),
      stream: bool,
      num_generations: int(1, 5),
      logit_bias: openObject,
      truncate: oneOf("NONE", "START", "END")
    }, ["prompt"]),
  request: (body) => conversation(promptTurns(txt(body["prompt"])), numOr(body["max_tokens"], 512)),
  answer: (a, c) => ({
    generations: [{ id: c.id, text: answerText(a), finish_reason: cohereStop(a) }],
    id: c.id,
    prompt: ""
  }),
  stream: (a, c) => [
    ...textParts(a, c, (text) => ({ text, is_finished: false })),
    meta({ is_finished: true, finish_reason: cohereStop(a), response: cohereCommand.answer(a, c) })
  ]
}

// ---------------------------------------------------------------------------------------------
// Amazon Nova
// ---------------------------------------------------------------------------------------------

const novaStop = (a: Answer) => stop(a, { end: "end_turn", length: "max_tokens", tool: "tool_use" })
const novaUsage = (a: Answer) => ({
  inputTokens: a.inputTokens,
  outputTokens: a.outputTokens,
  totalTokens: a.inputTokens + a.outputTokens,
  cacheReadInputTokenCount: 0,
  cacheWriteInputTokenCount: 0
})

const toolStart = (toolUse: { readonly toolUseId: string; readonly name: string }) => ({
  toolUseId: toolUse.toolUseId,
  name: toolUse.name
})

const nova: Family = {
  name: "nova",
  matches: (id) => id.startsWith("amazon.nova"),
  schema: () =>
    object({
      schemaVersion: str,
      messages: list(
        object({ role: oneOf("user", "assistant"), content: list(openObject, 1) }, ["role", "content"]),
        1
      ),
      system: list(openObject),
      inferenceConfig: object({
        maxTokens: int(1),
        max_new_tokens: int(1),
        temperature: num(0, 1),
        topP: num(0, 1),
        top_p: num(0, 1),
        topK: int(0),
        top_k: int(0),
        stopSequences: list(str),
        reasoningConfig: openObject
      }),
      toolConfig: openObject,
      additionalModelRequestFields: openObject
    }, ["messages"]),
  request: (body) => {
    const config = rec(body["inferenceConfig"])
    return {
      messages: arr(body["messages"]).map((m) => ({
        role: txt(rec(m)["role"]),
        content: arr(rec(m)["content"]).map(rec)
      })),
      system: arr(body["system"]).map(rec),
      inferenceConfig: { maxTokens: numOr(config["maxTokens"], numOr(config["max_new_tokens"], 512)) },
      toolConfig: body["toolConfig"] === undefined
        ? undefined
        : { tools: arr(rec(body["toolConfig"])["tools"]).map(rec) }
    }
  },
  answer: (a) => ({
    output: { message: { role: "assistant", content: a.content } },
    stopReason: novaStop(a),
    usage: novaUsage(a)
  }),
  stream: (a, c) => [
    meta({ messageStart: { role: "assistant" } }),
    ...a.content.flatMap((b, contentBlockIndex): ReadonlyArray<Part> => [
      ...("toolUse" in b
        ? [meta({ contentBlockStart: { start: { toolUse: toolStart(b.toolUse) }, contentBlockIndex } })]
        : []),
      ...("text" in b
        ? c.textDeltas(b.text).map((text) => ({
          body: { contentBlockDelta: { delta: { text }, contentBlockIndex } },
          tokens: Math.max(1, tokenish(text))
        }))
        : c.jsonDeltas(JSON.stringify(b.toolUse.input)).map((input) => ({
          body: { contentBlockDelta: { delta: { toolUse: { input } }, contentBlockIndex } },
          tokens: Math.max(1, tokenish(input))
        }))),
      meta({ contentBlockStop: { contentBlockIndex } })
    ]),
    meta({ messageStop: { stopReason: novaStop(a) } }),
    meta({ metadata: { usage: { inputTokens: a.inputTokens, outputTokens: a.outputTokens }, metrics: {}, trace: {} } })
  ]
}

// ---------------------------------------------------------------------------------------------
// DeepSeek-R1 (a prompt body, answered with text choices)
// ---------------------------------------------------------------------------------------------

const deepSeekR1: Family = {
  name: "deepseek-r1",
  matches: (id) => id.startsWith("deepseek.r1"),
  schema: () =>
    object({ prompt: str, max_tokens: int(1), temperature: num(0, 1), top_p: num(0, 1), stop: list(str) }, ["prompt"]),
  request: (body) => conversation(promptTurns(txt(body["prompt"])), numOr(body["max_tokens"], 512)),
  answer: (a) => ({ choices: [{ text: answerText(a), stop_reason: stop(a, { end: "stop", length: "length" }) }] }),
  stream: (a, c) => [
    ...textParts(a, c, (text) => ({ choices: [{ text, stop_reason: null }] })),
    meta({ choices: [{ text: "", stop_reason: stop(a, { end: "stop", length: "length" }) }] })
  ]
}

// ---------------------------------------------------------------------------------------------
// OpenAI-style chat completions (every other vendor)
// ---------------------------------------------------------------------------------------------

const openAiStop = (a: Answer) => stop(a, { end: "stop", length: "length", tool: "tool_calls" })

const chatCompletions: Family = {
  name: "chat-completions",
  matches: () => true,
  schema: () =>
    object({
      messages: list(
        object({ role: oneOf("system", "developer", "user", "assistant", "tool"), content: any }, ["role"], true),
        1
      ),
      max_tokens: int(1),
      max_completion_tokens: int(1),
      temperature: num(0, 2),
      top_p: num(0, 1),
      stop: any
    }, ["messages"], true),
  request: (body) =>
    conversation(
      arr(body["messages"]).map((m) => ({
        role: rec(m)["role"] === "developer" ? "system" : txt(rec(m)["role"]),
        text: contentText(rec(m)["content"])
      })),
      numOr(body["max_completion_tokens"], numOr(body["max_tokens"], 512))
    ),
  answer: (a, c) => ({
    id: `chatcmpl-${c.id}`,
    object: "chat.completion",
    created: c.created,
    model: c.modelId,
    choices: [{ index: 0, message: { role: "assistant", content: answerText(a) }, finish_reason: openAiStop(a) }],
    usage: {
      prompt_tokens: a.inputTokens,
      completion_tokens: a.outputTokens,
      total_tokens: a.inputTokens + a.outputTokens
    }
  }),
  stream: (a, c) => {
    const chunk = (delta: Json, finish: string | null) => ({
      id: `chatcmpl-${c.id}`,
      object: "chat.completion.chunk",
      created: c.created,
      model: c.modelId,
      choices: [{ index: 0, delta, finish_reason: finish }]
    })
    return [
      ...textParts(a, c, (content, first) => chunk(first ? { role: "assistant", content } : { content }, null)),
      meta(chunk({}, openAiStop(a)))
    ]
  }
}

/** The chat families, most specific first; the last matches every id. */
export const families: ReadonlyArray<Family> = [
  anthropic,
  titanText,
  llama,
  mistral,
  cohereR,
  cohereCommand,
  nova,
  deepSeekR1,
  chatCompletions
]

/** The family that answers `modelId` for this body (Mistral's chat form answers in its own shape). */
export const familyOf = (modelId: string, body: Json): Family => {
  const family = families.find((f) => f.matches(modelId))!
  return family === mistral && mistralChat(body) ? mistralChatFamily : family
}
