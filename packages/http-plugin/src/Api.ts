/**
 * The HTTP API of `@myia/certification`, as a client-safe `HttpApi` definition: endpoints, payloads,
 * responses and errors, with no server code. A frontend imports it from
 * `@myia/certification-http/api` to build a typed client (`HttpApiClient.make(CertificationApi)`),
 * and the plugin serves it and derives `/openapi.json` from it.
 *
 * Every success is the envelope `{"status":"success","data":…}`; every error is
 * `{"status":"error","error":{"code","message","details"?}}` with the HTTP status of its class.
 * Paths are relative to the base path the host mounts the plugin under. Every operation is behind
 * the `Authorization` middleware, declared as a bearer security scheme; text inputs decode through
 * `Inputs`, the one validation layer of every endpoint.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as HttpApiSchema from "effect/http-api/HttpApiSchema"
import * as HttpApiSecurity from "effect/http-api/HttpApiSecurity"
import * as OpenApi from "effect/http-api/OpenApi"
import { Domain, Queue } from "@myia/certification/schemas"
import packageJson from "../package.json" with { type: "json" }
import * as Inputs from "./Inputs.ts"

const { InvocationTarget, Job, JobCounts, JobStatus, JobType, Unit, UnitStatus, Verdict } = Domain
const { ProgressEvent } = Queue

// ---------------------------------------------------------------------------------------------
// Envelope and errors
// ---------------------------------------------------------------------------------------------

/** The `{"status":"success","data":…}` envelope around a response schema. */
export const Success = <S extends Schema.Top>(data: S) => Schema.Struct({ status: Schema.Literal("success"), data })

/** The body of an error: a stable machine code, a sentence for people, and structured details. */
export const ErrorBody = Schema.Struct({
  code: Schema.String,
  message: Schema.String,
  details: Schema.optionalKey(Schema.Unknown)
})
export type ErrorBody = typeof ErrorBody.Type

const errorFields = { status: Schema.Literal("error"), error: ErrorBody }

/** 400: validation failed (the details name each field and why), malformed JSON, or non-certifiable models. */
export class BadRequest extends Schema.Error<BadRequest>("BadRequest")(errorFields, { httpApiStatus: 400 }) {}
/** 401: the host's authorize hook found no valid credentials. */
export class Unauthorized extends Schema.Error<Unauthorized>("Unauthorized")(errorFields, { httpApiStatus: 401 }) {}
/** 403: the principal lacks the permission (GET needs read, everything else write). */
export class Forbidden extends Schema.Error<Forbidden>("Forbidden")(errorFields, { httpApiStatus: 403 }) {}
/** 404: unknown job or route. */
export class NotFound extends Schema.Error<NotFound>("NotFound")(errorFields, { httpApiStatus: 404 }) {}
/**
 * 409: the job's state does not allow the operation (cancel a finished job, retry with nothing to
 * retry), or an `Idempotency-Key` was reused with a different request.
 */
export class Conflict extends Schema.Error<Conflict>("Conflict")(errorFields, { httpApiStatus: 409 }) {}
/** 413: the request body is over the configured limit. */
export class PayloadTooLarge extends Schema.Error<PayloadTooLarge>("PayloadTooLarge")(errorFields, {
  httpApiStatus: 413
}) {}
/** 503: storage or queue unavailable; the message is generic on purpose. */
export class ServiceUnavailable extends Schema.Error<ServiceUnavailable>("ServiceUnavailable")(errorFields, {
  httpApiStatus: 503
}) {}

/** Every error class, by HTTP status. */
export const errorsByStatus = {
  400: BadRequest,
  401: Unauthorized,
  403: Forbidden,
  404: NotFound,
  409: Conflict,
  413: PayloadTooLarge,
  503: ServiceUnavailable
} as const

/** Errors any endpoint can return (auth, body size, infrastructure, validation). */
const common = [BadRequest, Unauthorized, Forbidden, PayloadTooLarge, ServiceUnavailable] as const

// ---------------------------------------------------------------------------------------------
// Authorization
// ---------------------------------------------------------------------------------------------

/** Who is calling: the answer of the host's authorize hook. */
export interface Principal {
  readonly id: string
  readonly canRead: boolean
  readonly canWrite: boolean
}

/** The principal of the current request (jobs record its `id` as `createdBy`). */
export class CurrentPrincipal extends Context.Service<CurrentPrincipal, Principal>()(
  "@myia/certification-http/CurrentPrincipal"
) {}

