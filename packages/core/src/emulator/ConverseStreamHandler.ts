/**
 * The event-stream family: `ConverseStream`. The `Responder`'s answer goes out as Bedrock's event
 * sequence (`messageStart`, per block `contentBlockStart` / `contentBlockDelta`s / `contentBlockStop`,
 * `messageStop`, `metadata`), paced by the sampled latency; a scenario can break the stream after
 * some deltas with a mid-stream exception frame, as Bedrock does. Where to break and with what
 * ({@link breakPoint}, {@link breakStream}) is shared with `InvokeModelWithResponseStream`.
 *
 * @since 0.1.0
 */
import { usage } from "./ConverseHandler.ts"
import * as EventStream from "./EventStream.ts"
import { type Call, endStream, type Exchange, startStream, wait } from "./Exchange.ts"
import * as Responder from "./Responder.ts"
import * as Timing from "./Timing.ts"
import { scriptedFrame, streamExceptions } from "./WireError.ts"

/** Split text into streaming deltas of about two words; the deltas concatenate to the text exactly. */
export const textDeltas = (text: string): ReadonlyArray<string> => {
  const words = text.match(/\s*\S+/g) ?? []
  const out: Array<string> = []
  for (let i = 0; i < words.length; i += 2) out.push(words.slice(i, i + 2).join(""))
  const covered = out.join("").length
  if (covered < text.length) {
    if (out.length === 0) out.push(text.slice(covered))
    else out[out.length - 1] += text.slice(covered)
  }
  return out.length === 0 ? [""] : out
}

/** Split a tool input's JSON into streaming deltas of 12 characters. */
export const jsonDeltas = (json: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (let i = 0; i < json.length; i += 12) out.push(json.slice(i, i + 12))
  return out.length === 0 ? [""] : out
}

type Delta = { readonly text: string } | { readonly toolUse: { readonly input: string } }

interface Block {
  readonly index: number
  readonly start: { readonly toolUse: { readonly toolUseId: string; readonly name: string } } | undefined
  readonly deltas: ReadonlyArray<Delta>
}

const blocksOf = (answer: Responder.Answer): ReadonlyArray<Block> =>
  answer.content.map((block, index) =>
    "text" in block
      ? { index, start: undefined, deltas: textDeltas(block.text).map((text) => ({ text })) }
      : {
        index,
        start: { toolUse: { toolUseId: block.toolUse.toolUseId, name: block.toolUse.name } },
        deltas: jsonDeltas(JSON.stringify(block.toolUse.input)).map((input) => ({ toolUse: { input } }))
      }
  )

/**
 * After how many deltas the stream breaks: the scenario's count, else half-way for `broken-stream`
 * or a scripted mid-stream error, else never.
 */
export const breakPoint = (call: Call, deltas: number): number | undefined =>
  call.resolved.streamBreakAfterDeltas ??
    (call.resolved.quality === "broken-stream" || call.midStream !== undefined
      ? Math.max(1, Math.floor(deltas / 2))
      : undefined)

/** End the stream with the scripted error's exception frame, else the scenario's stream exception. */
export const breakStream = (ex: Exchange, call: Call): void => {
  if (call.midStream !== undefined) {
    ex.errorName = call.midStream.name
    return endStream(ex, scriptedFrame(call.midStream))
  }
  const exception = call.resolved.streamBreakException
  ex.errorName = exception
  endStream(ex, EventStream.exception(exception, streamExceptions[exception] as { message: string }))
}

/** Answer a `ConverseStream` call. */
export const converseStream = async (call: Call, answer: Responder.Answer, timing: () => number): Promise<void> => {
  const { ex, resolved, scenario } = call
  const blocks = blocksOf(answer)
  const breakAfter = breakPoint(call, blocks.reduce((n, b) => n + b.deltas.length, 0))
  if (!(await wait(ex, Timing.ttft(scenario, resolved, timing))) || !startStream(ex)) return
  ex.res.write(EventStream.event("messageStart", { role: "assistant" }))
  let sent = 0
  const broken = (): boolean => {
    if (breakAfter === undefined || sent < breakAfter) return false
    breakStream(ex, call)
    return true
  }
  for (const block of blocks) {
    if (block.start !== undefined) {
      ex.res.write(EventStream.event("contentBlockStart", { start: block.start, contentBlockIndex: block.index }))
    }
    for (const delta of block.deltas) {
      if (broken()) return
      ex.res.write(EventStream.event("contentBlockDelta", { delta, contentBlockIndex: block.index }))
      sent++
      const tokens = Responder.tokenCount("text" in delta ? delta.text : delta.toolUse.input)
      if (!(await wait(ex, Timing.tokens(scenario, resolved, Math.max(1, tokens), timing)))) return
    }
    ex.res.write(EventStream.event("contentBlockStop", { contentBlockIndex: block.index }))
  }
  if (broken()) return
  ex.res.write(EventStream.event("messageStop", { stopReason: answer.stopReason }))
  const latencyMs = Math.round(performance.now() - ex.started)
  endStream(ex, EventStream.event("metadata", { usage: usage(answer), metrics: { latencyMs } }))
}
