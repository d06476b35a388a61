/**
 * The live progress display of `bedrock-certify certify`, on stderr so stdout stays the results.
 * On a terminal: one bar per region plus a total line with the ETA, throttles and retries, redrawn
 * in place several times a second. Elsewhere (CI logs, pipes): one plain line per region each
 * `interval` while something changed, and a last one at the end. Colour only on a terminal and
 * never when `NO_COLOR` is set.
 *
 * Throttles and retries come from the SDK's metrics in this process, so they count what the
 * embedded worker saw; with `--queue redis` the workers are elsewhere and the display shows units only.
 *
 * @since 0.1.0
 */
import { Metrics } from "@myia/certification"
import type { ProgressEvent } from "@myia/certification"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

export interface Options {
  /** Redraw in place (a terminal) or print periodic lines. */
  readonly tty: boolean
  readonly colour: boolean
  /** Where the display goes (stderr). */
  readonly write: (text: string) => void
  /** Between redraws on a terminal (default 250 ms) or lines elsewhere (default 5 s). */
  readonly interval?: Duration.Input | undefined
}

/** The display of one job. */
export interface Display {
  readonly onEvent: (event: ProgressEvent) => Effect.Effect<void>
  /** Draw the final state once and stop redrawing. */
  readonly finish: Effect.Effect<void>
}

interface RegionState {
  total: number
  done: number
  running: number
}

/** Counts of a metric in this process, by region. */
const countsByRegion = (id: string, snapshots: ReadonlyArray<Metric.Metric.Snapshot>): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const s of snapshots) {
    if (s.id !== id || s.type !== "Counter") continue
    const region = String(s.attributes?.["region"] ?? "")
    counts.set(region, (counts.get(region) ?? 0) + Number((s.state as { readonly count: number | bigint }).count))
  }
  return counts
}

/** `[#####.....]` of `width` cells. */
export const bar = (done: number, total: number, width: number): string => {
  const filled = total === 0 ? width : Math.round((Math.min(done, total) / total) * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`
}

/** `m:ss` (or `h:mm:ss`) from milliseconds. */
export const clockTime = (millis: number): string => {
  const s = Math.max(0, Math.round(millis / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = String(s % 60).padStart(2, "0")
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`
}

/** Start the display of a job whose units are in `regionOfUnit`; it stops redrawing with the scope. */
export const make = Effect.fnUntraced(function*(
  regionOfUnit: ReadonlyMap<string, string>,
  options: Options
): Effect.fn.Return<Display, never, Scope.Scope> {
  const regions = new Map<string, RegionState>()
  for (const region of [...new Set(regionOfUnit.values())].sort()) regions.set(region, { total: 0, done: 0, running: 0 })
  for (const region of regionOfUnit.values()) regions.get(region)!.total++
  const started = new Set<string>()
  let redeliveries = 0
  let finished = false
  let drawnLines = 0
  let lastLine = ""
  const startedAt = yield* Clock.currentTimeMillis
  const paint = (code: string, s: string) => (options.colour ? `\x1b[${code}m${s}\x1b[0m` : s)

  const lines = Effect.gen(function*() {
    const snapshots = yield* Metric.snapshot
    const throttles = countsByRegion(Metrics.throttlesTotal.id, snapshots)
    const retries = countsByRegion(Metrics.retriesTotal.id, snapshots)
    const now = yield* Clock.currentTimeMillis
    const elapsed = now - startedAt
    const width = Math.max(...[...regions.keys()].map((r) => r.length), 6)
    let done = 0
    let total = 0
    const out: Array<string> = []
    for (const [region, state] of regions) {
      done += state.done
      total += state.total
      const extra = [
        state.running > 0 ? `${state.running} running` : "",
        (throttles.get(region) ?? 0) > 0 ? paint("33", `${throttles.get(region)} throttled`) : "",
        (retries.get(region) ?? 0) > 0 ? `${retries.get(region)} retries` : ""
      ].filter((s) => s !== "").join(", ")
      out.push(
        `${region.padEnd(width)} ${bar(state.done, state.total, 24)} ${String(state.done).padStart(4)}/${state.total}${
          extra === "" ? "" : `  ${extra}`
        }`
      )
    }
    const rate = elapsed > 0 ? done / elapsed : 0
    const eta = done === 0 || done >= total ? "" : `, ETA ${clockTime((total - done) / rate)}`
    const allRetries = [...retries.values()].reduce((a, b) => a + b, 0) + redeliveries
    out.push(
      `${"total".padEnd(width)} ${bar(done, total, 24)} ${String(done).padStart(4)}/${total}  ${clockTime(elapsed)} elapsed${eta}${
        allRetries > 0 ? `, ${allRetries} retries` : ""
      }`
    )
    return out
  })

  const draw = Effect.gen(function*() {
    const out = yield* lines
    if (options.tty) {
      const up = drawnLines > 0 ? `\x1b[${drawnLines}A` : ""
      options.write(`${up}${out.map((l) => `\x1b[2K${l}`).join("\n")}\n`)
      drawnLines = out.length
      return
    }
    const text = out.join("\n")
    if (text !== lastLine) {
      lastLine = text
      options.write(`${text}\n`)
    }
  })

  const interval = options.interval ?? (options.tty ? "250 millis" : "5 seconds")
  yield* Effect.forkScoped(
    Effect.suspend(() => (finished ? Effect.void : draw)).pipe(Effect.repeat(Schedule.spaced(Duration.fromInputUnsafe(interval))))
  )

  const onEvent = (event: ProgressEvent): Effect.Effect<void> =>
    Effect.sync(() => {
      const unitId = event.unitId
      const state = unitId === null ? undefined : regions.get(regionOfUnit.get(unitId) ?? "")
      if (unitId === null || state === undefined) return
      if (event.type === "unit-started") {
        if (started.has(unitId)) redeliveries++
        else started.add(unitId)
        state.running++
      } else if (event.type === "unit-completed") {
        state.running = Math.max(0, state.running - 1)
        state.done++
      }
    })

  const finish = Effect.suspend(() => {
    if (finished) return Effect.void
    finished = true
    for (const state of regions.values()) state.running = 0
    lastLine = ""
    return draw
  })
  return { onEvent, finish }
})