/**
 * The authorization of every operation, declared as a bearer scheme so `/openapi.json` and `/docs`
 * show it. The server side (the plugin) asks the host's authorize hook, which may also accept
 * cookies or sessions: a missing bearer token is a 401 only when the hook says so.
 */
export class Authorization extends HttpApiMiddleware.Service<Authorization, { provides: CurrentPrincipal }>()(
  "@myia/certification-http/Authorization",
  {
    security: { bearer: HttpApiSecurity.bearer },
    error: [Unauthorized, Forbidden, ServiceUnavailable]
  }
) {}

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

/** A (model, region) pair left out of a job, and why. */
export const Skipped = Schema.Struct({
  modelId: Schema.String,
  region: Schema.String,
  reason: Schema.String,
  message: Schema.String
})

/** What the three certify endpoints answer (201). */
export const CreatedJob = Schema.Struct({
  jobId: Schema.String,
  type: JobType,
  status: JobStatus,
  /** Set for POST /certify-model. */
  modelId: Schema.optionalKey(Schema.String),
  /** Set for POST /certify-model. */
  region: Schema.optionalKey(Schema.String),
  /** Units (model × region pairs) in the job. */
  totalJobs: Schema.Int,
  modelIds: Schema.Array(Schema.String),
  regions: Schema.Array(Schema.String),
  skipped: Schema.Array(Skipped)
})
export type CreatedJob = typeof CreatedJob.Type

/** The model facts shown beside a result. */
export const ModelRef = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  vendor: Schema.String,
  /** The Bedrock model id (differs from `id` when the host maps its own ids). */
  apiModelId: Schema.String
})

// The fencing lease is internal to workers and storage.
const { lease: _lease, ...unitFields } = Unit.fields

/** One unit of a job (one model in one region) with its result, as the admin UI lists it. */
export const UnitRow = Schema.Struct({
  ...unitFields,
  /** CERTIFIED or QUALITY_WARNING. */
  passed: Schema.Boolean,
  /** The grade (A–F), under the name the MyIA UI reads. */
  rating: Schema.NullOr(Schema.String),
  /** Seconds from start to verdict. */
  duration: Schema.NullOr(Schema.Number),
  model: ModelRef
})
export type UnitRow = typeof UnitRow.Type

/** Progress figures, under the names the MyIA UI reads, next to the exact `counts`. */
const progressFields = {
  totalModels: Schema.Int,
  processedModels: Schema.Int,
  successCount: Schema.Int,
  failureCount: Schema.Int,
  counts: JobCounts
}

/** A job with its progress (one row of the history). */
export const JobSummary = Schema.Struct({ ...Job.fields, ...progressFields })
export type JobSummary = typeof JobSummary.Type

/** The compact summary of a job (issue 16): units per region and verdict, the model × region matrix. */
export const JobSummaryBlock = Schema.Struct({
  byRegion: Schema.Array(Schema.Struct({
    region: Schema.String,
    total: Schema.Int,
    completed: Schema.Int,
    passed: Schema.Int,
    byStatus: Schema.Record(Schema.String, Schema.Int)
  })),
  byVerdict: Schema.Record(Schema.String, Schema.Int),
  /** `rows[i]` is `modelIds[i]`; its j-th letter is the status code in `regions[j]` (`.`: no unit). */
  matrix: Schema.Struct({
    modelIds: Schema.Array(Schema.String),
    regions: Schema.Array(Schema.String),
    rows: Schema.Array(Schema.String)
  }),
  /** Status code → unit status. */
  codes: Schema.Record(Schema.String, Schema.String)
})

/**
 * GET /jobs/:jobId: the v1 fields (job, progress, `certifications`) with `certifications` now one
 * page of units (`unitsPagination`), each without test records unless `includeTests=true`.
 */
export const JobDetail = Schema.Struct({
  ...Job.fields,
  ...progressFields,
  certifications: Schema.Array(UnitRow),
  summary: JobSummaryBlock,
  unitsPagination: Schema.Struct({ page: Schema.Int, limit: Schema.Int, total: Schema.Int, totalPages: Schema.Int }),
  testsIncluded: Schema.Boolean
})
export type JobDetail = typeof JobDetail.Type

export const Pagination = Schema.Struct({
  page: Schema.Int,
  limit: Schema.Int,
  total: Schema.Int,
  totalPages: Schema.Int
})

export const History = Schema.Struct({ jobs: Schema.Array(JobSummary), pagination: Pagination })
export const Certifications = Schema.Struct({ certifications: Schema.Array(UnitRow), pagination: Pagination })

