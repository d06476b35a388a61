/**
 * The Promise facade: plain async methods over the certification service, for code that does not
 * use Effect. One call wires the service, the Bedrock runtime, the registry, the region governor and
 * (unless disabled) an embedded worker over the Storage and Queue layers you pass.
 *
 * With the in-memory adapters (`MemoryStorage`, `MemoryQueue` from the memory adapter package; core
 * itself never imports an adapter):
 *
 * ```ts
 * const certification = createCertification({ storage: MemoryStorage.layer, queue: MemoryQueue.layer() })
 * const { jobId } = await certification.certifyModel({ modelId: "amazon.nova-lite-v1:0", region: "us-east-1" })
 * const detail = await certification.waitForJob(jobId)
 * await certification.close()
 * ```
 *
 * Failures reject with the service's tagged errors (`InvalidRequest`, `ModelsNotCertifiable`,
 * `JobNotFound`, `JobConflict`, `StorageError`, `QueueError`), which are `Error` instances.
 *
 * Settings an option leaves unset come from the environment through Effect `Config`, like the
 * worker process: `BEDROCK_ENDPOINT`, `CERTIFICATION_TIMEOUT` (ms per Bedrock call),
 * `CERTIFICATION_CONCURRENCY` (embedded worker), `AWS_REGION` (the region of a request that names
 * none) and `CERTIFICATION_LOG_FORMAT` (`pretty` | `json`). A malformed value (`CERTIFICATION_TIMEOUT=soon`)
 * rejects every call with a `ConfigError` naming the variable. Logs go to stderr; pass `logger` to
 * send them to the host's own logger instead.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as BedrockRuntime from "./BedrockRuntime.ts"
import * as Certification from "./Certification.ts"
import type { JobStatus } from "./Domain.ts"
import * as JobPlan from "./JobPlan.ts"
import * as JobStateMachine from "./JobStateMachine.ts"
import * as LivingRegistry from "./LivingRegistry.ts"
import type { ModelCatalog } from "./ModelCatalog.ts"
import type { ProgressEvent, Queue } from "./Queue.ts"
import * as Recertification from "./Recertification.ts"
import * as RecertificationObservations from "./RecertificationObservations.ts"
import * as RecertificationScheduler from "./RecertificationScheduler.ts"
import * as ControlPlane from "./ControlPlane.ts"
import type { Region } from "./Domain.ts"
import * as RegionGovernor from "./RegionGovernor.ts"
import * as Registry from "./Registry.ts"
import * as RequestRateLimit from "./RequestRateLimit.ts"
import * as Runner from "./Runner.ts"
import type { HistoryFilter, LatestFilter, PageRequest, Storage } from "./Storage.ts"
import * as Tracing from "./Tracing.ts"
import * as Worker from "./Worker.ts"

export interface CreateOptions {
  /** Where jobs and verdicts live (e.g. `MemoryStorage.layer`, `PgStorage.layerFromUrl(...)`). */
  readonly storage: Layer.Layer<Storage, unknown>
  /** How units reach workers (e.g. `MemoryQueue.layer()`, `BullMqQueue.layer({...})`). */
  readonly queue: Layer.Layer<Queue, unknown>
  /** Bedrock client settings: endpoint override, explicit credentials, per-call timeout. */
  readonly bedrock?: BedrockRuntime.Options | undefined
  /** Host additions to the model registry (custom models, application-profile or provisioned ARNs). */
  readonly registry?: Registry.Options | undefined
  /** The host's own model ids (optional). */
  readonly catalog?: Layer.Layer<ModelCatalog> | undefined
  /** Run an embedded worker in this process (default `{ concurrency: 4 }`); `false` for API-only processes. */
  readonly worker?: false | Worker.WorkerOptions | undefined
  readonly governor?: RegionGovernor.Options | undefined
  /** The runner's patience: attempts, backoff, throttle budget, tests per unit. */
  readonly runner?: Partial<Runner.RunnerSettings> | undefined
  /** Service settings: input limits, validity, and the certify threshold recorded on each job. */
  readonly settings?: Partial<Certification.Settings> | undefined
  /**
   * Bedrock requests per second per region (`"*"` for the others), for this process. Several
   * processes share one budget through the queue adapter's limiter instead (BullMQ: `requestRates`).
   */
  readonly requestRates?: RequestRateLimit.RequestRates | undefined
  /** Minimum level of the SDK's own logs (default "Info"). */
  readonly logLevel?: LogLevel.LogLevel | undefined
  /**
   * Where the SDK's logs go: an Effect `Logger` (e.g. one that forwards to the host's pino or winston).
   * Default: `CERTIFICATION_LOG_FORMAT` — `pretty` (Effect's pretty logger) or `json` (one JSON object per
   * line) — on stderr.
   */
  readonly logger?: Logger.Logger<unknown, unknown> | undefined
  /**
   * Continuous certification (issue 14): the recertification schedule (`every 1h`, a cron expression,
   * or `false`; default `CERTIFICATION_SCHEDULE`, else off) and the policy's settings. When a schedule
   * is set (or `scheduler: true`), this process runs the scheduler (`RecertificationScheduler`).
   */
  readonly recertification?: {
    readonly schedule?: string | false | undefined
    readonly leadTimeDays?: number | undefined
    readonly retryAfterHours?: number | undefined
    readonly maxUnits?: number | undefined
    readonly maxRegions?: number | undefined
    /** Run the scheduler even while the schedule is off (it follows `updateSchedule` from any process). */
    readonly scheduler?: boolean | undefined
    /** How often the scheduler re-reads the stored schedule (default 30 s). */
    readonly pollInterval?: Duration.Input | undefined
    /**
     * What the control plane observed (lifecycle, authorization, discovered pairs), for the policy's
     * `lifecycle` / `authorization` / `discovered` reasons; without it only result-based reasons apply.
     */
    readonly observations?: Layer.Layer<Recertification.Observations> | undefined
    /**
     * Observe the control plane for them (`RecertificationObservations`: `ListFoundationModels` per
     * region through the Bedrock endpoint and credentials above); `regions` default: those of the
     * latest results. Ignored when `observations` is given.
     */
    readonly controlPlane?: boolean | { readonly regions?: ReadonlyArray<Region> | undefined } | undefined
  } | undefined
  /** The environment settings are read from when an option leaves them unset (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /**
   * The clock every part reads — lifecycle dates, expiry, timestamps, backoff (default: the system
   * clock). Pin it to run at a fixed instant: tests, replays, "as of" checks.
   */
  readonly clock?: Clock.Clock | undefined
  /**
   * Issue #13, the living registry: consult the Bedrock control plane per region before each job —
   * discovery (cached for `ttl`, default 1 h, and persisted through the storage), merged facts, and
   * preflight (units the control plane rules out end UNAVAILABLE without a runtime call). The
   * control-plane client uses `bedrock`'s endpoint and credentials unless given here. Default: off.
   */
  readonly controlPlane?: false | ControlPlaneOptions | undefined
}

