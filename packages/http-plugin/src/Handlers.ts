/**
 * The server side of `CertificationApi`: one handler per endpoint, each a thin translation from
 * HTTP to the `Certification` service of `@myia/certification` and back into the response envelope.
 *
 * Core's typed errors map to HTTP errors through one table (`errorTable`); infrastructure errors
 * (storage, queue) become a generic 503 and are logged at WARN once per outage, never echoed. The
 * caller's identity arrives per request as `CurrentPrincipal` (provided by the `Authorization`
 * middleware after the host's authorize hook), and becomes the job's `createdBy`. Inputs arrive
 * already validated by `Inputs` (the schemas of `Api`).
 *
 * @since 0.1.0
 */
import {
  Certification as Core,
  Domain,
  LatencyStats,
  LivingRegistry,
  Metrics,
  type Recertification,
  Region as Regions,
  Registry,
  RegistryMerge
} from "@myia/certification"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Zlib from "node:zlib"
import * as Api from "./Api.ts"
import * as Dashboard from "./Dashboard.ts"
import * as Envelope from "./Envelope.ts"

/** Who is calling: the answer of the host's authorize hook. */
export type Principal = Api.Principal

/** The principal of the current request (provided by the `Authorization` middleware). */
export const CurrentPrincipal = Api.CurrentPrincipal

/** Handler settings (the plugin fills them from its options). */
export interface HandlerOptions {
  /** Largest `limit` accepted by paginated endpoints (default 100; more is a 400, never clamped). */
  readonly maxPageSize: number
  /** Prometheus text for GET /metrics. */
  readonly metrics: Effect.Effect<string>
  /** Issue 18: a heartbeat event this often on the SSE stream (default 15 s). */
  readonly sseHeartbeat?: Duration.Input | undefined
  /** Issue 15: GET /ready reports `degraded` beyond this clock offset from the database (ms; default 5 s). */
  readonly maxClockSkewMillis?: number | undefined
}

const defaultPageSize = 20

/** Units per page of GET /jobs/:jobId unless `unitsLimit` says otherwise (issue 16). */
const defaultUnitsPageSize = 100

const unavailableMessage = "the certification service is temporarily unavailable; retry later"

/** Core errors → HTTP errors: one row per tagged error the service can fail with. */
export const errorTable = {
  InvalidRequest: (e: Core.InvalidRequest) =>
    Envelope.fail(400, "VALIDATION_ERROR", e.message, {
      issues: e.issues.map((i) => ({ field: i.field, message: i.message }))
    }),
  ModelsNotCertifiable: (e: Core.ModelsNotCertifiable) =>
    Envelope.fail(400, "MODELS_NOT_CERTIFIABLE", e.message, {
      models: e.models.map((m) => ({ modelId: m.modelId, region: m.region, reason: m.reason, message: m.message }))
    }),
  JobNotFound: (e: Core.JobNotFound) => Envelope.fail(404, "JOB_NOT_FOUND", e.message, { jobId: e.jobId }),
  JobConflict: (e: Core.JobConflict) =>
    Envelope.fail(409, "JOB_CONFLICT", e.message, { jobId: e.jobId, status: e.status }),
  IdempotencyConflict: (e: Core.IdempotencyConflict) =>
    Envelope.fail(409, "IDEMPOTENCY_CONFLICT", e.message, { jobId: e.jobId }),
  UnitNotFound: (e: Core.UnitNotFound) =>
    Envelope.fail(404, "UNIT_NOT_FOUND", e.message, { jobId: e.jobId, unitId: e.unitId }),
  StorageError: () => Envelope.fail(503, "SERVICE_UNAVAILABLE", unavailableMessage),
  QueueError: () => Envelope.fail(503, "SERVICE_UNAVAILABLE", unavailableMessage)
} as const

type CoreError =
  | Core.InvalidRequest
  | Core.ModelsNotCertifiable
  | Core.JobNotFound
  | Core.JobConflict
  | Core.IdempotencyConflict
  | Core.UnitNotFound
  | Core.CertificationError