const Counts = Schema.Record(Schema.String, Schema.Int)

/** A distribution in seconds (issue 18); `p50`/`p95` are null without samples. */
export const Percentiles = Schema.Struct({
  count: Schema.Int,
  p50: Schema.NullOr(Schema.Number),
  p95: Schema.NullOr(Schema.Number)
})

const latencyFields = { latency: Percentiles, ttft: Percentiles }

export const Stats = Schema.Struct({
  jobsByStatus: Counts,
  unitsByVerdict: Counts,
  unitsByRegion: Schema.Array(
    Schema.Struct({ region: Schema.String, total: Schema.Int, passed: Schema.Int, byVerdict: Counts })
  ),
  errorsByCategory: Counts,
  queue: Schema.Struct({ waiting: Schema.Int, active: Schema.Int, delayed: Schema.Int, failed: Schema.Int }),
  /** Issue 18: test latency and TTFT p50/p95 in seconds over the latest results, per region and model family. */
  latency: Schema.Struct({
    byRegion: Schema.Array(Schema.Struct({ region: Schema.String, ...latencyFields })),
    byModelFamily: Schema.Array(Schema.Struct({ family: Schema.String, ...latencyFields }))
  })
})

export const RegionInfo = Schema.Struct({ id: Schema.String, name: Schema.String })

/** Whether a model can be certified in the requested region, and through which target. */
export const ModelCertifiability = Schema.Struct({
  region: Schema.String,
  certifiable: Schema.Boolean,
  reason: Schema.NullOr(Schema.String),
  message: Schema.NullOr(Schema.String),
  target: Schema.NullOr(InvocationTarget)
})

/** The newest verdict of a model in one region. */
export const LatestResult = Schema.Struct({
  region: Schema.String,
  status: Verdict,
  score: Schema.NullOr(Schema.Number),
  rating: Schema.NullOr(Schema.String),
  completedAt: Schema.NullOr(Schema.String),
  expiresAt: Schema.NullOr(Schema.String),
  jobId: Schema.String
})

// Issue #13 — the living registry: merged facts with their sources, and the differences between sources.

/** One registry fact as merged: the winning value, its source (`control-plane`, `measured`, `snapshot`), time and evidence. */
export const RegistryFact = Schema.Struct({
  fact: Schema.String,
  value: Schema.String,
  source: Schema.Literals(["control-plane", "measured", "snapshot"]),
  at: Schema.NullOr(Schema.String),
  evidence: Schema.String
})

/** Sources that disagree on a fact: `snapshot-stale` (snapshot vs control plane or measured), `observed-vs-measured`. */
export const RegistryDifference = Schema.Struct({
  modelId: Schema.String,
  region: Schema.String,
  fact: Schema.String,
  kind: Schema.Literals(["snapshot-stale", "observed-vs-measured"]),
  values: Schema.Array(Schema.Struct({ source: Schema.String, value: Schema.String, at: Schema.NullOr(Schema.String) }))
})

/** Whether the region's control plane was consulted, when, or why not. */
export const RegistryDiscovery = Schema.Struct({
  region: Schema.String,
  observed: Schema.Boolean,
  observedAt: Schema.NullOr(Schema.String),
  /** Why the control plane could not be consulted (preflight skipped), when `observed` is false. */
  reason: Schema.NullOr(Schema.String)
})

/** A model's merged registry facts in the requested region (when the host runs a living registry). */
export const ModelRegistryFacts = Schema.Struct({
  inSnapshot: Schema.Boolean,
  listed: Schema.Boolean,
  facts: Schema.Array(RegistryFact),
  differences: Schema.Array(RegistryDifference)
})

/** `GET /registry/diff?region`: declared (snapshot) vs observed (control plane) vs measured (our runs). */
export const RegistryDiff = Schema.Struct({
  discovery: RegistryDiscovery,
  differences: Schema.Array(RegistryDifference)
})

export const ModelEntry = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  vendor: Schema.String,
  modality: Schema.String,
  api: Schema.String,
  lifecycle: Schema.String,
  capabilities: Schema.Record(Schema.String, Schema.String),
  /** Present when `?region` is given. */
  certifiability: Schema.NullOr(ModelCertifiability),
  latest: Schema.Array(LatestResult),
  /** Issue #13: with `?region` and a living registry, the merged facts with their sources. */
  registry: Schema.optionalKey(ModelRegistryFacts)
})

export const Health = Schema.Struct({ status: Schema.Literal("ok") })