/** The living registry's settings in the facade: discovery options plus the control-plane client's. */
export type ControlPlaneOptions = LivingRegistry.ClientOptions

/** What the facade reads from the environment when an option leaves it unset. */
export interface EnvSettings {
  readonly bedrockEndpoint: Option.Option<string>
  /** Per Bedrock call, in milliseconds. */
  readonly timeoutMillis: Option.Option<number>
  readonly concurrency: Option.Option<number>
  /** The region of a request that names none. */
  readonly defaultRegion: Option.Option<string>
  readonly logFormat: "pretty" | "json"
  /** `CERTIFICATION_SCHEDULE`: the recertification schedule (issue 14). */
  readonly schedule: Option.Option<string>
}

/** The environment settings as an Effect `Config`: one entry per variable. */
export const envConfig: Config.Config<EnvSettings> = Config.all({
  bedrockEndpoint: Config.option(Config.String("BEDROCK_ENDPOINT")),
  timeoutMillis: Config.option(Config.Int("CERTIFICATION_TIMEOUT")),
  concurrency: Config.option(Config.Int("CERTIFICATION_CONCURRENCY")),
  defaultRegion: Config.option(Config.String("AWS_REGION")),
  logFormat: Config.Literals(["pretty", "json"], "CERTIFICATION_LOG_FORMAT").pipe(Config.withDefault("pretty" as const)),
  schedule: Recertification.scheduleEnvConfig
})

/** Read the environment settings (default `process.env`). */
export const loadEnv = (
  env: Readonly<Record<string, string | undefined>> = process.env
): Effect.Effect<EnvSettings, Config.ConfigError> =>
  envConfig.parse(ConfigProvider.fromEnv({ env: env as Record<string, string> }))

/**
 * The logging layer: the host's logger when given, else Effect's pretty logger or one JSON object per
 * line (`format`), on stderr either way so a CLI's or host's stdout stays its own.
 */
