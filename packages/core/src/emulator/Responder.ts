/**
 * The emulator's generic answer generator: a small, deterministic "model" that understands plain
 * instructions well enough to answer the kind of prompts a certification (or a user's own offline
 * test) sends — arithmetic, echo, recall from the conversation or an attached document, JSON on
 * request, counting, tool calls when tools are offered, the colour of an attached PNG — and that can
 * be told to answer badly (`quality`) so tests can exercise wrong answers.
 *
 * It knows nothing about the certification suite: it reads the request, not test ids.
 *
 * **Rules**, applied to the last user turn (earlier turns, the system prompt and documents are context):
 * - a `toolResult` in the last turn → a sentence that reports the tool result's values;
 * - tools offered → a `toolUse` of the tool named in the prompt (else the first), with an input built
 *   from its JSON schema (strings taken from the prompt: "in Paris" → `"Paris"`; enums → first value);
 * - `word: X` / `the single word: X` / `repeat exactly: X` → `X`;
 * - `What is A <op> B` → the number;
 * - `count from A to B` → the numbers, space separated (truncated at `maxTokens` → `max_tokens`);
 * - `JSON object with keys "k" (type), …` → a JSON object with those keys and types;
 * - `what is the <phrase>?` → `X` when the context says `<phrase> is X` or `<phrase>: X`;
 * - an attached PNG and a question about colour → the colour name;
 * - system prompt `end every reply with M` / `start every reply with M` / `uppercase` → applied.
 *
 * @since 0.1.0
 */
import { inflateSync } from "node:zlib"

/** The parts of a Converse request the responder reads. */
export interface ConverseLikeRequest {
  readonly messages: ReadonlyArray<{ readonly role: string; readonly content: ReadonlyArray<Record<string, unknown>> }>
  readonly system?: ReadonlyArray<Record<string, unknown>> | undefined
  readonly inferenceConfig?: { readonly maxTokens?: number | undefined; readonly temperature?: number | undefined } | undefined
  readonly toolConfig?: {
    readonly tools?: ReadonlyArray<Record<string, unknown>> | undefined
    readonly toolChoice?: Record<string, unknown> | undefined
  } | undefined
}

/** How well the emulated model answers. `broken-stream` answers well; the server breaks the stream. */
export type Quality = "good" | "wrong" | "broken-json" | "no-tools" | "broken-stream"

export type AnswerBlock =
  | { readonly text: string }
  | { readonly toolUse: { readonly toolUseId: string; readonly name: string; readonly input: unknown } }

export interface Answer {
  readonly content: ReadonlyArray<AnswerBlock>
  readonly stopReason: "end_turn" | "tool_use" | "max_tokens" | "content_filtered" | "guardrail_intervened"
  readonly inputTokens: number
  readonly outputTokens: number
}

/** A rough token count: words and punctuation runs. */
export const tokenCount = (text: string): number => {
  const m = text.match(/[A-Za-z0-9]+|[^\sA-Za-z0-9]/g)
  return m === null ? 0 : m.length
}

// ---------------------------------------------------------------------------------------------
// Reading the request
// ---------------------------------------------------------------------------------------------

const textOf = (blocks: ReadonlyArray<Record<string, unknown>> | undefined): string =>
  (blocks ?? []).map((b) => (typeof b["text"] === "string" ? b["text"] : "")).filter((s) => s.length > 0).join("\n")

const decodeBytes = (bytes: unknown): Uint8Array | undefined => {
  if (bytes instanceof Uint8Array) return bytes
  if (typeof bytes === "string") return Buffer.from(bytes, "base64")
  return undefined
}

const documentsText = (blocks: ReadonlyArray<Record<string, unknown>>): string => {
  const out: Array<string> = []
  for (const b of blocks) {
    const doc = b["document"] as { source?: { bytes?: unknown; text?: unknown } } | undefined
    if (doc === undefined || doc.source === undefined) continue
    if (typeof doc.source.text === "string") out.push(doc.source.text)
    const bytes = decodeBytes(doc.source.bytes)
    if (bytes !== undefined) out.push(Buffer.from(bytes).toString("utf8"))
  }
  return out.join("\n")
}

