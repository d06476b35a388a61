/**
 * An Effect `Schedule` read as a sequence of delays, for loops that decide for themselves whether to
 * go on — the Runner's per-test retries and the region governor's breaker, which must report each
 * outcome and check budgets between steps, so `Effect.retry` does not fit them. Each call of the
 * returned effect takes the schedule's next step; once the schedule ends, its last delay repeats.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"

/** A fresh run of `schedule`: each call of the effect it gives is the next delay. */
export const delays = <Output, R>(
  schedule: Schedule.Schedule<Output, unknown, never, R>
): Effect.Effect<Effect.Effect<Duration.Duration, never, R>, never, R> =>
  Effect.map(Schedule.toStep(schedule), (step) => {
    let last = Duration.zero
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      step(now, undefined).pipe(
        Effect.map(([, delay]) => {
          last = delay
          return delay
        }),
        Pull.catchDone(() => Effect.succeed(last))
      ))
  })