/** How long the same backend failure is logged at DEBUG after its WARN line (an outage is one WARN, not one per request). */
const outageWarnEveryMillis = 60_000

/**
 * Logs an infrastructure failure at WARN — its message only, never a stack — once per distinct
 * failure per minute; repeats inside that minute go to DEBUG.
 */
export const makeOutageLog = () => {
  const warnedAt = new Map<string, number>()
  return (error: { readonly _tag: string; readonly message: string }) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const key = `${error._tag}: ${error.message}`
      const last = warnedAt.get(key)
      if (last !== undefined && now - last < outageWarnEveryMillis) {
        return Effect.logDebug(`certification backend unavailable (repeat): ${key}`)
      }
      warnedAt.set(key, now)
      return Effect.logWarning(`certification backend unavailable: ${key}`)
    })
}

const pageOf = (query: { readonly page?: number | undefined; readonly limit?: number | undefined }, max: number) => {
  const limit = query.limit ?? defaultPageSize
  if (limit > max) return Effect.fail(Envelope.badField("limit", `must be at most ${max} (got ${limit})`))
  return Effect.succeed({ page: query.page ?? 1, limit })
}

const pagination = (p: { readonly page: number; readonly limit: number; readonly total: number }) => ({
  page: p.page,
  limit: p.limit,
  total: p.total,
  totalPages: Math.ceil(p.total / p.limit)
})

const progress = (counts: Domain.JobCounts) => ({
  totalModels: counts.total,
  processedModels: counts.completed,
  successCount: counts.passed,
  failureCount: counts.completed - counts.passed,
  counts
})

// Every field named once, in one literal of fixed shape: a job detail page maps hundreds of units per
// request, and copying a decoded unit with a rest spread costs several times more (issue 16).
const unitRowOf = (unit: Core.UnitView): Api.UnitRow => ({
  id: unit.id,
  jobId: unit.jobId,
  modelId: unit.modelId,
  hostModelId: unit.hostModelId,
  region: unit.region,
  status: unit.status,
  invocationTarget: unit.invocationTarget,
  suiteVersion: unit.suiteVersion,
  tests: unit.tests,
  score: unit.score,
  grade: unit.grade,
  stars: unit.stars,
  error: unit.error,
  findings: unit.findings,
  attempts: unit.attempts,
  createdAt: unit.createdAt,
  queuedAt: unit.queuedAt,
  startedAt: unit.startedAt,
  completedAt: unit.completedAt,
  durationMs: unit.durationMs,
  expiresAt: unit.expiresAt,
  passed: unit.status === "CERTIFIED" || unit.status === "QUALITY_WARNING",
  rating: unit.grade,
  duration: unit.durationMs === null ? null : Math.round(unit.durationMs / 10) / 100,
  model: { id: unit.model.id, name: unit.model.name, vendor: unit.model.vendor, apiModelId: unit.modelId }
})

const createdOf = (created: Core.CreatedJob, single?: { readonly modelId: string; readonly region: string }) => {
  const body = {
    status: "success" as const,
    data: {
      jobId: created.jobId,
      type: created.type,
      status: created.status,
      ...(single === undefined ? {} : { modelId: single.modelId, region: single.region }),
      totalJobs: created.totalUnits,
      modelIds: created.modelIds,
      regions: created.regions,
      skipped: created.skipped.map((s) => ({ modelId: s.modelId, region: s.region, reason: s.reason, message: s.message }))
    }
  }
  // A repeat (same Idempotency-Key, or a retry already running) gets the first answer with 200.
  return created.replayed === true ? HttpServerResponse.jsonUnsafe(body, { status: 200 }) : body
}

const ok = <A>(data: A) => ({ status: "success" as const, data })

/** Answers at least this large are compressed when the client accepts it (job detail, issue 16). */
const compressFromBytes = 16 * 1024