const imagesOf = (blocks: ReadonlyArray<Record<string, unknown>>): ReadonlyArray<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (const b of blocks) {
    const img = b["image"] as { source?: { bytes?: unknown } } | undefined
    const bytes = decodeBytes(img?.source?.bytes)
    if (bytes !== undefined) out.push(bytes)
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// PNG colour
// ---------------------------------------------------------------------------------------------

const palette: ReadonlyArray<readonly [string, number, number, number]> = [
  ["red", 220, 30, 30],
  ["green", 30, 170, 40],
  ["blue", 30, 60, 220],
  ["yellow", 235, 220, 40],
  ["orange", 240, 140, 20],
  ["purple", 130, 40, 170],
  ["white", 245, 245, 245],
  ["black", 10, 10, 10],
  ["gray", 128, 128, 128]
]

/** The name of the average colour of a PNG (8-bit RGB/RGBA, any filter), or undefined if unreadable. */
export const dominantColor = (png: Uint8Array): string | undefined => {
  const buf = Buffer.from(png)
  if (buf.length < 33 || buf.readUInt32BE(0) !== 0x89504e47) return undefined
  let offset = 8
  let width = 0
  let height = 0
  let colorType = 0
  let bitDepth = 0
  const idat: Array<Buffer> = []
  while (offset + 8 <= buf.length) {
    const len = buf.readUInt32BE(offset)
    const type = buf.toString("ascii", offset + 4, offset + 8)
    const data = buf.subarray(offset + 8, offset + 8 + len)
    if (type === "IHDR") {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      bitDepth = data[8]!
      colorType = data[9]!
    } else if (type === "IDAT") idat.push(data)
    else if (type === "IEND") break
    offset += 12 + len
  }
  const channels = colorType === 2 ? 3 : colorType === 6 ? 4 : 0
  if (channels === 0 || bitDepth !== 8 || width === 0 || height === 0) return undefined
  let raw: Buffer
  try {
    raw = inflateSync(Buffer.concat(idat))
  } catch {
    return undefined
  }
  const stride = width * channels
  if (raw.length < height * (stride + 1)) return undefined
  const prev = new Uint8Array(stride)
  const cur = new Uint8Array(stride)
  let r = 0
  let g = 0
  let b = 0
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x]!
      const left = x >= channels ? cur[x - channels]! : 0
      const up = prev[x]!
      const upLeft = x >= channels ? prev[x - channels]! : 0
      let out = v
      if (filter === 1) out = v + left
      else if (filter === 2) out = v + up
      else if (filter === 3) out = v + ((left + up) >> 1)
      else if (filter === 4) {
        const p = left + up - upLeft
        const pa = Math.abs(p - left)
        const pb = Math.abs(p - up)
        const pc = Math.abs(p - upLeft)
        out = v + (pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft)
      }
      cur[x] = out & 0xff
    }
    for (let x = 0; x < width; x++) {
      r += cur[x * channels]!
      g += cur[x * channels + 1]!
      b += cur[x * channels + 2]!
    }
    prev.set(cur)
  }
  const n = width * height
  const [ar, ag, ab] = [r / n, g / n, b / n]
  let best = palette[0]!
  let bestD = Infinity
  for (const c of palette) {
    const d = (c[1] - ar) ** 2 + (c[2] - ag) ** 2 + (c[3] - ab) ** 2
    if (d < bestD) {
      bestD = d
      best = c
    }
  }
  return best[0]
}

// ---------------------------------------------------------------------------------------------
// Tool input from a JSON schema
// ---------------------------------------------------------------------------------------------

type JsonSchema = {
  readonly type?: string | ReadonlyArray<string>
  readonly properties?: Record<string, JsonSchema>
  readonly required?: ReadonlyArray<string>
  readonly enum?: ReadonlyArray<unknown>
  readonly items?: JsonSchema
}

const subjectOf = (prompt: string): string | undefined => {
  const m = prompt.match(/\b(?:in|for|of|about|describing|named)\s+([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)/)
  return m?.[1]
}

const valueFor = (schema: JsonSchema, key: string, prompt: string, wrong: boolean): unknown => {
  if (schema.enum !== undefined && schema.enum.length > 0) return wrong ? "__invalid__" : schema.enum[0]
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case "number":
    case "integer": {
      const m = prompt.match(new RegExp(`${key}\\D{0,20}?(\\d+(?:\\.\\d+)?)`, "i"))
      return wrong ? "not-a-number" : m !== null ? Number(m[1]) : 1
    }
    case "boolean":
      return wrong ? "yes" : true
    case "array":
      return [valueFor(schema.items ?? { type: "string" }, key, prompt, wrong)]
    case "object":
      return inputFor(schema, prompt, wrong)
    default: {
      if (wrong) return 42
      return subjectOf(prompt) ?? "example"
    }
  }
}