/**
 * Issue 15: this process's clock against the database's. `offsetMillis` > 0 when the process is
 * ahead; `skewed` when `|offsetMillis|` is over `thresholdMillis`.
 */
export const ClockReading = Schema.Struct({
  reference: Schema.Literal("database"),
  offsetMillis: Schema.Int,
  thresholdMillis: Schema.Int,
  status: Schema.Literals(["ok", "skewed"]),
  measuredAt: Schema.String
})

/**
 * The readiness of the API (issue 15): `ready`, or `degraded` when it serves correctly but this
 * process's clock is off from the database's beyond the threshold (still 200).
 */
export const Readiness = Schema.Struct({
  status: Schema.Literals(["ready", "degraded"]),
  storage: Schema.Literal("ok"),
  clock: ClockReading
})

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** Pagination query: `page` ≥ 1 (default 1), `limit` 1..maxPageSize (default 20; over the maximum is a 400). */
const pageQuery = {
  page: Schema.optional(Inputs.PositiveIntFromString),
  limit: Schema.optional(Inputs.PositiveIntFromString)
}

/** A schema with one example, decoded through the schema itself so it is a valid value. */
const withExample = <S extends Schema.Codec<any, any>>(schema: S, example: S["Encoded"]): S =>
  schema.annotate({ examples: [Schema.decodeUnknownSync(schema)(example)] }) as S

export const CertifyModelPayload = withExample(
  Schema.Struct({ modelId: Inputs.ModelIdInput, region: Inputs.RegionInput }),
  { modelId: "amazon.nova-lite-v1:0", region: "us-east-1" }
)
/** Lists are checked element by element here; their sizes (models, regions per job) by the service. */
export const CertifyMultiplePayload = withExample(
  Schema.Struct({ modelIds: Schema.Array(Inputs.ModelIdInput), regions: Schema.Array(Inputs.RegionInput) }),
  { modelIds: ["amazon.nova-lite-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"], regions: ["us-east-1", "eu-west-3"] }
)
export const CertifyAllPayload = withExample(
  Schema.Struct({
    regions: Schema.Array(Inputs.RegionInput),
    modalities: Schema.optionalKey(Schema.Array(Schema.Literals(["chat", "embedding"])))
  }),
  { regions: ["us-east-1"], modalities: ["chat"] }
)

const jobParams = { jobId: Inputs.JobIdInput }

/**
 * GET /jobs/:jobId query (issue 16): `unitsPage` ≥ 1 (default 1), `unitsLimit` 1..500 (default 100;
 * more is a 400), filters on the unit's `status`, `region`, `modelId`, and `includeTests`.
 */
const jobDetailQuery = {
  unitsPage: Schema.optional(Inputs.PositiveIntFromString),
  unitsLimit: Schema.optional(Inputs.PositiveIntFromString),
  status: Schema.optional(UnitStatus),
  region: Schema.optional(Inputs.RegionInput),
  modelId: Schema.optional(Inputs.ModelIdInput),
  includeTests: Schema.optional(Schema.Literals(["true", "false"]))
}

/** Headers of the POSTs that create a job: an optional `Idempotency-Key`. */
const createHeaders = { "idempotency-key": Schema.optional(Inputs.IdempotencyKey) }

/** A created job (201), or the same job again for a repeated `Idempotency-Key` (200). */
const created = [
  Success(CreatedJob).pipe(HttpApiSchema.status(201)),
  Success(CreatedJob).pipe(HttpApiSchema.status(200))
] as const

// ---------------------------------------------------------------------------------------------
// Documentation (issue 18): a summary and a description on every operation and tag
// ---------------------------------------------------------------------------------------------

/** The OpenAPI summary (the operation's title in Scalar) and description of an endpoint or group. */
const doc = (summary: string, description: string) => OpenApi.annotations({ summary, description })

/** A tag's description (groups are tags). */
const tag = (description: string) => OpenApi.annotations({ description })

/**
 * One progress event of GET /jobs/:jobId/events: `id` is its number in the job's sequence (1, 2, …;
 * send the last one back as `Last-Event-ID` to resume), `data` a JSON `ProgressEvent`. Named so
 * generated clients and `/docs` show `ProgressSseEvent`, not an encoded internal name.
 */
export const ProgressSseEvent = Schema.Struct({
  id: Schema.String,
  event: Schema.Literal("message"),
  data: Schema.fromJsonString(ProgressEvent)
}).annotate({
  identifier: "ProgressSseEvent",
  description: "One progress event: `id` is its per-job sequence number, `data` a JSON ProgressEvent."
})