export const loggerLayer = (options: {
  readonly logger?: Logger.Logger<unknown, unknown> | undefined
  readonly format?: "pretty" | "json" | undefined
}): Layer.Layer<never> =>
  Layer.merge(
    Logger.layer([options.logger ?? (options.format === "json" ? Logger.consoleJson : Logger.consolePretty())]),
    Layer.succeed(Logger.LogToStderr, true)
  )

/** The options with the environment filled in where they leave a setting unset. */
const withEnv = (options: CreateOptions, env: EnvSettings): CreateOptions => {
  const bedrock = options.bedrock ?? {}
  const worker = options.worker
  return {
    ...options,
    bedrock: {
      ...bedrock,
      endpoint: bedrock.endpoint ?? Option.getOrUndefined(env.bedrockEndpoint),
      timeout: bedrock.timeout ?? Option.getOrUndefined(Option.map(env.timeoutMillis, Duration.millis))
    },
    worker: worker === false
      ? false
      : { ...worker, concurrency: worker?.concurrency ?? Option.getOrUndefined(env.concurrency) }
  }
}

/** The layer behind `createCertification`, for Effect hosts that want the same wiring. */
export const layer = (options: CreateOptions): Layer.Layer<Certification.Certification, unknown> =>
  Layer.unwrap(Effect.flatMap(loadEnv(options.env), (env) => {
    // A bad recertification option rejects every call with an InvalidRequest naming it.
    const schedule = scheduleOf(options, env.schedule)
    return Result.isFailure(schedule)
      ? Effect.fail(JobPlan.invalid(schedule.failure))
      : Effect.succeed(layerWith(withEnv(options, env), env.logFormat, schedule.success))
  }))

/**
 * The schedule from the options, else `CERTIFICATION_SCHEDULE`, else off, with the policy settings;
 * or the issues of each bad `recertification.*` option.
 */
const scheduleOf = (
  options: CreateOptions,
  fromEnv: Option.Option<string>
): Result.Result<Recertification.ScheduleSettings, ReadonlyArray<JobPlan.FieldIssue>> => {
  const r = options.recertification ?? {}
  const text = r.schedule === false ? "off" : r.schedule ?? Option.getOrElse(fromEnv, () => "off")
  const off = text.trim() === "" || text.trim().toLowerCase() === "off"
  const checked = Recertification.validateUpdate(Recertification.defaultSchedule, {
    enabled: !off,
    schedule: off ? null : text,
    leadTimeDays: r.leadTimeDays,
    retryAfterHours: r.retryAfterHours,
    maxUnits: r.maxUnits,
    maxRegions: r.maxRegions
  })
  return Result.mapError(checked, (issues) =>
    issues.map((i) => new JobPlan.FieldIssue({ field: `recertification.${i.field}`, message: i.message })))
}

/** The control-plane facts the recertification policy sees, from the options (none by default). */
const observationsOf = (
  options: CreateOptions,
  registry: Layer.Layer<Registry.Registry>
): Layer.Layer<Recertification.Observations, unknown> | Layer.Layer<never> => {
  const r = options.recertification
  if (r?.observations !== undefined) return r.observations
  if (r?.controlPlane === undefined || r.controlPlane === false) return Layer.empty
  const controlPlane = ControlPlane.layer({
    endpoint: options.bedrock?.endpoint,
    credentials: options.bedrock?.credentials as ControlPlane.Credentials | undefined
  })
  return RecertificationObservations.layer(r.controlPlane === true ? {} : { regions: r.controlPlane.regions }).pipe(
    Layer.provide(Layer.mergeAll(options.storage, registry, controlPlane.pipe(Layer.provide(registry))))
  )
}