/**
 * A JSON answer, compressed (brotli or gzip at their fastest levels) when it is large and the client
 * accepts either. A first page of a 20,000-unit job is ~115 KB of repetitive JSON; compressed it is a
 * few KB, which a UI polling every few seconds (and the socket) feels more than the ~0.5 ms it costs.
 */
const jsonMaybeCompressed = (json: string, acceptEncoding: string | undefined): HttpServerResponse.HttpServerResponse => {
  const encoding = json.length < compressFromBytes ? undefined : Dashboard.encodingFor(acceptEncoding)
  if (encoding === undefined) {
    return HttpServerResponse.text(json, { contentType: "application/json", headers: { vary: "accept-encoding" } })
  }
  const body = encoding === "br"
    ? Zlib.brotliCompressSync(json, {
      params: { [Zlib.constants.BROTLI_PARAM_QUALITY]: 1, [Zlib.constants.BROTLI_PARAM_SIZE_HINT]: json.length }
    })
    : Zlib.gzipSync(json, { level: 1 })
  return HttpServerResponse.uint8Array(body, {
    contentType: "application/json",
    headers: { "content-encoding": encoding, vary: "accept-encoding" }
  })
}

/**
 * Issue 16: identical reads in flight at the same time share one computation. Many admin UIs (or
 * tabs) polling the same job ask for the same page within milliseconds of each other; the first
 * request computes it and the others that arrive before it finishes take its answer (or its
 * error). Nothing is kept once it finishes, so an answer is never older than a request that was
 * already running when it was asked. The shared computation is uninterruptible (one storage read):
 * a leader whose client went away still completes it for the followers.
 */
export const coalescing = <A, E>() => {
  const inFlight = new Map<string, Deferred.Deferred<A, E>>()
  return <R>(key: string, compute: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const running = inFlight.get(key)
      if (running !== undefined) return Deferred.await(running)
      const shared = Deferred.makeUnsafe<A, E>()
      inFlight.set(key, shared)
      return Effect.uninterruptible(
        compute.pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              inFlight.delete(key)
              Deferred.doneUnsafe(shared, exit)
            })
          )
        )
      )
    })
}

/** Who asks (the principal) and under which `Idempotency-Key`, for the service. */
const metaOf = (headers: { readonly "idempotency-key"?: string | undefined }) =>
  Effect.map(Effect.service(CurrentPrincipal), (p): Core.RequestMeta => ({
    createdBy: p.id,
    idempotencyKey: headers["idempotency-key"] ?? null
  }))

/** Wraps a handler's effect so core failures become HTTP errors (see `errorTable`). */
const errorMapper = (outageLog: ReturnType<typeof makeOutageLog>) => {
  /** Map a core failure to its HTTP error; infrastructure failures are logged (never sent). */
  const toApiError = <E extends { readonly _tag: string; readonly message: string }>(error: E) => {
    const row = errorTable[error._tag as keyof typeof errorTable] as ((e: E) => Api.BadRequest) | undefined
    if (row === undefined) return Effect.die(error)
    const log = error._tag === "StorageError" || error._tag === "QueueError" ? outageLog(error) : Effect.void
    return Effect.andThen(log, Effect.fail(row(error)))
  }
  const mapErrors = <A, E extends CoreError, R>(effect: Effect.Effect<A, E, R>) => Effect.catch(effect, toApiError)
  return mapErrors
}

type MapErrors = ReturnType<typeof errorMapper>

const certifyGroup = (mapErrors: MapErrors) =>
  HttpApiBuilder.group(
    Api.CertificationApi,
    "certify",
    Effect.fn(function*(handlers) {
      const service = yield* Core.Certification
      return handlers
        .handle("certifyModel", ({ headers, payload }) =>
          mapErrors(Effect.flatMap(metaOf(headers), (meta) => service.certifyModel(payload, meta))).pipe(
            Effect.map((c) => createdOf(c, payload))
          ))
        .handle("certifyMultiple", ({ headers, payload }) =>
          mapErrors(Effect.flatMap(metaOf(headers), (meta) => service.certifyMultiple(payload, meta))).pipe(
            Effect.map((c) => createdOf(c))
          ))
        .handle("certifyAll", ({ headers, payload }) =>
          mapErrors(Effect.flatMap(metaOf(headers), (meta) => service.certifyAll(payload, meta))).pipe(
            Effect.map((c) => createdOf(c))
          ))
    })
  )

