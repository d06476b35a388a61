/**
 * The recertification scheduler: runs `Certification.recertificationTick` on the schedule the
 * certification service holds (interval or cron), through `Queue.schedule` — so exactly one process
 * acts per tick across every process sharing the queue (BullMQ's own job scheduler; in process on
 * the memory queue). No leader election of its own.
 *
 * It re-reads the schedule every `pollInterval` (a `PUT /schedule` in any process reaches every
 * scheduler) and re-registers `Queue.schedule` when the interval or cron changes; a disabled schedule
 * stops its ticks here, and a tick that still fires elsewhere creates nothing (the tick checks).
 *
 * Off unless started: hosts run `layer()` (the worker process does when `CERTIFICATION_SCHEDULE`
 * is set; `examples/worker` defaults it to `every 1h`).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { Certification } from "./Certification.ts"
import { Queue } from "./Queue.ts"
import * as Recertification from "./Recertification.ts"

export interface Options {
  /** The schedule's name on the queue (default `recertification`); processes sharing it share ticks. */
  readonly name?: string | undefined
  /** How often the stored schedule is re-read (default 30 seconds). */
  readonly pollInterval?: Duration.Input | undefined
}

export const defaultName = "recertification"

/**
 * Run the scheduler until the surrounding scope closes. Requires the certification service and the
 * queue.
 */
export const run = Effect.fn("RecertificationScheduler.run")(function*(options: Options = {}) {
  const certification = yield* Certification
  const queue = yield* Queue
  const name = options.name ?? defaultName
  let current: { readonly text: string; readonly scope: Scope.Closeable } | null = null

  const stop = Effect.suspend(() => {
    const running = current
    current = null
    return running === null ? Effect.void : Scope.close(running.scope, Exit.void)
  })

  const start = Effect.fnUntraced(function*(spec: Recertification.Spec) {
    const scope = yield* Scope.make()
    const registered = yield* queue.schedule(
      Recertification.scheduleOptionsOf(name, spec),
      (tick) => certification.recertificationTick(tick)
    ).pipe(Scope.provide(scope), Effect.exit)
    if (Exit.isFailure(registered)) {
      yield* Scope.close(scope, Exit.void)
      return yield* Effect.logWarning("recertification schedule could not be registered", registered.cause)
    }
    current = { text: spec.text, scope }
    yield* Effect.logInfo("recertification schedule active").pipe(Effect.annotateLogs({ name, schedule: spec.text }))
  })

  /** Bring the registered schedule in line with the stored one. */
  const apply = Effect.gen(function*() {
    const settings = yield* certification.scheduleSettings
    const wanted = settings.enabled ? settings.schedule : null
    if ((current?.text ?? null) === wanted) return
    yield* stop
    if (wanted === null) return yield* Effect.logInfo("recertification schedule off").pipe(Effect.annotateLogs({ name }))
    const spec = Recertification.parseSpec(wanted)
    if (Result.isFailure(spec)) return yield* Effect.logWarning(`recertification schedule ignored: ${spec.failure}`)
    yield* start(spec.success)
  }).pipe(
    // Storage unreachable: keep the schedule as it is and look again at the next poll.
    Effect.catchCause((cause) => Effect.logWarning("recertification schedule not read", cause))
  )

  yield* Effect.addFinalizer(() => stop)
  yield* apply
  yield* apply.pipe(
    Effect.repeat(Schedule.spaced(options.pollInterval ?? Duration.seconds(30))),
    Effect.forkScoped
  )
})

/** The scheduler as a layer: runs in the background for the layer's lifetime. */
export const layer = (options: Options = {}): Layer.Layer<never, never, Certification | Queue> =>
  Layer.effectDiscard(
    run(options).pipe(Effect.catchCause((cause) => Effect.logError("recertification scheduler stopped", cause)))
  )
