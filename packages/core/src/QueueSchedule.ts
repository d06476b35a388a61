/**
 * The tick arithmetic of `Queue.schedule` (issue 15), once for every adapter: which options are
 * valid, when the next tick of a schedule is due, and how a tick is named.
 *
 * An `every` schedule ticks at multiples of its period since the epoch; a `cron` schedule at the
 * cron's instants (UTC). Because the instants follow from the options alone, every process that
 * schedules the same name agrees on them, and `keyOf(name, at)` names a tick identically everywhere.
 *
 * @since 0.1.0
 */
import * as Cron from "effect/Cron"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { QueueError, type ScheduleOptions } from "./Queue.ts"

/** Validated schedule options: the period in milliseconds, or the parsed cron. */
export type Parsed =
  | { readonly _tag: "Every"; readonly name: string; readonly millis: number }
  | { readonly _tag: "Cron"; readonly name: string; readonly cron: Cron.Cron; readonly expression: string }

/** Schedule names are used in queue and key names: keep them to a safe alphabet. */
const namePattern = /^[A-Za-z0-9_-]{1,100}$/

const invalid = (message: string) =>
  new QueueError({ operation: "schedule", message: `invalid schedule: ${message}`, retryable: false })

/** Check the options: a safe `name`, and exactly one of a positive `every` or a valid `cron`. */
export const validate = (options: ScheduleOptions): Effect.Effect<Parsed, QueueError> =>
  Effect.suspend((): Effect.Effect<Parsed, QueueError> => {
    if (!namePattern.test(options.name)) {
      return Effect.fail(invalid(`name ${JSON.stringify(options.name)} must be 1–100 letters, digits, "-" or "_"`))
    }
    if ((options.every === undefined) === (options.cron === undefined)) {
      return Effect.fail(invalid(`schedule ${options.name} needs exactly one of every or cron`))
    }
    if (options.every !== undefined) {
      const duration = Duration.fromInput(options.every)
      const millis = Option.isNone(duration) ? NaN : Math.round(Duration.toMillis(duration.value))
      if (!Number.isFinite(millis) || millis < 1) {
        return Effect.fail(invalid(`every of schedule ${options.name} must be a finite duration of at least 1 ms`))
      }
      return Effect.succeed({ _tag: "Every", name: options.name, millis })
    }
    const expression = options.cron!
    const parsed = Cron.parse(expression, "UTC")
    return Result.isFailure(parsed)
      ? Effect.fail(invalid(`cron of schedule ${options.name}: ${parsed.failure.message}`))
      : Effect.succeed({ _tag: "Cron", name: options.name, cron: parsed.success, expression })
  })

/** The first tick strictly after `afterMillis` (epoch milliseconds). */
export const nextTick = (parsed: Parsed, afterMillis: number): number =>
  parsed._tag === "Every"
    ? (Math.floor(afterMillis / parsed.millis) + 1) * parsed.millis
    : Cron.next(parsed.cron, new Date(afterMillis)).getTime()

/** The key of the tick of `name` due at `atMillis`: the same in every process. */
export const keyOf = (name: string, atMillis: number): string => `${name}:${atMillis}`