const heartbeatsOf = (options: HandlerOptions) =>
  Stream.tick(options.sseHeartbeat ?? Duration.seconds(15)).pipe(
    Stream.drop(1), // the first tick is immediate
    Stream.map(() => ({ event: "heartbeat" as const, data: "" as const }))
  )

const jobsGroup = (mapErrors: MapErrors, heartbeats: ReturnType<typeof heartbeatsOf>) =>
  HttpApiBuilder.group(
    Api.CertificationApi,
    "jobs",
    Effect.fn(function*(handlers) {
      const service = yield* Core.Certification
      const sharedJobDetail = coalescing<string, Api.BadRequest | Api.NotFound | Api.Conflict | Api.ServiceUnavailable>()
      return handlers
        .handle("getJob", ({ params, query }) =>
          Effect.gen(function*() {
            const limit = query.unitsLimit ?? defaultUnitsPageSize
            if (limit > Core.maxUnitsLimit) {
              return yield* Envelope.badField("unitsLimit", `must be at most ${Core.maxUnitsLimit} (got ${limit})`)
            }
            const page = {
              page: query.unitsPage ?? 1,
              limit,
              status: query.status,
              region: query.region,
              modelId: query.modelId,
              withTests: query.includeTests === "true"
            }
            const json = yield* sharedJobDetail(
              JSON.stringify([params.jobId, page.page, page.limit, page.status, page.region, page.modelId, page.withTests]),
              mapErrors(service.jobPage(params.jobId, page)).pipe(Effect.map((d) => {
                const body: Api.JobDetail = {
                  ...d.job,
                  ...progress(d.counts),
                  certifications: d.units.items.map(unitRowOf),
                  summary: d.summary,
                  unitsPagination: pagination(d.units),
                  testsIncluded: d.withTests
                }
                // Issue 16: every part was decoded by storage or built here to the schema's type, whose
                // encoding is the identity (strings, numbers, plain records): JSON as it is, without
                // walking 100+ units through `Api.JobDetail` again on each poll.
                return JSON.stringify(ok(body))
              }))
            )
            const request = yield* HttpServerRequest.HttpServerRequest
            return jsonMaybeCompressed(json, request.headers["accept-encoding"])
          }))
        .handle("getJobUnit", ({ params }) => mapErrors(service.jobUnit(params.jobId, params.unitId)).pipe(Effect.map((u) => ok(unitRowOf(u)))))
        .handle("events", ({ headers, params }) =>
          // Check the job first so an unknown id is a 404, not an empty stream.
          mapErrors(service.jobPage(params.jobId, { page: 1, limit: 1 })).pipe(
            Effect.as(
              service.progress(params.jobId, headers["last-event-id"] ?? 0).pipe(
                Stream.tapError((e) => Effect.logWarning(`progress stream ended early: ${e.message}`)),
                Stream.catch(() => Stream.empty),
                Stream.map(({ event, seq }) => ({ id: String(seq), event: "message" as const, data: event })),
                Stream.merge(heartbeats, { haltStrategy: "left" })
              )
            )
          ))
        .handle("retry", ({ headers, params }) =>
          mapErrors(Effect.flatMap(metaOf(headers), (meta) => service.retry(params.jobId, meta))).pipe(
            Effect.map((c) => createdOf(c))
          ))
        .handle("cancel", ({ params }) =>
          Effect.gen(function*() {
            const job = yield* service.cancel(params.jobId)
            const counts = yield* service.jobPage(job.id, { page: 1, limit: 1 }).pipe(Effect.map((d) => d.counts))
            return ok({ ...job, ...progress(counts) })
          }).pipe(mapErrors))
    })
  )

