/**
 * A certification worker process on BullMQ: configuration from the environment, a health server
 * (`/health`, `/ready`, `/metrics`) and graceful shutdown.
 *
 * The Storage layer is a parameter (adapters never import each other): a host passes
 * `PgStorage.layerFromUrl(...)` or any other Storage, optionally built from the loaded settings.
 *
 * Shutdown: the first SIGTERM or SIGINT stops fetching; in-flight units finish within the grace
 * period (`CERTIFICATION_SHUTDOWN_GRACE`, default 30 s); units still running then are interrupted
 * (their Bedrock calls aborted) and released for redelivery, connections close, and `runWorker`
 * resolves with exit code 0. A second signal exits at once (the units come back through BullMQ's
 * stalled check). A Redis or PostgreSQL outage at start is retried until it ends or a signal comes.
 *
 * @since 0.1.0
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import {
  BedrockRuntime,
  ClockSkew,
  Certification,
  ControlPlane,
  LivingRegistry,
  Metrics,
  type Queue as QueuePort,
  Queue,
  RegionGovernor,
  Registry,
  type RequestRateLimit,
  Recertification,
  RecertificationObservations,
  RecertificationScheduler,
  Runner,
  Storage,
  Tracing,
  Worker
} from "@myia/certification"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as BullMqQueue from "./BullMqQueue.ts"

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

const RegionLimitsJson = Schema.fromJsonString(
  Schema.Record(Schema.String, Schema.Struct({ concurrency: Schema.Int, ratePerSecond: Schema.Number }))
)

const RequestRatesJson = Schema.fromJsonString(Schema.Record(Schema.String, Schema.Number))

/** Everything a worker process reads from its environment. */
export interface WorkerSettings {
  readonly queueName: string
  /** BullMQ key prefix (`CERTIFICATION_REDIS_PREFIX`, default `bull`). */
  readonly prefix: string
  readonly concurrency: number
  /** Per Bedrock call, in milliseconds; none: the runtime's default (60 s). */
  readonly timeoutMillis: Option.Option<number>
  /** Failed attempts before a unit is dead-lettered. */
  readonly maxRetries: number
  /** `REDIS_URL`, else `REDIS_HOST`/`REDIS_PORT`. */
  readonly redis: { readonly url: Redacted.Redacted<string> } | { readonly host: string; readonly port: number }
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly pgSchema: Option.Option<string>
  /** Port of the health server; none: no server. 0 picks a free port. */
  readonly healthPort: Option.Option<number>
  readonly bedrockEndpoint: Option.Option<string>
  readonly shutdownGraceMillis: number
  readonly lockDurationMillis: Option.Option<number>
  readonly stalledIntervalMillis: Option.Option<number>
  /** Per-region limits across every process; the key `*` is the default for other regions. */
  readonly regionLimits: Readonly<Record<string, QueuePort.RegionLimit>>
  /** Bedrock requests per second per region across every process; `*` for other regions. */
  readonly requestRates: Readonly<Record<string, number>>
  /** Issue 15: reconciler period (`CERTIFICATION_RECONCILE_EVERY`, ms; default 30 s). */
  readonly reconcileEveryMillis: Option.Option<number>
  /** Issue 15: reconciler grace (`CERTIFICATION_RECONCILE_GRACE`, ms; default 60 s). */
  readonly reconcileGraceMillis: Option.Option<number>
  /** Issue 15: clock skew vs the database reported beyond this (`CERTIFICATION_MAX_CLOCK_SKEW`, ms; default 5 s). */
  readonly maxClockSkewMillis: number
  /** `CERTIFICATION_SCHEDULE` (issue 14): the recertification schedule; none: the option's default, else off. */
  readonly schedule: Option.Option<string>
}

const optionalInt = (name: string) => Config.option(Config.Int(name))

