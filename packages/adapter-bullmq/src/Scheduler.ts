/**
 * `Queue.schedule` on BullMQ (issue 15): a periodic task run by exactly one process per tick.
 *
 * Each schedule name gets its own BullMQ queue (`<queueName>-schedule-<name>`, same prefix) holding
 * one BullMQ job scheduler (`upsertJobScheduler`). Every process that schedules the name upserts the
 * same scheduler (idempotent: the pending tick is kept, not duplicated) and runs a BullMQ Worker on
 * that queue; BullMQ hands each tick's job to exactly one worker, and a worker that dies mid-tick has
 * the tick moved to another after its lock expires. No leader election of our own; each tick key is
 * claimed once in Redis (`SET NX`) before it runs, because two upserts around one instant can make
 * BullMQ deliver that instant twice.
 *
 * `every` ticks are aligned to multiples of the period (the scheduler's `startDate`, and the job's
 * `prevMillis` rounded up to core's `QueueSchedule.nextTick`); the tick key is
 * `QueueSchedule.keyOf(name, at)`. Every process checks every `2 × every` (1 s to 1 min) that the
 * scheduler still exists and upserts it again if not, so a Redis that lost its data gets it back. Closing the scope closes this
 * process's Worker only: the scheduler stays in Redis for the other processes (one delayed job).
 *
 * @since 0.1.0
 */
import { type ConnectionOptions, type Job as BullJob, Queue as BullQueue, Worker } from "bullmq"
import { Queue as QueuePort, QueueSchedule } from "@myia/certification"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import * as RedisConnection from "./RedisConnection.ts"

/** What the schedules share with the queue layer that builds them. */
export interface Settings {
  readonly queueName: string
  readonly prefix: string
  /** The layer's producer connection (upserts). */
  readonly redis: Redis
  /** Options to open the Workers' own blocking connections. */
  readonly baseOptions: RedisOptions
}

/** The BullMQ queue of one schedule. */
export const queueNameOf = (queueName: string, name: string): string => `${queueName}-schedule-${name}`

/** Finished tick jobs kept (so a late upsert cannot re-add a tick that already ran). */
const keepTicks = 50

/** The `schedule` member of the BullMQ queue. */
export const make = (settings: Settings) =>
  Effect.fn("BullMqQueue.schedule")(function*<R>(
    options: QueuePort.ScheduleOptions,
    run: (tick: QueuePort.ScheduleTick) => Effect.Effect<void, unknown, R>
  ): Effect.fn.Return<void, QueuePort.QueueError, R | Scope.Scope> {
    const parsed = yield* QueueSchedule.validate(options)
    const name = queueNameOf(settings.queueName, parsed.name)
    const context = yield* Effect.context<R>()
    const runPromise = Effect.runPromiseWith(context)
    const runFork = Effect.runForkWith(context)

    const bull = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const queue = new BullQueue(name, { connection: settings.redis, prefix: settings.prefix })
        queue.on("error", () => {})
        return queue
      }),
      (queue) => Effect.promise(() => queue.close()).pipe(Effect.timeoutOption(Duration.seconds(5)), Effect.ignore)
    )
    const upsert = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const repeat = parsed._tag === "Every"
        ? { every: parsed.millis, startDate: QueueSchedule.nextTick(parsed, now - 1) }
        : { pattern: parsed.expression, tz: "UTC" }
      yield* RedisConnection.call("schedule", () =>
        bull.upsertJobScheduler(parsed.name, repeat, {
          name: parsed.name,
          data: {},
          opts: { removeOnComplete: { count: keepTicks }, removeOnFail: { count: keepTicks }, attempts: 1 }
        }))
    })
    yield* upsert
    // Redis may lose the scheduler (FLUSHALL, a failover without persistence): every process checks
    // now and then and upserts it again when it is gone, so the ticks come back by themselves.
    const every = parsed._tag === "Every" ? parsed.millis : 60_000
    const restore = RedisConnection.call("schedule", () => bull.getJobScheduler(parsed.name)).pipe(
      Effect.flatMap((found) => found === undefined ? upsert : Effect.void)
    )
    yield* restore.pipe(
      Effect.catch((error) => Effect.logWarning(`BullMqQueue: schedule ${parsed.name} upsert failed`, error.message)),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.min(60_000, Math.max(1_000, 2 * every))))),
      Effect.delay(Duration.millis(Math.min(60_000, Math.max(1_000, 2 * every)))),
      Effect.forkScoped
    )

    const tickOf = (job: BullJob): QueuePort.ScheduleTick => {
      const due = typeof job.opts.prevMillis === "number" ? job.opts.prevMillis : job.timestamp
      // BullMQ starts an `every` scheduler at max(startDate, its own now): a late upsert can shift
      // its instants by a few ms. Rounding up to the aligned tick keeps keys equal across processes.
      const at = QueueSchedule.nextTick(parsed, due - 1)
      return { name: parsed.name, key: QueueSchedule.keyOf(parsed.name, at), at: DateTime.makeUnsafe(at) }
    }

    // BullMQ can hand out one instant twice when two processes upsert the scheduler around a tick (the
    // second upsert replaces the pending job after the first was taken): the first process to claim a
    // tick key in Redis runs it, any other delivery of that key is dropped.
    const claimTtlMillis = parsed._tag === "Every" ? Math.max(60_000, 10 * parsed.millis) : 86_400_000
    const claim = (tick: QueuePort.ScheduleTick) =>
      RedisConnection.call("schedule", () =>
        settings.redis.set(`${settings.prefix}:${name}:tick:${tick.key}`, "1", "PX", claimTtlMillis, "NX")
      ).pipe(Effect.map((reply) => reply === "OK"))

    const worker = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const worker = new Worker(
          name,
          (job: BullJob) => {
            const tick = tickOf(job)
            return runPromise(
              claim(tick).pipe(
                Effect.flatMap((mine) => mine ? Effect.suspend(() => run(tick)) : Effect.void),
                Effect.catchCause((cause) =>
                  Effect.logWarning(`BullMqQueue: schedule ${parsed.name} failed`, Cause.pretty(cause))
                )
              )
            )
          },
          {
            connection: RedisConnection.blockingOptions(settings.baseOptions) as ConnectionOptions,
            prefix: settings.prefix,
            concurrency: 1,
            autorun: true
          }
        )
        worker.on("error", (error) => {
          runFork(Effect.logWarning("BullMQ schedule worker error", error.message))
        })
        return worker
      }),
      (worker) =>
        // Let a running tick finish for a while; a forced close leaves it to BullMQ's stalled check.
        Effect.promise(() => worker.close()).pipe(
          Effect.timeoutOption(Duration.seconds(10)),
          Effect.flatMap((done) => done._tag === "Some" ? Effect.void : Effect.promise(() => worker.close(true))),
          Effect.ignore
        )
    )
    yield* RedisConnection.call("schedule", () => worker.waitUntilReady())
  })