/** A keep-alive event with empty data: EventSource does not dispatch it; proxies see traffic. */
export const HeartbeatSseEvent = Schema.Struct({ event: Schema.Literal("heartbeat"), data: Schema.Literal("") })
  .annotate({ identifier: "HeartbeatSseEvent", description: "Keep-alive, sent while nothing else happens." })

/** Every event of the progress stream. */
export const JobSseEvent = Schema.Union([ProgressSseEvent, HeartbeatSseEvent])

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

export class CertifyGroup extends HttpApiGroup.make("certify").add(
  HttpApiEndpoint.post("certifyModel", "/certify-model", {
    payload: CertifyModelPayload,
    headers: createHeaders,
    success: created,
    error: [...common, Conflict]
  }).annotateMerge(doc(
    "Certify one model in one region",
    "Creates a CERTIFY job with one unit. 201 with the job; 200 with the same answer when the same " +
      "`Idempotency-Key` and body were seen before. A model the registry says cannot be certified in " +
      "the region is a 400 naming the model and the reason; no job is created."
  )),
  HttpApiEndpoint.post("certifyMultiple", "/certify-multiple", {
    payload: CertifyMultiplePayload,
    headers: createHeaders,
    success: created,
    error: [...common, Conflict]
  }).annotateMerge(doc(
    "Certify several models in several regions",
    "Creates one job with a unit per certifiable (model, region) pair; pairs the registry rules out " +
      "are listed in `skipped` with their reason. Unknown models are a 400 naming each one."
  )),
  HttpApiEndpoint.post("certifyAll", "/certify-all", {
    payload: CertifyAllPayload,
    headers: createHeaders,
    success: created,
    error: [...common, Conflict]
  }).annotateMerge(doc(
    "Certify every model in the given regions",
    "Creates one job covering every model of the registry (optionally only some modalities) that is " +
      "certifiable in each region; the rest are listed in `skipped`."
  ))
).annotateMerge(tag("Create certification jobs. Each POST accepts an optional `Idempotency-Key` header.")) {}

export class JobsGroup extends HttpApiGroup.make("jobs").add(
  HttpApiEndpoint.get("getJob", "/jobs/:jobId", {
    params: jobParams,
    query: jobDetailQuery,
    success: Success(JobDetail),
    error: [...common, NotFound]
  }).annotateMerge(doc(
    "Get a job",
    "The job, its progress counts, a compact summary (units per region and per verdict, the model × " +
      "region matrix) and one page of its units (`unitsPage`, `unitsLimit` ≤ 500, filters `status`, " +
      "`region`, `modelId`), each without its test records unless `includeTests=true`."
  )),
  HttpApiEndpoint.get("getJobUnit", "/jobs/:jobId/units/:unitId", {
    params: { ...jobParams, unitId: Inputs.UnitIdInput },
    success: Success(UnitRow),
    error: [...common, NotFound]
  }).annotateMerge(doc("Get one unit of a job", "One unit (a model in a region) with its full test records.")),
  HttpApiEndpoint.get("events", "/jobs/:jobId/events", {
    params: jobParams,
    headers: { "last-event-id": Schema.optional(Inputs.EventIdFromString) },
    success: HttpApiSchema.StreamSse({ events: JobSseEvent }),
    error: [...common, NotFound]
  }).annotateMerge(doc(
    "Stream a job's progress",
    "Server-Sent Events: every progress event of the job (job status changes, unit starts and " +
      "completions) in order, each with its per-job sequence number as `id`, until the job is " +
      "terminal. With `Last-Event-ID` the stream resumes after that event: nothing is missed or " +
      "repeated. Heartbeat events (empty data) keep idle connections open. Works across processes."
  )),
  HttpApiEndpoint.post("retry", "/jobs/:jobId/retry", {
    params: jobParams,
    headers: createHeaders,
    success: created,
    error: [...common, NotFound, Conflict]
  }).annotateMerge(doc(
    "Retry a job's failed units",
    "Creates a RECERTIFY job for the units that ended FAILED or INCONCLUSIVE; 409 when there is " +
      "nothing to retry. Concurrent retries of one job create one job."
  )),
  HttpApiEndpoint.delete("cancel", "/jobs/:jobId", {
    params: jobParams,
    success: Success(JobSummary),
    error: [...common, NotFound, Conflict]
  }).annotateMerge(doc(
    "Cancel a job",
    "Cancels a job that has not finished: units not yet run are cancelled and nothing is written " +
      "after the cancel. 409 for a job that already ended, 404 for an unknown one."
  ))
).annotateMerge(tag("Follow, retry and cancel jobs.")) {}