const layerWith = (
  options: CreateOptions,
  logFormat: "pretty" | "json",
  schedule: Recertification.ScheduleSettings
): Layer.Layer<Certification.Certification, unknown> => {
  // Provided to the layers and kept in the output, so calls through the runtime log at this level,
  // to this logger, and read the same clock too.
  const logging = Layer.mergeAll(
    Layer.succeed(References.MinimumLogLevel, options.logLevel ?? "Info"),
    loggerLayer({ logger: options.logger, format: logFormat }),
    options.clock === undefined ? Layer.empty : Layer.succeed(Clock.Clock, options.clock),
    // Issue 18: spans exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (a no-op otherwise).
    Tracing.layerFromEnv()
  )
  const runnerSettings = Layer.succeed(Runner.RunnerConfig, { ...Runner.RunnerConfig.defaultValue(), ...options.runner })
  const registry = Registry.layerWith(options.registry ?? {})
  const core = Layer.mergeAll(
    options.storage,
    options.queue,
    registry,
    options.catalog ?? Layer.empty,
    BedrockRuntime.layer(options.bedrock),
    RegionGovernor.layer(options.governor),
    runnerSettings,
    logging,
    options.requestRates === undefined ? Layer.empty : RequestRateLimit.layerMemory(options.requestRates),
    Layer.succeed(Recertification.ScheduleConfig, schedule),
    observationsOf(options, registry)
  )
  const withLiving = livingLayer(options)
  const livingBase = withLiving === undefined ? undefined : Layer.provideMerge(withLiving, core)
  const base: Layer.Layer<Layer.Success<typeof core>, Layer.Error<typeof core>, Layer.Services<typeof core>> = livingBase ?? core
  // With `controlPlane`, the living registry is in the output too (the HTTP plugin's /models and /registry/diff read it).
  const living = livingBase === undefined
    ? Layer.empty
    : Layer.effect(LivingRegistry.LivingRegistry, Effect.service(LivingRegistry.LivingRegistry)).pipe(Layer.provide(livingBase))
  const certification = Certification.layer(options.settings).pipe(Layer.provide(base))
  const runScheduler = options.recertification?.scheduler === true || schedule.enabled
  const service = runScheduler
    ? Layer.mergeAll(
      certification,
      logging,
      living,
      RecertificationScheduler.layer({ pollInterval: options.recertification?.pollInterval }).pipe(
        Layer.provide(Layer.merge(certification, base))
      )
    )
    : Layer.mergeAll(certification, logging, living)
  if (options.worker === false) return service
  const worker = Worker.layer(options.worker ?? {}).pipe(Layer.provide(base))
  return Layer.merge(service, worker)
}

/** The living registry over the core's storage and registry, when `controlPlane` is set (issue #13). */
const livingLayer = (
  options: CreateOptions
): Layer.Layer<LivingRegistry.LivingRegistry, never, Storage | Registry.Registry> | undefined =>
  options.controlPlane === undefined || options.controlPlane === false
    ? undefined
    : LivingRegistry.layerWithClient(options.controlPlane, options.bedrock ?? {})

export interface WaitOptions {
  /** Called with every progress event until the job is terminal. */
  readonly onEvent?: ((event: ProgressEvent) => void) | undefined
  /** Give up waiting after this long (the job keeps running); rejects with a `TimeoutError`. */
  readonly timeout?: Duration.Input | undefined
}

