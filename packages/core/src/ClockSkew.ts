/**
 * How far this process's clock is from the database's (issue 15).
 *
 * Ordering and fencing never use a worker's clock (storage orders results itself, delays sit on the
 * queue's clock), but timestamps shown to users and retention cut-offs do: a process whose clock is
 * off by more than a threshold says so in its log and on its readiness probe.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { Storage } from "./Storage.ts"

/** Skews beyond this (in milliseconds, either way) are reported (default 5 seconds). */
export const defaultThresholdMillis = 5_000

/** One reading: `skewMillis` > 0 when this process is ahead of the database. */
export interface Reading {
  /** The clock this process is compared with: always the database's (`Storage.databaseTime`). */
  readonly reference: "database"
  readonly skewMillis: number
  readonly thresholdMillis: number
  readonly ok: boolean
  /** When it was taken, on this process's clock. */
  readonly at: string
}

/** This clock minus `remote`'s, taken at the midpoint of the round trip. */
export const measure = <E, R>(remote: Effect.Effect<number, E, R>): Effect.Effect<number, E, R> =>
  Effect.gen(function*() {
    const before = yield* Clock.currentTimeMillis
    const theirs = yield* remote
    const after = yield* Clock.currentTimeMillis
    return Math.round((before + after) / 2 - theirs)
  })

/** Measure against the storage's clock; a skew over the threshold is logged as a warning. */
export const check = Effect.fn("ClockSkew.check")(function*(thresholdMillis: number = defaultThresholdMillis) {
  const storage = yield* Storage
  const skewMillis = yield* measure(storage.databaseTime)
  const reading: Reading = {
    reference: "database",
    skewMillis,
    thresholdMillis,
    ok: Math.abs(skewMillis) <= thresholdMillis,
    at: DateTime.formatIso(yield* DateTime.now)
  }
  if (!reading.ok) {
    yield* Effect.logWarning("this process's clock differs from the database's beyond the threshold").pipe(
      Effect.annotateLogs({ skewMillis, thresholdMillis })
    )
  }
  return reading
})