/** The settings as an Effect `Config`: one entry per environment variable. */
export const settingsConfig: Config.Config<WorkerSettings> = Config.all({
  queueName: Config.String("CERTIFICATION_QUEUE_NAME").pipe(Config.withDefault(BullMqQueue.defaultQueueName)),
  prefix: Config.String("CERTIFICATION_REDIS_PREFIX").pipe(Config.withDefault("bull")),
  concurrency: Config.Int("CERTIFICATION_CONCURRENCY").pipe(Config.withDefault(4)),
  timeoutMillis: optionalInt("CERTIFICATION_TIMEOUT"),
  maxRetries: BullMqQueue.maxRetriesConfig,
  redisUrl: Config.option(Config.Redacted("REDIS_URL")),
  redisHost: Config.String("REDIS_HOST").pipe(Config.withDefault("127.0.0.1")),
  redisPort: Config.Port("REDIS_PORT").pipe(Config.withDefault(6379)),
  databaseUrl: Config.option(Config.Redacted("DATABASE_URL")),
  pgSchema: Config.option(Config.String("CERTIFICATION_PG_SCHEMA")),
  healthPort: Config.option(Config.Int("WORKER_HEALTH_PORT")),
  bedrockEndpoint: Config.option(Config.String("BEDROCK_ENDPOINT")),
  shutdownGraceMillis: Config.Int("CERTIFICATION_SHUTDOWN_GRACE").pipe(Config.withDefault(30_000)),
  lockDurationMillis: optionalInt("CERTIFICATION_LOCK_DURATION"),
  stalledIntervalMillis: optionalInt("CERTIFICATION_STALLED_INTERVAL"),
  regionLimits: Config.schema(RegionLimitsJson, "CERTIFICATION_REGION_LIMITS").pipe(Config.withDefault({})),
  requestRates: Config.schema(RequestRatesJson, "CERTIFICATION_REQUEST_RATES").pipe(Config.withDefault({})),
  reconcileEveryMillis: optionalInt("CERTIFICATION_RECONCILE_EVERY"),
  reconcileGraceMillis: optionalInt("CERTIFICATION_RECONCILE_GRACE"),
  maxClockSkewMillis: Config.Int("CERTIFICATION_MAX_CLOCK_SKEW").pipe(Config.withDefault(ClockSkew.defaultThresholdMillis)),
  schedule: Recertification.scheduleEnvConfig
}).pipe(
  Config.map(({ redisHost, redisPort, redisUrl, ...rest }): WorkerSettings => ({
    ...rest,
    redis: Option.isSome(redisUrl) ? { url: redisUrl.value } : { host: redisHost, port: redisPort }
  }))
)

/** Read the settings from an environment (default `process.env`). */
export const loadSettings = (
  env: Readonly<Record<string, string | undefined>> = process.env
): Effect.Effect<WorkerSettings, Config.ConfigError> =>
  settingsConfig.parse(ConfigProvider.fromEnv({ env: env as Record<string, string> }))

