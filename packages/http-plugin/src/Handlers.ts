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
import { Certification as Core, Domain, LatencyStats, Metrics, Region as Regions, Registry } from "@myia/certification"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Api from "./Api.ts"
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
}

const defaultPageSize = 20

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
  StorageError: () => Envelope.fail(503, "SERVICE_UNAVAILABLE", unavailableMessage),
  QueueError: () => Envelope.fail(503, "SERVICE_UNAVAILABLE", unavailableMessage)
} as const

type CoreError =
  | Core.InvalidRequest
  | Core.ModelsNotCertifiable
  | Core.JobNotFound
  | Core.JobConflict
  | Core.IdempotencyConflict
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

const unitRowOf = (unit: Core.UnitView): Api.UnitRow => {
  const { lease: _lease, model, ...rest } = unit
  return {
    ...rest,
    passed: unit.status === "CERTIFIED" || unit.status === "QUALITY_WARNING",
    rating: unit.grade,
    duration: unit.durationMs === null ? null : Math.round(unit.durationMs / 10) / 100,
    model: { id: model.id, name: model.name, vendor: model.vendor, apiModelId: unit.modelId }
  }
}

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

/** Who asks (the principal) and under which `Idempotency-Key`, for the service. */
const metaOf = (headers: { readonly "idempotency-key"?: string | undefined }) =>
  Effect.map(Effect.service(CurrentPrincipal), (p): Core.RequestMeta => ({
    createdBy: p.id,
    idempotencyKey: headers["idempotency-key"] ?? null
  }))

/** Every group of `CertificationApi`, implemented over `Certification` and `Registry`. */
export const layer = (options: HandlerOptions) => {
  const outageLog = makeOutageLog()

  /** Map a core failure to its HTTP error; infrastructure failures are logged (never sent). */
  const toApiError = <E extends { readonly _tag: string; readonly message: string }>(error: E) => {
    const row = errorTable[error._tag as keyof typeof errorTable] as ((e: E) => Api.BadRequest) | undefined
    if (row === undefined) return Effect.die(error)
    const log = error._tag === "StorageError" || error._tag === "QueueError" ? outageLog(error) : Effect.void
    return Effect.andThen(log, Effect.fail(row(error)))
  }
  const mapErrors = <A, E extends CoreError, R>(effect: Effect.Effect<A, E, R>) => Effect.catch(effect, toApiError)

  const certify = HttpApiBuilder.group(
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

  const heartbeats = Stream.tick(options.sseHeartbeat ?? Duration.seconds(15)).pipe(
    Stream.drop(1), // the first tick is immediate
    Stream.map(() => ({ event: "heartbeat" as const, data: "" as const }))
  )

  const jobs = HttpApiBuilder.group(
    Api.CertificationApi,
    "jobs",
    Effect.fn(function*(handlers) {
      const service = yield* Core.Certification
      return handlers
        .handle("getJob", ({ params }) =>
          mapErrors(service.getJob(params.jobId)).pipe(
            Effect.map((d) => ok({ ...d.job, ...progress(d.counts), certifications: d.units.map(unitRowOf) }))
          ))
        .handle("events", ({ headers, params }) =>
          // Check the job first so an unknown id is a 404, not an empty stream.
          mapErrors(service.getJob(params.jobId)).pipe(
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
            const counts = yield* service.getJob(job.id).pipe(Effect.map((d) => d.counts))
            return ok({ ...job, ...progress(counts) })
          }).pipe(mapErrors))
    })
  )

  const results = HttpApiBuilder.group(
    Api.CertificationApi,
    "results",
    Effect.fn(function*(handlers) {
      const service = yield* Core.Certification
      const registry = yield* Registry.Registry

      /** Every latest result matching the filter (pages of 100). */
      const allLatest = (filter: { readonly region?: Domain.Region | undefined }) =>
        Effect.gen(function*() {
          const first = yield* service.latest(filter, { page: 1, limit: 100 })
          const pages = Math.min(Math.ceil(first.total / 100), 50)
          const rest = yield* Effect.forEach(
            Array.from({ length: Math.max(pages - 1, 0) }, (_, i) => i + 2),
            (page) => service.latest(filter, { page, limit: 100 }).pipe(Effect.map((p) => p.items))
          )
          return [...first.items, ...rest.flat()]
        })

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
            const filter = { modelId: query.modelId, region: query.region, status: query.status }
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
            return ok(registry.models.map((m) => {
              const c = region === undefined ? null : registry.certifiability(m.id, region, now)
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
                }))
              }
            }))
          }))
    })
  )

  const system = HttpApiBuilder.group(
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
        .handle("metrics", () => Effect.andThen(refreshQueue, options.metrics))
    })
  )

  // Issue 19: GET /principal answers who the authorize hook says the caller is.
  const session = HttpApiBuilder.group(
    Api.CertificationApi,
    "session",
    (handlers) =>
      handlers.handle("principal", () =>
        Effect.map(Effect.service(CurrentPrincipal), (p) => ok({ id: p.id, canRead: p.canRead, canWrite: p.canWrite })))
  )

  return Layer.mergeAll(certify, jobs, results, system, session)
}

/** Prometheus text of every metric in the default registry (the SDK's metrics included). */
export const defaultMetrics: Effect.Effect<string> = Metrics.render