const resultsGroup = (options: HandlerOptions, mapErrors: MapErrors) =>
  HttpApiBuilder.group(
    Api.CertificationApi,
    "results",
    Effect.fn(function*(handlers) {
      const service = yield* Core.Certification
      const registry = yield* Registry.Registry

      const allLatest = allLatestOf(service)
      const living = yield* Effect.serviceOption(LivingRegistry.LivingRegistry)

      return handlers
        .handle("history", ({ query }) =>
          Effect.gen(function*() {
            const page = yield* pageOf(query, options.maxPageSize)
            const result = yield* mapErrors(service.history({ status: query.status, type: query.type }, page))
            return ok({
              jobs: result.items.map((s) => ({ ...s.job, ...progress(s.counts) })),
              pagination: pagination({ page: page.page, limit: page.limit, total: result.total })
            })
          }))
        .handle("certifications", ({ query }) =>
          Effect.gen(function*() {
            const page = yield* pageOf(query, options.maxPageSize)
            const filter = {
              modelId: query.modelId,
              region: query.region,
              status: query.status,
              // Continuous certification (issue 14).
              expiringBefore: query.expiringBefore,
              verdicts: query.verdict === undefined ? undefined : query.verdict.split(",") as Array<Domain.Verdict>
            }
            const result = yield* mapErrors(service.latest(filter, page))
            return ok({
              certifications: result.items.map(unitRowOf),
              pagination: pagination({ page: page.page, limit: page.limit, total: result.total })
            })
          }))
        .handle("stats", () =>
          mapErrors(Effect.all([service.stats, allLatest({})], { concurrency: 2 })).pipe(
            Effect.map(([s, latest]) =>
              ok({
                ...s,
                unitsByRegion: s.unitsByRegion.map((r) => ({ ...r, byVerdict: { ...r.byVerdict } })),
                // Issue 18: p50/p95 per region and model family over the latest result of each pair.
                latency: LatencyStats.aggregate(latest)
              })
            )
          ))
        .handle("regions", () =>
          Effect.succeed(ok(Regions.regionCodes.map((id) => ({ id, name: Regions.regions[id] })))))
        .handle("models", ({ query }) =>
          Effect.gen(function*() {
            const region = query.region
            const latest = yield* mapErrors(allLatest({ region }))
            const now = yield* DateTime.now
            const byModel = new Map<string, Array<Domain.Unit>>()
            for (const unit of latest) {
              const list = byModel.get(unit.modelId) ?? []
              list.push(unit)
              byModel.set(unit.modelId, list)
            }
            // Issue #13: with a living registry, the region's merged view (models only the control plane lists included).
            const discovery = region === undefined || Option.isNone(living) ? undefined : yield* living.value.observe(region)
            const shown = region === undefined || Option.isNone(living) ? registry : yield* living.value.registryFor([region])
            return ok(shown.models.map((m) => {
              const c = region === undefined ? null : shown.certifiability(m.id, region, now)
              return {
                id: m.id,
                name: m.name,
                vendor: m.vendor,
                modality: m.modality,
                api: m.api,
                lifecycle: m.lifecycle.status,
                capabilities: { ...m.capabilities },
                certifiability: c === null || region === undefined
                  ? null
                  : c._tag === "Certifiable"
                  ? { region, certifiable: true, reason: null, message: null, target: c.target }
                  : { region, certifiable: false, reason: c.reason, message: c.message, target: null },
                latest: (byModel.get(m.id) ?? []).map((u) => ({
                  region: u.region,
                  status: Domain.verdictOf(u) ?? "INCONCLUSIVE",
                  score: u.score,
                  rating: u.grade,
                  completedAt: u.completedAt,
                  expiresAt: u.expiresAt,
                  jobId: u.jobId
                })),
                ...(discovery === undefined || region === undefined
                  ? {}
                  : { registry: registryFacts(registry, m.id, region, discovery, byModel.get(m.id)?.[0]) })
              }
            }))
          }))
    })
  )