/** Build the facade. Call `close()` when done: it stops the worker and releases every resource. */
export const createCertification = (options: CreateOptions) => {
  const runtime = ManagedRuntime.make(layer(options))
  const run = <A, E>(effect: Effect.Effect<A, E, Certification.Certification>): Promise<A> => runtime.runPromise(effect)
  const service = Effect.service(Certification.Certification)
  // Read once more here (the layer read it too) so a request without a region gets AWS_REGION.
  const defaultRegions = loadEnv(options.env).pipe(
    Effect.map((env) => Option.toArray(env.defaultRegion)),
    Effect.orElseSucceed((): Array<string> => [])
  )
  // Only an omitted field takes the default (or says AWS_REGION is not set): an explicit `[]` is the
  // caller's mistake, and the service reports it together with every other issue of the request.
  const regionsOr = (field: string, given: ReadonlyArray<string> | undefined) =>
    given !== undefined
      ? Effect.succeed(given)
      : Effect.flatMap(defaultRegions, (regions) =>
        regions.length > 0
          ? Effect.succeed(regions)
          : JobPlan.invalid([new JobPlan.FieldIssue({ field, message: "none given and AWS_REGION is not set" })]))

  async function* events(jobId: string): AsyncGenerator<ProgressEvent> {
    const context = await runtime.context()
    const s = Context.get(context, Certification.Certification)
    yield* Stream.toAsyncIterableWith(s.events(jobId), context)
  }

  return {
    /** Certify one model in one region (default: `AWS_REGION`). */
    certifyModel: (request: { readonly modelId: string; readonly region?: string | undefined }, meta?: Certification.RequestMeta) =>
      run(Effect.gen(function*() {
        const [region] = yield* regionsOr("region", request.region === undefined ? undefined : [request.region])
        return yield* (yield* service).certifyModel({ modelId: request.modelId, region: region! }, meta)
      })),
    /** Certify models × regions (default regions: `AWS_REGION`). */
    certifyMultiple: (
      request: { readonly modelIds: ReadonlyArray<string>; readonly regions?: ReadonlyArray<string> | undefined },
      meta?: Certification.RequestMeta
    ) =>
      run(Effect.gen(function*() {
        const regions = yield* regionsOr("regions", request.regions)
        return yield* (yield* service).certifyMultiple({ modelIds: request.modelIds, regions }, meta)
      })),
    /** Certify every certifiable model in the regions (default: `AWS_REGION`). */
    certifyAll: (
      request: {
        readonly regions?: ReadonlyArray<string> | undefined
        readonly modalities?: ReadonlyArray<"chat" | "embedding">
      },
      meta?: Certification.RequestMeta
    ) =>
      run(Effect.gen(function*() {
        const regions = yield* regionsOr("regions", request.regions)
        return yield* (yield* service).certifyAll({ ...request, regions }, meta)
      })),
    retry: (jobId: string, meta?: Certification.RequestMeta) =>
      run(Effect.flatMap(service, (s) => s.retry(jobId, meta))),
    cancel: (jobId: string) => run(Effect.flatMap(service, (s) => s.cancel(jobId))),
    getJob: (jobId: string) => run(Effect.flatMap(service, (s) => s.getJob(jobId))),
    history: (filter: HistoryFilter = {}, page: PageRequest = { page: 1, limit: 20 }) =>
      run(Effect.flatMap(service, (s) => s.history(filter, page))),
    latest: (filter: LatestFilter = {}, page: PageRequest = { page: 1, limit: 20 }) =>
      run(Effect.flatMap(service, (s) => s.latest(filter, page))),
    stats: () => run(Effect.flatMap(service, (s) => s.stats)),
    /** Delete finished jobs older than the given number of days (retention). */
    cleanup: (options: { readonly olderThanDays: number }) => run(Effect.flatMap(service, (s) => s.cleanup(options))),
    /** Progress events of a job until it is terminal. */
    events,
    /** Resolve with the job detail once the job is terminal. */
    waitForJob: (jobId: string, waitOptions: WaitOptions = {}) => {
      const wait = Effect.gen(function*() {
        const s = yield* service
        yield* s.events(jobId).pipe(
          Stream.runForEach((e) => Effect.sync(() => waitOptions.onEvent?.(e)))
        )
        let detail = yield* s.getJob(jobId)
        // The stream ends on the terminal event; the row is already terminal by then.
        while (!JobStateMachine.isTerminalJob(detail.job.status as JobStatus)) {
          yield* Effect.sleep("100 millis")
          detail = yield* s.getJob(jobId)
        }
        return detail
      })
      return run(waitOptions.timeout === undefined ? wait : Effect.timeout(wait, waitOptions.timeout))
    },
    // Continuous certification (issue 14).
    /** Pause a running job: no new unit starts, running ones finish (409-style `JobConflict` when terminal). */
    pause: (jobId: string) => run(Effect.flatMap(service, (s) => s.pause(jobId))),
    /** Resume a paused job where it stopped. */
    resume: (jobId: string) => run(Effect.flatMap(service, (s) => s.resume(jobId))),
    /** A RECERTIFY job for the latest results a selection picks, or `job: null` with the reason. */
    recertify: (selection: Recertification.Selection = {}, meta?: Certification.RequestMeta) =>
      run(Effect.flatMap(service, (s) => s.recertify(selection, meta))),
    /** The recertification schedule: settings, next run, last run and its job. */
    schedule: () => run(Effect.flatMap(service, (s) => s.schedule)),
    /** Change the recertification schedule for every process sharing the storage. */
    updateSchedule: (update: Recertification.ScheduleUpdate) =>
      run(Effect.flatMap(service, (s) => s.updateSchedule(update))),
    /** The reasons recorded for each pair of a RECERTIFY job. */
    recertificationReasons: (jobId: string) => run(Effect.flatMap(service, (s) => s.recertificationReasons(jobId))),
    /** The Effect runtime behind the facade, for mixing in Effect code. */
    runtime,
    /** Stop the worker and release every resource (connections, clients, servers). */
    close: (): Promise<void> => runtime.dispose()
  }
}

export type CertificationClient = ReturnType<typeof createCertification>
