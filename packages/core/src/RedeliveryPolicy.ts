/**
 * The redelivery policy: how often a queue gives a unit another start, when it gives up on it
 * (dead-letters it), and how long it waits in between. It is defined once, here: every Queue adapter
 * obeys the policy it was built with and reports it (`Queue.redelivery`), the Worker takes its `Retry`
 * delays and its "one more try?" decisions from the same value, and `QueueTest.suite` checks that
 * adapters obey it. Adapters translate it to their driver (BullMQ attempts and backoff, memory timers)
 * and own no policy of their own.
 *
 * **Contract** — each way a delivery can end spends something:
 *
 * | delivery ends with | failures | starts | next |
 * |---|---|---|---|
 * | `Done` | – | – | acknowledged, never redelivered |
 * | handler failure or defect | +1 | +1 | redelivered after `retryDelay`, or dead-lettered |
 * | `Retry` counted (`countsAsFailure`) | +1 | +1 | redelivered after its `delayMillis`, or dead-lettered |
 * | `Retry` uncounted (throttling, storage outage) | – | +1 | redelivered after its `delayMillis`, or dead-lettered |
 * | `Postpone` (the unit did not run, e.g. its job is paused) | – | – | redelivered after its `delayMillis`; never dead-lettered |
 * | interruption (the consumer is closing) | – | +1 | released at once for another consumer |
 *
 * A unit is dead-lettered (with its last error, once) as soon as its failures reach `maxAttempts` or
 * its starts reach `maxStarts`: uncounted waits do not spend the failure budget, but they are bounded.
 * A unit whose starts were spent by interruptions or dead processes is dead-lettered at its next
 * start, without running the handler.
 *
 * The delay before the next start is step n of `backoff`, a `Schedule` read as a function of n:
 * n is the unit's failures after a counted retry and its starts after an uncounted one, so throttling
 * waits and failures each back off on their own count. Time-based schedules (`during`, `cron`) make
 * no sense here: a queue on many machines cannot replay one schedule's history, so the schedule is
 * stepped from scratch, at time 0, n times. A schedule that ends keeps its last delay.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"

/** The policy every queue adapter obeys. Build one with {@link make}. */
export interface RedeliveryPolicy {
  /** Counted failures (handler failures, defects, counted `Retry`) before the unit is dead-lettered. */
  readonly maxAttempts: number
  /** Starts of one unit, counted or not, before it is dead-lettered (at least `maxAttempts`). */
  readonly maxStarts: number
  /** The delay before redelivery n: step n of this schedule. */
  readonly backoff: Schedule.Schedule<unknown>
}

/** Fields of a policy; each missing one takes its default. */
export interface Options {
  /** Default 3. */
  readonly maxAttempts?: number | undefined
  /** Default 20 × `maxAttempts`. */
  readonly maxStarts?: number | undefined
  /** Default `exponentialBackoff({ base: "1 second", max: "1 minute" })`. */
  readonly backoff?: Schedule.Schedule<unknown> | undefined
}

/** What a queue knows about a unit's deliveries so far. */
export interface Counters {
  /** Starts so far, the current one included (a delivery's 1-based `attempt`). */
  readonly attempt: number
  /** Counted failures before the current start. */
  readonly failures: number
}

/** A policy that cannot be obeyed: `field` says which option and `message` why. Nothing was built. */
export class InvalidRedeliveryPolicy extends Schema.TaggedError<InvalidRedeliveryPolicy>(
  "@myia/certification/InvalidRedeliveryPolicy"
)("InvalidRedeliveryPolicy", {
  field: Schema.String,
  message: Schema.String
}) {}

/**
 * Exponential backoff with Effect's jitter, capped: `base · 2^(n−1)`, at most `max`, then scaled by
 * a random factor in [0.8, 1.2] (so many units waiting together do not come back together).
 */
export const exponentialBackoff = (options: {
  readonly base: Duration.Input
  readonly max: Duration.Input
}): Schedule.Schedule<Duration.Duration> =>
  Schedule.min([Schedule.exponential(options.base), Schedule.spaced(options.max)]).pipe(Schedule.jittered)

const defaultMaxAttempts = 3
const startsPerAttempt = 20
const defaultBackoff = exponentialBackoff({ base: "1 second", max: "1 minute" })

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 1

/**
 * Build a policy, filling defaults. Throws {@link InvalidRedeliveryPolicy} naming the field when a
 * bound is not a whole number ≥ 1, `maxStarts` is below `maxAttempts`, or `backoff` is not a Schedule.
 */
export const make = (options: Options = {}): RedeliveryPolicy => {
  const maxAttempts = options.maxAttempts ?? defaultMaxAttempts
  if (!isCount(maxAttempts)) {
    throw new InvalidRedeliveryPolicy({
      field: "maxAttempts",
      message: `maxAttempts must be a whole number of at least 1, got ${String(maxAttempts)}`
    })
  }
  const maxStarts = options.maxStarts ?? maxAttempts * startsPerAttempt
  if (!isCount(maxStarts) || maxStarts < maxAttempts) {
    throw new InvalidRedeliveryPolicy({
      field: "maxStarts",
      message: `maxStarts must be a whole number of at least maxAttempts (${maxAttempts}), got ${String(maxStarts)}`
    })
  }
  const backoff = options.backoff ?? defaultBackoff
  if (!Schedule.isSchedule(backoff)) {
    throw new InvalidRedeliveryPolicy({ field: "backoff", message: "backoff must be an Effect Schedule" })
  }
  return { maxAttempts, maxStarts, backoff }
}

/** 3 counted failures, 60 starts, 1 s doubling up to 1 min with jitter. */
export const defaultPolicy: RedeliveryPolicy = make()

/** Why a unit with these counters may not start again, or `undefined` while it may. */
export const spent = (policy: RedeliveryPolicy, counters: Counters): string | undefined =>
  counters.failures >= policy.maxAttempts
    ? `failed ${counters.failures} times (maxAttempts ${policy.maxAttempts})`
    : counters.attempt >= policy.maxStarts
    ? `started ${counters.attempt} times (maxStarts ${policy.maxStarts})`
    : undefined

/** The counters once the current delivery ends with a retry (a failure when `countsAsFailure`). */
export const afterRetry = (counters: Counters, countsAsFailure: boolean): Counters => ({
  attempt: counters.attempt,
  failures: counters.failures + (countsAsFailure ? 1 : 0)
})

/** Whether the queue will redeliver after the current delivery ends with this kind of retry. */
export const canRetry = (policy: RedeliveryPolicy, counters: Counters, countsAsFailure: boolean): boolean =>
  spent(policy, afterRetry(counters, countsAsFailure)) === undefined

/** Step `n` (1-based) of the policy's backoff schedule. */
export const delay = Effect.fnUntraced(function*(policy: RedeliveryPolicy, n: number) {
  const step = yield* Schedule.toStep(policy.backoff)
  let last = Duration.zero
  for (let i = 0; i < Math.max(1, n); i++) {
    const next = yield* step(0, undefined).pipe(
      Effect.map(([, duration]) => duration),
      Pull.catchDone(() => Effect.succeed(undefined))
    )
    if (next === undefined) break
    last = next
  }
  return last
})

/**
 * The wait before redelivering after the current delivery ends with a retry: step `failures + 1`
 * of the backoff for a counted one, step `attempt` for an uncounted one.
 */
export const retryDelay = (policy: RedeliveryPolicy, counters: Counters, countsAsFailure: boolean) =>
  delay(policy, countsAsFailure ? counters.failures + 1 : counters.attempt)