/** Issue 15: GET /ready — the database answers, and this process's clock against the database's. */
const readinessOf = (service: Core.Certification["Service"], options: HandlerOptions, mapErrors: MapErrors) =>
  mapErrors(service.clockSkew(options.maxClockSkewMillis)).pipe(
    Effect.map((reading) =>
      ok({
        status: reading.ok ? "ready" as const : "degraded" as const,
        storage: "ok" as const,
        clock: {
          reference: reading.reference,
          offsetMillis: reading.skewMillis,
          thresholdMillis: reading.thresholdMillis,
          status: reading.ok ? "ok" as const : "skewed" as const,
          measuredAt: reading.at
        }
      })
    )
  )

const systemGroup = (options: HandlerOptions, mapErrors: MapErrors) =>
  HttpApiBuilder.group(
    Api.CertificationApi,
    "system",
    Effect.fn(function*(handlers) {
      const certification = yield* Core.Certification
      // Queue depth is mirrored into the gauges at scrape time; a queue outage must not break /metrics.
      const refreshQueue = certification.stats.pipe(
        Effect.flatMap((s) => Metrics.refresh({ queue: s.queue })),
        Effect.ignore
      )
      return handlers
        .handle("health", () => Effect.succeed(ok({ status: "ok" as const })))
        .handle("ready", () => readinessOf(certification, options, mapErrors))
        .handle("metrics", () => Effect.andThen(refreshQueue, options.metrics))
    })
  )

// Issue #13: declared (snapshot) vs observed (control plane) vs measured (our runs), per region.
const registryGroup = (mapErrors: MapErrors) =>
  HttpApiBuilder.group(
    Api.CertificationApi,
    "registry",
    Effect.fn(function*(handlers) {
      const service = yield* Core.Certification
      const registry = yield* Registry.Registry
      const living = yield* Effect.serviceOption(LivingRegistry.LivingRegistry)
      const allLatest = allLatestOf(service)
      return handlers.handle("registryDiff", ({ query }) =>
        Effect.gen(function*() {
          const region = query.region
          const latest = yield* mapErrors(allLatest({ region }))
          const discovery: LivingRegistry.Discovery = Option.isNone(living)
            ? { _tag: "Skipped", region, reason: "no living registry is configured (the facade's controlPlane option)" }
            : yield* living.value.observe(region)
          const ids = new Set([...registry.models.map((m) => m.id), ...latest.map((u) => u.modelId as string)])
          if (discovery._tag === "Observed") for (const m of discovery.observation.models) ids.add(m.modelId)
          const differences = [...ids].sort().flatMap((id) =>
            registryFacts(registry, id, region, discovery, latest.find((u) => u.modelId === id)).differences
          )
          return ok({
            discovery: {
              region,
              observed: discovery._tag === "Observed",
              observedAt: discovery._tag === "Observed" ? discovery.observation.observedAt : null,
              reason: discovery._tag === "Skipped" ? discovery.reason : null
            },
            differences
          })
        }))
    })
  )

// Issue 19: GET /principal answers who the authorize hook says the caller is.
const sessionGroup = () =>
  HttpApiBuilder.group(
    Api.CertificationApi,
    "session",
    (handlers) =>
      handlers.handle("principal", () =>
        Effect.map(Effect.service(CurrentPrincipal), (p) => ok({ id: p.id, canRead: p.canRead, canWrite: p.canWrite })))
  )