export class ResultsGroup extends HttpApiGroup.make("results").add(
  HttpApiEndpoint.get("history", "/history", {
    query: { ...pageQuery, status: Schema.optional(JobStatus), type: Schema.optional(JobType) },
    success: Success(History),
    error: common
  }).annotateMerge(doc("List jobs", "Jobs, newest first, filtered by status and type, one page at a time.")),
  HttpApiEndpoint.get("certifications", "/certifications", {
    query: {
      ...pageQuery,
      modelId: Schema.optional(Inputs.ModelIdInput),
      region: Schema.optional(Inputs.RegionInput),
      status: Schema.optional(Verdict),
      // Continuous certification (issue 14).
      expiringBefore: Schema.optional(Inputs.TimestampInput),
      verdict: Schema.optional(Inputs.VerdictListInput)
    },
    success: Success(Certifications),
    error: common
  }).annotateMerge(doc(
    "List the latest results",
    "The newest verdict of each (model, region), filtered by model, region and verdict, one page at a time."
  )),
  HttpApiEndpoint.get("stats", "/stats", { success: Success(Stats), error: common }).annotateMerge(doc(
    "Get statistics",
    "Jobs by status, units by verdict and by region, errors by category, the queue's counts, and test " +
      "latency and time-to-first-token p50/p95 (seconds) over the latest results, per region and per model " +
      "family (vendor and first word of the model name, e.g. `anthropic.claude`)."
  )),
  HttpApiEndpoint.get("regions", "/regions", { success: Success(Schema.Array(RegionInfo)), error: common })
    .annotateMerge(doc("List regions", "Every Bedrock region code with its name.")),
  HttpApiEndpoint.get("models", "/models", {
    query: { region: Schema.optional(Inputs.RegionInput) },
    success: Success(Schema.Array(ModelEntry)),
    error: common
  }).annotateMerge(doc(
    "List models",
    "Every model of the registry with its latest results; with `region`, also whether it can be " +
      "certified there and through which invocation target."
  ))
).annotateMerge(tag("Read results, history and statistics.")) {}

export class SystemGroup extends HttpApiGroup.make("system").add(
  HttpApiEndpoint.get("health", "/health", { success: Success(Health), error: common }).annotateMerge(
    doc("Health check", "Answers `ok` while the API serves requests; public by default.")
  ),
  HttpApiEndpoint.get("ready", "/ready", { success: Success(Readiness), error: common }).annotateMerge(doc(
    "Readiness check",
    "Reads the database (one round trip) and compares this process's clock with the database's " +
      "(`clock`: which clock, the offset in ms, the threshold). 200 `ready`; 200 `degraded` when the " +
      "offset is beyond the threshold — a skewed process still serves correctly (results are ordered " +
      "and fenced on the database's clock), so it is reported and logged, not taken out of rotation; " +
      "503 `SERVICE_UNAVAILABLE` when the database does not answer. Public by default."
  )),
  HttpApiEndpoint.get("metrics", "/metrics", {
    success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain; version=0.0.4" })),
    error: common
  }).annotateMerge(doc("Prometheus metrics", "The process's metrics in the Prometheus text format."))
).annotateMerge(tag("Operations: health and metrics.")) {}

// ---------------------------------------------------------------------------------------------
// Document refinements (issue 18)
// ---------------------------------------------------------------------------------------------

/** The largest page size any plugin accepts (`maxPageSize` may lower it). */
export const maxPageSizeLimit = 100

/**
 * How the pagination query parameters are documented. They arrive as text and decode through
 * `Inputs.PositiveIntFromString` (decimal digits, at most 9), so the document states the integers
 * they stand for with their real bounds, which a generated client then sends as `?limit=5`.
 */
const pageParameters = (maxPageSize: number): Readonly<Record<string, object>> => ({
  page: { type: "integer", minimum: 1, maximum: 999_999_999, default: 1, example: 1 },
  limit: { type: "integer", minimum: 1, maximum: maxPageSize, default: 20, example: 20 }
})

/**
 * `Schema.Int` documents itself with the safe-integer bounds (±2^53), which documentation tools
 * then show as examples; every integer of this API is a count, a size or a duration, so the bounds
 * say nothing and are dropped.
 */