const inputFor = (schema: JsonSchema, prompt: string, wrong: boolean): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  const props = schema.properties ?? {}
  const required = schema.required ?? Object.keys(props)
  for (const key of required) {
    if (wrong && key === required[0]) continue // a broken model drops a required field
    out[key] = valueFor(props[key] ?? {}, key, prompt, wrong)
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Text rules
// ---------------------------------------------------------------------------------------------

const arithmetic = (prompt: string, wrong: boolean): string | undefined => {
  const m = prompt.match(/(-?\d+(?:\.\d+)?)\s*(\+|-|\*|x|×|\/|plus|minus|times|divided by)\s*(-?\d+(?:\.\d+)?)/i)
  if (m === null) return undefined
  const a = Number(m[1])
  const b = Number(m[3])
  const op = m[2]!.toLowerCase()
  const value = op === "+" || op === "plus"
    ? a + b
    : op === "-" || op === "minus"
    ? a - b
    : op === "/" || op === "divided by"
    ? a / b
    : a * b
  const result = wrong ? value + 1 : value
  return Number.isInteger(result) ? String(result) : result.toFixed(2)
}

const counting = (prompt: string): string | undefined => {
  const m = prompt.match(/count(?:ing)? from (\d+) to (\d+)/i)
  if (m === null) return undefined
  const from = Number(m[1])
  const to = Math.min(Number(m[2]), from + 5000)
  const out: Array<number> = []
  for (let i = from; i <= to; i++) out.push(i)
  return out.join(" ")
}

const literal = (prompt: string): string | undefined => {
  const m = prompt.match(/(?:repeat exactly|echo|the (?:single )?word|reply with (?:only )?the (?:single )?word)\s*:\s*(.+?)\s*$/im)
  return m?.[1]?.replace(/^["'“]|["'”.]$/g, "")
}

const jsonRequest = (prompt: string, wrong: boolean): string | undefined => {
  if (!/json/i.test(prompt)) return undefined
  const keys = [...prompt.matchAll(/"([\w-]+)"\s*\((string|number|integer|boolean|array)\)/gi)]
  if (keys.length === 0) return undefined
  const subject = subjectOf(prompt)
  const obj: Record<string, unknown> = {}
  for (const [, key, type] of keys) {
    const t = type!.toLowerCase()
    obj[key!] = wrong
      ? t === "string" ? 7 : "seven"
      : t === "string"
      ? subject ?? "example"
      : t === "number" || t === "integer"
      ? 7
      : t === "boolean"
      ? true
      : []
  }
  return JSON.stringify(obj)
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const recall = (prompt: string, context: string, wrong: boolean): string | undefined => {
  const q = prompt.match(/what (?:is|was) the ([\w -]{2,40}?)\s*(?:\?|$|in the|according)/i)
  if (q === null) return undefined
  const phrase = q[1]!.trim()
  const m = context.match(new RegExp(`${escapeRe(phrase)}\\s*(?:is|was|:)\\s*["'“]?([A-Za-z0-9_-]+)`, "i"))
  if (m === null) return undefined
  return wrong ? `${m[1]!}X` : m[1]!
}

const colourQuestion = (prompt: string, images: ReadonlyArray<Uint8Array>, wrong: boolean): string | undefined => {
  if (images.length === 0) return undefined
  const colour = dominantColor(images[0]!)
  if (colour === undefined) return "I see an image."
  if (!/colou?r/i.test(prompt)) return `The image is mostly ${colour}.`
  if (wrong) return colour === "blue" ? "green" : "blue"
  return colour
}

const toolResultSummary = (blocks: ReadonlyArray<Record<string, unknown>>): string | undefined => {
  const results = blocks.map((b) => b["toolResult"] as { content?: ReadonlyArray<Record<string, unknown>> } | undefined)
    .filter((r) => r !== undefined)
  if (results.length === 0) return undefined
  const parts: Array<string> = []
  for (const r of results) {
    for (const c of r!.content ?? []) {
      if (typeof c["text"] === "string") parts.push(c["text"])
      if (c["json"] !== undefined && c["json"] !== null && typeof c["json"] === "object") {
        for (const [k, v] of Object.entries(c["json"] as Record<string, unknown>)) parts.push(`${k} ${String(v)}`)
      }
    }
  }
  return `According to the tool: ${parts.join(", ")}.`
}

const applySystem = (text: string, system: string): string => {
  let out = text
  if (/upper\s*case/i.test(system)) out = out.toUpperCase()
  const start = system.match(/(?:start|begin) every (?:reply|answer|response) with (?:the marker )?["'“]?(\S+?)["'”]?(?:\s|\.|$)/i)
  if (start !== null) out = `${start[1]} ${out}`
  const end = system.match(/end every (?:reply|answer|response) with (?:the marker )?["'“]?(\S+?)["'”]?(?:\s|$)/i)
  if (end !== null) out = `${out} ${end[1]!.replace(/\.$/, "")}`
  return out
}

const truncateTokens = (text: string, maxTokens: number): { text: string; truncated: boolean } => {
  if (tokenCount(text) <= maxTokens) return { text, truncated: false }
  const words = text.split(/(\s+)/)
  let out = ""
  for (const w of words) {
    if (tokenCount(out + w) > maxTokens) break
    out += w
  }
  return { text: out.trimEnd(), truncated: true }
}

/**
 * The input tokens of a Converse-like request, as `usage.inputTokens` reports them (and `CountTokens`
 * counts them): the system prompt, every turn's text and documents, plus a fixed 8 for the framing.
 */
export const inputTokensOf = (request: ConverseLikeRequest): number =>
  tokenCount(
    [textOf(request.system), ...request.messages.map((m) => textOf(m.content) + documentsText(m.content))].join(" ")
  ) + 8

/**
 * Answer a Converse-like request. `random` makes wrong answers vary deterministically when the
 * caller seeds it; good answers never depend on it.
 */
export const respond = (request: ConverseLikeRequest, quality: Quality, random: () => number): Answer => {
  const wrong = quality === "wrong"
  const messages = request.messages
  const last = messages[messages.length - 1]
  const lastBlocks = last?.content ?? []
  const prompt = textOf(lastBlocks)
  const system = textOf(request.system)
  const context = [
    system,
    ...messages.slice(0, -1).map((m) => textOf(m.content)),
    ...messages.map((m) => documentsText(m.content))
  ].join("\n")
  const inputTokens = inputTokensOf(request)
  const maxTokens = request.inferenceConfig?.maxTokens ?? 4096

  const finish = (raw: string): Answer => {
    const text = applySystem(raw, system)
    const { text: out, truncated } = truncateTokens(text, maxTokens)
    return {
      content: [{ text: out }],
      stopReason: truncated ? "max_tokens" : "end_turn",
      inputTokens,
      outputTokens: Math.max(1, tokenCount(out))
    }
  }

  const summary = toolResultSummary(lastBlocks)
  if (summary !== undefined) return finish(wrong ? "I could not read the tool result." : summary)

  const tools = (request.toolConfig?.tools ?? [])
    .map((t) => t["toolSpec"] as { name?: string; inputSchema?: { json?: JsonSchema } } | undefined)
    .filter((t): t is { name: string; inputSchema?: { json?: JsonSchema } } => typeof t?.name === "string")
  if (tools.length > 0 && quality !== "no-tools") {
    const named = tools.find((t) => prompt.includes(t.name)) ?? tools[0]!
    const input = inputFor(named.inputSchema?.json ?? {}, prompt, wrong)
    // Deterministic for a seeded `random`: the same request sequence yields the same ids.
    const toolUseId = `tooluse_${Math.floor(random() * 0x1_0000_0000_0000).toString(36)}`
    return {
      content: [{ text: "I will use a tool." }, { toolUse: { toolUseId, name: named.name, input } }],
      stopReason: "tool_use",
      inputTokens,
      outputTokens: tokenCount(JSON.stringify(input)) + 6
    }
  }

  const images = messages.flatMap((m) => imagesOf(m.content))
  const json = jsonRequest(prompt, wrong)
  if (json !== undefined) {
    if (quality === "broken-json") return finish(json.slice(0, Math.max(1, Math.floor(json.length / 2))))
    return finish(json)
  }
  const answer = literal(prompt) !== undefined
    ? (wrong ? "ping" : literal(prompt)!)
    : colourQuestion(prompt, images, wrong) ??
      arithmetic(prompt, wrong) ??
      counting(prompt) ??
      recall(prompt, context, wrong) ??
      (tools.length > 0 ? "I cannot use tools for this." : undefined) ??
      (/hello|hi\b/i.test(prompt) ? "Hello! How can I help you today?" : "I am an emulated Bedrock model.")
  return finish(answer)
}

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

const stopWords = new Set(["a", "an", "the", "is", "are", "was", "were", "on", "in", "of", "to", "and", "by", "it"])

const stem = (w: string): string => w.replace(/(ing|ed|es|s)$/, "").replace(/(.)\1$/, "$1")

const hash = (s: string, seed: number): number => {
  let h = 2166136261 ^ seed
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 16777619)
  }
  return h >>> 0
}

/**
 * A deterministic unit-length embedding: hashed bag of stemmed words (plus a little character
 * n-gram signal), so paraphrases that share words land close and unrelated texts far apart.
 */
export const embed = (text: string, dimensions: number): ReadonlyArray<number> => {
  const v = new Float64Array(dimensions)
  const words = text.toLowerCase().match(/[a-z0-9]+/g) ?? []
  for (const w of words) {
    if (stopWords.has(w)) continue
    const s = stem(w)
    for (let k = 0; k < 4; k++) {
      const h = hash(s, k)
      v[h % dimensions]! += (h & 1) === 0 ? 1 : -1
    }
    for (let i = 0; i + 3 <= s.length; i++) {
      const h = hash(s.slice(i, i + 3), 99)
      v[h % dimensions]! += (h & 1) === 0 ? 0.2 : -0.2
    }
  }
  let norm = 0
  for (const x of v) norm += x * x
  norm = Math.sqrt(norm)
  if (norm === 0) {
    v[0] = 1
    norm = 1
  }
  return Array.from(v, (x) => x / norm)
}