// Continuous certification (issue 14) ------------------------------------------------------
const recertificationGroup = (mapErrors: MapErrors) =>
  HttpApiBuilder.group(
    Api.CertificationApi,
    "recertification",
    Effect.fn(function*(handlers) {
      const service = yield* Core.Certification
      const summaryOf = (job: Domain.Job) =>
        service.getJob(job.id).pipe(Effect.map((d) => ok({ ...job, ...progress(d.counts) })))
      return handlers
        .handle("recertify", ({ headers, payload }) =>
          mapErrors(Effect.flatMap(metaOf(headers), (meta) => service.recertify(payload, meta))).pipe(
            Effect.map((r) => {
              const body = ok({
                jobId: r.job?.jobId ?? null,
                reason: r.reason,
                job: r.job === null ? null : createdDataOf(r.job),
                selected: r.selected.map((s) => ({ ...s, reasons: [...s.reasons] })),
                deferred: r.deferred,
                byReason: { ...r.byReason } as Record<string, number>
              })
              // Nothing matched, or a repeated Idempotency-Key: 200; a new job: 201.
              return r.job === null || r.job.replayed === true ? HttpServerResponse.jsonUnsafe(body, { status: 200 }) : body
            })
          ))
        .handle("getSchedule", () => mapErrors(service.schedule).pipe(Effect.map(scheduleOf)))
        .handle("putSchedule", ({ payload }) => mapErrors(service.updateSchedule(payload)).pipe(Effect.map(scheduleOf)))
        .handle("pause", ({ params }) => mapErrors(Effect.flatMap(service.pause(params.jobId), summaryOf)))
        .handle("resume", ({ params }) => mapErrors(Effect.flatMap(service.resume(params.jobId), summaryOf)))
    })
  )

/** Every group of `CertificationApi`, implemented over `Certification` and `Registry`. */
export const layer = (options: HandlerOptions) => {
  const mapErrors = errorMapper(makeOutageLog())
  return Layer.mergeAll(
    certifyGroup(mapErrors),
    jobsGroup(mapErrors, heartbeatsOf(options)),
    resultsGroup(options, mapErrors),
    systemGroup(options, mapErrors),
    registryGroup(mapErrors),
    sessionGroup(),
    recertificationGroup(mapErrors)
  )
}

/** Every latest result matching the filter (pages of 100, at most 50 pages). */
const allLatestOf = (service: Core.Certification["Service"]) => (filter: { readonly region?: Domain.Region | undefined }) =>
  Effect.gen(function*() {
    const first = yield* service.latest(filter, { page: 1, limit: 100 })
    const pages = Math.min(Math.ceil(first.total / 100), 50)
    const rest = yield* Effect.forEach(
      Array.from({ length: Math.max(pages - 1, 0) }, (_, i) => i + 2),
      (page) => service.latest(filter, { page, limit: 100 }).pipe(Effect.map((p) => p.items))
    )
    return [...first.items, ...rest.flat()]
  })

/** Issue #13: one model's merged registry facts in a region, from the observation, its latest result and the snapshot. */
const registryFacts = (
  registry: Registry.RegistryShape,
  modelId: string,
  region: Domain.Region,
  discovery: LivingRegistry.Discovery,
  measured: Domain.Unit | undefined
) => {
  const merged = RegistryMerge.merge({
    modelId,
    region,
    snapshot: Option.getOrUndefined(registry.get(modelId)),
    observed: discovery._tag === "Observed" ? discovery.observation : undefined,
    measured
  })
  return {
    inSnapshot: merged.inSnapshot,
    listed: merged.listed,
    facts: RegistryMerge.factRows(merged),
    differences: merged.differences.map((d) => ({ modelId: merged.modelId, region, ...d }))
  }
}

/** The `CreatedJob` shape of a RECERTIFY job (no single model/region). */
const createdDataOf = (created: Core.CreatedJob) => ({
  jobId: created.jobId,
  type: created.type,
  status: created.status,
  totalJobs: created.totalUnits,
  modelIds: created.modelIds,
  regions: created.regions,
  skipped: created.skipped.map((s) => ({ modelId: s.modelId, region: s.region, reason: s.reason, message: s.message }))
})

const scheduleOf = (view: Recertification.ScheduleView) =>
  ok({ ...view, lastRun: view.lastRun === null ? null : { ...view.lastRun, reasons: { ...view.lastRun.reasons } } })

/** Prometheus text of every metric in the default registry (the SDK's metrics included). */
export const defaultMetrics: Effect.Effect<string> = Metrics.render