const dropSafeIntegerBounds = (node: unknown): void => {
  if (Array.isArray(node)) return node.forEach(dropSafeIntegerBounds)
  if (typeof node !== "object" || node === null) return
  const schema = node as Record<string, unknown>
  if (schema.minimum === Number.MIN_SAFE_INTEGER && schema.maximum === Number.MAX_SAFE_INTEGER) {
    delete schema.minimum
    delete schema.maximum
  }
  Object.values(schema).forEach(dropSafeIntegerBounds)
}

/**
 * The OpenAPI document with the pagination parameters as bounded integers (`maxPageSize` for
 * `limit`) and without the safe-integer bounds.
 */
export const refineDocument = (
  spec: Record<string, any>,
  options: { readonly maxPageSize: number }
): Record<string, any> => {
  const page = pageParameters(options.maxPageSize)
  for (const operations of Object.values(spec.paths as Record<string, Record<string, any>>)) {
    for (const operation of Object.values(operations)) {
      for (const parameter of operation.parameters ?? []) {
        const schema = parameter.in === "query" ? page[parameter.name] : undefined
        if (schema !== undefined) parameter.schema = { ...schema }
      }
    }
  }
  dropSafeIntegerBounds(spec.components)
  dropSafeIntegerBounds(spec.paths)
  return spec
}

// Issue 19 (dashboard): who the caller is, so a page can hide the actions it may not take.

/** The principal the host's authorize hook granted for this request. */
export const PrincipalInfo = Schema.Struct({ id: Schema.String, canRead: Schema.Boolean, canWrite: Schema.Boolean })
export type PrincipalInfo = typeof PrincipalInfo.Type

export class SessionGroup extends HttpApiGroup.make("session").add(
  HttpApiEndpoint.get("principal", "/principal", { success: Success(PrincipalInfo), error: common }).annotateMerge(
    OpenApi.annotations({
      summary: "Who am I",
      description: "The principal the host's authorize hook granted this request: its id and whether it may read and write."
    })
  )
).annotateMerge(OpenApi.annotations({ description: "The caller's identity and permissions (the dashboard asks first)." })) {}

// ---------------------------------------------------------------------------------------------
// Continuous certification (issue 14): recertify, schedule, pause/resume
// ---------------------------------------------------------------------------------------------

/** One pair a recertification selected, with its reasons (the most urgent first). */
export const RecertifySelection = Schema.Struct({
  modelId: Schema.String,
  region: Schema.String,
  reason: Schema.String,
  reasons: Schema.Array(Schema.String),
  detail: Schema.String
})

/** POST /recertify: the RECERTIFY job (201), or `jobId: null` and why nothing was created (200). */
export const RecertifyResult = Schema.Struct({
  jobId: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String),
  job: Schema.NullOr(CreatedJob),
  selected: Schema.Array(RecertifySelection),
  deferred: Schema.Int,
  byReason: Schema.Record(Schema.String, Schema.Int)
})

/** Which latest results to certify again; every field optional, unknown fields refused. */
export const RecertifyPayload = Schema.Struct({
  expiringWithinDays: Schema.optionalKey(Schema.Finite),
  modelIds: Schema.optionalKey(Schema.Array(Inputs.ModelIdInput)),
  regions: Schema.optionalKey(Schema.Array(Inputs.RegionInput)),
  verdicts: Schema.optionalKey(Schema.Array(Verdict)),
  olderSuite: Schema.optionalKey(Schema.Boolean)
})

export const LastRun = Schema.Struct({
  tick: Schema.String,
  at: Schema.String,
  jobId: Schema.NullOr(Schema.String),
  pairs: Schema.Int,
  deferred: Schema.Int,
  reasons: Schema.Record(Schema.String, Schema.Int),
  message: Schema.String
})

/** GET /schedule: the policy, where it comes from, the next run, the last run and its job. */
export const Schedule = Schema.Struct({
  enabled: Schema.Boolean,
  schedule: Schema.NullOr(Schema.String),
  leadTimeDays: Schema.Number,
  retryAfterHours: Schema.Number,
  maxUnits: Schema.Int,
  maxRegions: Schema.Int,
  source: Schema.Literals(["config", "stored"]),
  nextRunAt: Schema.NullOr(Schema.String),
  lastRun: Schema.NullOr(LastRun),
  suiteVersion: Schema.String
})