/** Where Redis is, for logs: host and port only (a URL may carry a password). */
export const describeRedis = (redis: WorkerSettings["redis"]): string => {
  if ("host" in redis) return `${redis.host}:${redis.port}`
  const url = URL.parse(Redacted.value(redis.url))
  return url === null ? "(invalid REDIS_URL)" : `${url.hostname}:${url.port || "6379"}`
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** Options of {@link runWorker} and {@link program}. */
export interface RunWorkerOptions {
  /** The Storage, or a function of the loaded settings (e.g. to read `databaseUrl` and `pgSchema`). */
  readonly storage: Layer.Layer<Storage.Storage, unknown> | ((settings: WorkerSettings) => Layer.Layer<Storage.Storage, unknown>)
  /** Environment to read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** Overrides of the BullMQ queue options built from the settings. */
  readonly queue?: Partial<BullMqQueue.Options> | undefined
  readonly bedrock?: BedrockRuntime.Options | undefined
  readonly registry?: Registry.Options | undefined
  /**
   * Issue #13: preflight each unit through the Bedrock control plane (`LivingRegistry`; endpoint and
   * credentials default to `bedrock`'s). Default: off.
   */
  readonly controlPlane?: false | LivingRegistry.ClientOptions | undefined
  readonly governor?: RegionGovernor.Options | undefined
  readonly runner?: Partial<Runner.RunnerSettings> | undefined
  /** Delay between start attempts while Redis or the database is unreachable (default 2 s). */
  readonly startRetryMillis?: number | undefined
  readonly logLevel?: LogLevel.LogLevel | undefined
  /**
   * Continuous certification (issue 14): the schedule when `CERTIFICATION_SCHEDULE` is unset (default
   * off). With a schedule, the worker also runs the recertification scheduler; every worker may run
   * it — one acts per tick (BullMQ's job scheduler).
   */
  readonly recertification?: {
    readonly defaultSchedule?: string | undefined
    /** How often the stored schedule is re-read (default 30 s). */
    readonly pollInterval?: Duration.Input | undefined
    /**
     * Observe the control plane at each tick (`RecertificationObservations`, through
     * `BEDROCK_ENDPOINT` and the AWS credential chain) for the `lifecycle` and `discovered` reasons.
     */
    readonly controlPlane?: boolean | undefined
  } | undefined
}

// ---------------------------------------------------------------------------------------------
// Health server
// ---------------------------------------------------------------------------------------------

/** What the health server shows: updated by the program as the worker starts and stops. */
export interface WorkerState {
  consuming: boolean
  draining: boolean
  /** Checks Redis and the database; set while the services are up. */
  check: Effect.Effect<QueuePort.QueueCounts, unknown> | undefined
  /** Issue 15: the last clock-skew reading against the database (shown on `/ready`). */
  clock?: ClockSkew.Reading | undefined
  /** Issue 18: mirrors this process's governor into the gauges; set while the services are up. */
  gauges?: Effect.Effect<void> | undefined
}

interface Reply {
  readonly status: number
  readonly type: string
  readonly body: string
}

const json = (status: number, body: unknown): Reply => ({ status, type: "application/json", body: JSON.stringify(body) })

const probeTimeout = Duration.seconds(2)

/** The health server's routes: liveness, readiness (Redis + database + consumer), Prometheus metrics. */
export const routes: Readonly<Record<string, (state: WorkerState) => Effect.Effect<Reply>>> = {
  "/health": (state) => Effect.succeed(json(200, { status: "ok", draining: state.draining })),
  "/ready": (state) => {
    const check = state.check
    if (check === undefined || !state.consuming || state.draining) {
      return Effect.succeed(
        json(503, { status: "not-ready", consuming: state.consuming, draining: state.draining, clock: state.clock ?? null })
      )
    }
    return check.pipe(
      Effect.timeout(probeTimeout),
      Effect.match({
        onFailure: (error) =>
          json(503, {
            status: "not-ready",
            reason: error instanceof Error ? error.message : String(error),
            clock: state.clock ?? null
          }),
        // A skewed clock is shown, not fatal: ordering and delays never rely on it (issue 15).
        onSuccess: (queue) => json(200, { status: "ready", queue, clock: state.clock ?? null })
      })
    )
  },
  // Issue 18: a worker exports its own governor and process metrics, never the shared queue's depth
  // (the HTTP API's /metrics does: summed over workers it would double-count).
  "/metrics": (state) =>
    (state.gauges ?? Effect.void).pipe(
      Effect.andThen(Metrics.render),
      Effect.map((body): Reply => ({ status: 200, type: "text/plain; version=0.0.4; charset=utf-8", body }))
    )
}

/** Serve {@link routes} on `port` (0: a free one) until the scope closes; returns the bound port. */
export const healthServer = (port: number, state: WorkerState) =>
  Effect.acquireRelease(
    Effect.callback<Server>((resume) => {
      const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const path = (req.url ?? "/").split("?")[0] ?? "/"
        const route = routes[path]
        const reply = route === undefined ? Effect.succeed(json(404, { status: "not-found" })) : route(state)
        void Effect.runPromise(reply).then((r) => {
          res.writeHead(r.status, { "content-type": r.type })
          res.end(r.body)
        })
      })
      server.once("error", (error) => resume(Effect.die(error)))
      server.listen(port, "0.0.0.0", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(Effect.map((server) => {
    const address = server.address()
    return typeof address === "object" && address !== null ? address.port : port
  }))

// ---------------------------------------------------------------------------------------------
// Program
// ---------------------------------------------------------------------------------------------

/** The services a worker needs, built from the settings. */
export const services = (settings: WorkerSettings, options: RunWorkerOptions): Layer.Layer<
  | QueuePort.Queue
  | BullMqQueue.BullMqQueueAdmin
  | RequestRateLimit.RequestRateLimit
  | Storage.Storage
  | Registry.Registry
  | BedrockRuntime.BedrockRuntime
  | RegionGovernor.RegionGovernor,
  unknown
> => {
  const { "*": fallback, ...regionLimits } = settings.regionLimits
  const queue = BullMqQueue.layer({
    connection: "url" in settings.redis ? Redacted.value(settings.redis.url) : settings.redis,
    queueName: settings.queueName,
    prefix: settings.prefix,
    maxAttempts: settings.maxRetries,
    regionLimits: regionLimits as BullMqQueue.Options["regionLimits"],
    defaultRegionLimit: fallback,
    requestRates: settings.requestRates as BullMqQueue.Options["requestRates"],
    drainGrace: Duration.millis(settings.shutdownGraceMillis),
    ...Option.match(settings.lockDurationMillis, { onNone: () => ({}), onSome: (ms) => ({ lockDuration: Duration.millis(ms) }) }),
    ...Option.match(settings.stalledIntervalMillis, {
      onNone: () => ({}),
      onSome: (ms) => ({ stalledInterval: Duration.millis(ms) })
    }),
    ...options.queue
  })
  const storage = typeof options.storage === "function" ? options.storage(settings) : options.storage
  const bedrock: BedrockRuntime.Options = {
    ...Option.match(settings.bedrockEndpoint, { onNone: () => ({}), onSome: (endpoint) => ({ endpoint }) }),
    ...Option.match(settings.timeoutMillis, { onNone: () => ({}), onSome: (ms) => ({ timeout: Duration.millis(ms) }) }),
    ...options.bedrock
  }
  const core = Layer.mergeAll(
    // The governor shares its lanes through the queue's Redis (issue 16).
    Layer.provideMerge(RegionGovernor.layer(options.governor), queue),
    storage,
    Registry.layerWith(options.registry ?? {}),
    BedrockRuntime.layer(bedrock),
    Layer.succeed(Runner.RunnerConfig, { ...Runner.RunnerConfig.defaultValue(), ...options.runner }),
    // Issue 18: spans exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (OTEL_SERVICE_NAME names them).
    Tracing.layerFromEnv({ serviceName: "myia-certification-worker" })
  )
  return options.controlPlane === undefined || options.controlPlane === false
    ? core
    : Layer.provideMerge(LivingRegistry.layerWithClient(options.controlPlane, bedrock), core)
}

/**
 * The recertification scheduler of this worker (issue 14), when a schedule is configured
 * (`CERTIFICATION_SCHEDULE`, else `options.recertification.defaultSchedule`); a no-op otherwise.
 */
const recertificationScheduler = (settings: WorkerSettings, options: RunWorkerOptions) => {
  const text = Option.getOrElse(settings.schedule, () => options.recertification?.defaultSchedule ?? "off")
  const parsed = Recertification.scheduleFromEnv(text)
  // CERTIFICATION_SCHEDULE is checked when the settings load; a bad code default is reported here.
  if (Result.isFailure(parsed)) return Effect.logError(`recertification.defaultSchedule ignored: ${parsed.failure}`)
  const schedule = parsed.success
  if (!schedule.enabled) return Effect.void
  const observations = options.recertification?.controlPlane === true
    ? RecertificationObservations.layer().pipe(Layer.provide(ControlPlane.layer({
      ...Option.match(settings.bedrockEndpoint, { onNone: () => ({}), onSome: (endpoint) => ({ endpoint }) })
    })))
    : Layer.empty
  return RecertificationScheduler.run({ pollInterval: options.recertification?.pollInterval }).pipe(
    Effect.provide(Certification.layer().pipe(
      Layer.provide(Layer.merge(Layer.succeed(Recertification.ScheduleConfig, schedule), observations))
    ))
  )
}

/** A nil job id: reading it checks that the database answers without touching real rows. */
const probeJobId = "00000000-0000-4000-8000-000000000000" as Parameters<Storage.Storage["Service"]["getJob"]>[0]

/**
 * The worker until `shutdown` completes: health server, services (retried while Redis or the
 * database is unreachable), the consumer; then the graceful drain and closing every connection.
 */
export const program = (options: RunWorkerOptions, shutdown: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const settings = yield* loadSettings(options.env)
    const state: WorkerState = { consuming: false, draining: false, check: undefined }
    const healthPort = Option.isSome(settings.healthPort)
      ? Option.some(yield* healthServer(settings.healthPort.value, state))
      : Option.none<number>()
    yield* Effect.logInfo("certification worker starting").pipe(Effect.annotateLogs({
      queue: settings.queueName,
      prefix: settings.prefix,
      concurrency: settings.concurrency,
      redis: describeRedis(settings.redis),
      healthPort: Option.getOrNull(healthPort),
      bedrockEndpoint: Option.getOrNull(settings.bedrockEndpoint),
      shutdownGraceMillis: settings.shutdownGraceMillis
    }))

    const session = Effect.gen(function*() {
      const queue = yield* Queue.Queue
      const storage = yield* Storage.Storage
      state.check = storage.getJob(probeJobId).pipe(Effect.andThen(queue.counts))
      // Issue 15: compare this clock with the database's now and every 30 s.
      yield* ClockSkew.check(settings.maxClockSkewMillis).pipe(
        Effect.tap((reading) => Effect.sync(() => (state.clock = reading))),
        Effect.ignore,
        Effect.repeat(Schedule.spaced(Duration.seconds(30))),
        Effect.forkScoped
      )
      const governor = yield* RegionGovernor.RegionGovernor
      state.gauges = Effect.flatMap(governor.snapshot, (regions) => Metrics.refresh({ regions }))
      yield* Worker.run({
        concurrency: settings.concurrency,
        reconcile: {
          every: Duration.millis(Option.getOrElse(settings.reconcileEveryMillis, () => 30_000)),
          grace: Duration.millis(Option.getOrElse(settings.reconcileGraceMillis, () => 60_000))
        }
      })
      yield* recertificationScheduler(settings, options)
      state.consuming = true
      yield* Effect.logInfo("certification worker consuming")
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      // Runs on the drain too: the readiness probe turns 503 before the consumer stops.
      Effect.onInterrupt(() => Effect.sync(() => {
        state.draining = true
        state.consuming = false
      })),
      Effect.ensuring(Effect.sync(() => {
        state.check = undefined
        state.gauges = undefined
      })),
      Effect.provide(services(settings, options))
    )

    // Any failure or defect of the session (Redis or the database unreachable) is logged and retried.
    const supervised: Effect.Effect<void> = session.pipe(
      Effect.sandbox,
      Effect.tapError((cause) => Effect.logError("certification worker could not start; retrying", Cause.pretty(cause))),
      Effect.retry(Schedule.spaced(Duration.millis(options.startRetryMillis ?? 2_000))),
      Effect.ignore
    )

    // The signal interrupts the session; its finalizers drain the consumer, then close the services.
    yield* Effect.raceFirst(supervised, shutdown.pipe(Effect.tap(() => Effect.logInfo("shutting down: draining"))))
    yield* Effect.logInfo("certification worker stopped")
  }).pipe(
    Effect.scoped,
    Effect.provideService(References.MinimumLogLevel, options.logLevel ?? "Info")
  )

// ---------------------------------------------------------------------------------------------
// Process entry
// ---------------------------------------------------------------------------------------------

const forcedExitCodes: Readonly<Record<"SIGTERM" | "SIGINT", number>> = { SIGTERM: 143, SIGINT: 130 }

/**
 * Run a worker in this process until SIGTERM or SIGINT. Resolves with the exit code once drained
 * (0, or 1 when the settings are invalid); a second signal exits the process at once.
 */
export const runWorker = (options: RunWorkerOptions): Promise<number> => {
  let resolveSignalled: () => void = () => {}
  const signalled = new Promise<void>((resolve) => {
    resolveSignalled = resolve
  })
  let signals = 0
  const onSignal = (signal: "SIGTERM" | "SIGINT") => {
    signals += 1
    if (signals === 1) return resolveSignalled()
    process.stderr.write(`${signal} again: forcing exit\n`)
    process.exit(forcedExitCodes[signal])
  }
  const listen = Effect.acquireRelease(
    Effect.sync(() => {
      process.on("SIGTERM", onSignal)
      process.on("SIGINT", onSignal)
    }),
    () =>
      Effect.sync(() => {
        process.off("SIGTERM", onSignal)
        process.off("SIGINT", onSignal)
      })
  )
  return Effect.runPromise(
    listen.pipe(
      Effect.andThen(program(options, Effect.promise(() => signalled))),
      Effect.scoped,
      Effect.as(0),
      Effect.catchCause((cause) => Effect.logError("certification worker failed", Cause.pretty(cause)).pipe(Effect.as(1)))
    )
  )
}