/** PUT /schedule: the fields to change (`schedule`: `every 1h`, a cron expression, or null). */
export const ScheduleUpdatePayload = Schema.Struct({
  enabled: Schema.optionalKey(Schema.Boolean),
  schedule: Schema.optionalKey(Schema.NullOr(Inputs.Text(200))),
  leadTimeDays: Schema.optionalKey(Schema.Finite),
  retryAfterHours: Schema.optionalKey(Schema.Finite),
  maxUnits: Schema.optionalKey(Schema.Int),
  maxRegions: Schema.optionalKey(Schema.Int)
})

/** Bodies of this group: every wrong field reported, unknown fields refused. */
const strictPayload = { errors: "all", onExcessProperty: "error" } as const

export class RecertificationGroup extends HttpApiGroup.make("recertification").add(
  HttpApiEndpoint.post("recertify", "/recertify", {
    payload: RecertifyPayload,
    headers: createHeaders,
    success: [
      Success(RecertifyResult).pipe(HttpApiSchema.status(201)),
      Success(RecertifyResult).pipe(HttpApiSchema.status(200))
    ],
    error: [...common, Conflict]
  }).annotate(HttpApi.PayloadParseOptions, strictPayload).annotateMerge(OpenApi.annotations({
    summary: "Certify again what a selection picks",
    description: "A RECERTIFY job for the latest results the selection picks (expiring within N days, older suite, models, regions, verdicts), with each pair's reasons (201), or jobId null and why when nothing matches (200)."
  })),
  HttpApiEndpoint.get("getSchedule", "/schedule", { success: Success(Schedule), error: common }).annotateMerge(OpenApi.annotations({
    summary: "The recertification schedule",
    description: "The schedule (interval or cron), the policy's settings, where they come from, the next run, and the last run with its job."
  })),
  HttpApiEndpoint.put("putSchedule", "/schedule", {
    payload: ScheduleUpdatePayload,
    success: Success(Schedule),
    error: common
  }).annotate(HttpApi.PayloadParseOptions, strictPayload).annotateMerge(OpenApi.annotations({
    summary: "Change the recertification schedule",
    description: "Change the schedule for every process (fields left out keep their value); needs write permission."
  })),
  HttpApiEndpoint.post("pause", "/jobs/:jobId/pause", {
    params: jobParams,
    success: Success(JobSummary),
    error: [...common, NotFound, Conflict]
  }).annotateMerge(OpenApi.annotations({
    summary: "Pause a job",
    description: "No new unit of the job starts (their deliveries wait without spending attempts); running units finish. 409 when the job is finished or already paused."
  })),
  HttpApiEndpoint.post("resume", "/jobs/:jobId/resume", {
    params: jobParams,
    success: Success(JobSummary),
    error: [...common, NotFound, Conflict]
  }).annotateMerge(OpenApi.annotations({
    summary: "Resume a paused job",
    description: "The job continues where it stopped. 409 when the job is not paused."
  }))
).annotateMerge(OpenApi.annotations({
  description: "Continuous certification: recertify by selection, the schedule, pause and resume."
})) {}

/** Issue #13: the living registry's differences per region. */
export class RegistryGroup extends HttpApiGroup.make("registry").add(
  HttpApiEndpoint.get("registryDiff", "/registry/diff", {
    query: { region: Inputs.RegionInput },
    success: Success(RegistryDiff),
    error: common
  }).annotateMerge(doc(
    "Registry differences in a region",
    "Declared vs observed vs measured: each fact on which the snapshot, the control plane (when the host runs the " +
      "living registry) and our latest results disagree — snapshot stale, or control plane and runtime disagree."
  ))
).annotateMerge(tag("The living registry: what the control plane says this account can use, merged with the snapshot and our runs.")) {}

/** The whole API. Paths are relative to the host's base path. */
export class CertificationApi extends HttpApi.make("certification")
  .add(CertifyGroup)
  .add(JobsGroup)
  .add(ResultsGroup)
  .add(SystemGroup)
  .add(RegistryGroup)
  .add(SessionGroup)
  .add(RecertificationGroup)
  .annotateMerge(OpenApi.annotations({
    title: "MyIA Bedrock certification API",
    version: packageJson.version,
    description: "Certify AWS Bedrock models per account × region: jobs, progress (SSE), results and statistics.",
    license: { name: "MIT", url: "https://opensource.org/licenses/MIT" },
    servers: [{ url: "/" }],
    transform: (spec) => refineDocument(spec, { maxPageSize: maxPageSizeLimit })
  }))
  // Report every wrong field of a request at once, not only the first.
  .annotate(HttpApi.ParseOptions, { errors: "all" })
  .middleware(Authorization)
{}
