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

export const Stats = Schema.Struct({
  jobsByStatus: Counts,
  unitsByVerdict: Counts,
  unitsByRegion: Schema.Array(
    Schema.Struct({ region: Schema.String, total: Schema.Int, passed: Schema.Int, byVerdict: Counts })
  ),
  errorsByCategory: Counts,
  queue: Schema.Struct({ waiting: Schema.Int, active: Schema.Int, delayed: Schema.Int, failed: Schema.Int })
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
  latest: Schema.Array(LatestResult)
})

export const Health = Schema.Struct({ status: Schema.Literal("ok") })

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** Pagination query: `page` ≥ 1 (default 1), `limit` 1..maxPageSize (default 20; over the maximum is a 400). */
const pageQuery = {
  page: Schema.optional(Inputs.PositiveIntFromString),
  limit: Schema.optional(Inputs.PositiveIntFromString)
}

export const CertifyModelPayload = Schema.Struct({ modelId: Inputs.ModelIdInput, region: Inputs.RegionInput })
/** Lists are checked element by element here; their sizes (models, regions per job) by the service. */
export const CertifyMultiplePayload = Schema.Struct({
  modelIds: Schema.Array(Inputs.ModelIdInput),
  regions: Schema.Array(Inputs.RegionInput)
})
export const CertifyAllPayload = Schema.Struct({
  regions: Schema.Array(Inputs.RegionInput),
  modalities: Schema.optionalKey(Schema.Array(Schema.Literals(["chat", "embedding"])))
})

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
// Groups
// ---------------------------------------------------------------------------------------------

export class CertifyGroup extends HttpApiGroup.make("certify").add(
  HttpApiEndpoint.post("certifyModel", "/certify-model", {
    payload: CertifyModelPayload,
    headers: createHeaders,
    success: created,
    error: [...common, Conflict]
  }),
  HttpApiEndpoint.post("certifyMultiple", "/certify-multiple", {
    payload: CertifyMultiplePayload,
    headers: createHeaders,
    success: created,
    error: [...common, Conflict]
  }),
  HttpApiEndpoint.post("certifyAll", "/certify-all", {
    payload: CertifyAllPayload,
    headers: createHeaders,
    success: created,
    error: [...common, Conflict]
  })
) {}

export class JobsGroup extends HttpApiGroup.make("jobs").add(
  HttpApiEndpoint.get("getJob", "/jobs/:jobId", {
    params: jobParams,
    query: jobDetailQuery,
    success: Success(JobDetail),
    error: [...common, NotFound]
  }),
  HttpApiEndpoint.get("getJobUnit", "/jobs/:jobId/units/:unitId", {
    params: { ...jobParams, unitId: Inputs.UnitIdInput },
    success: Success(UnitRow),
    error: [...common, NotFound]
  }),
  HttpApiEndpoint.get("events", "/jobs/:jobId/events", {
    params: jobParams,
    success: HttpApiSchema.StreamSse({ data: ProgressEvent }),
    error: [...common, NotFound]
  }),
  HttpApiEndpoint.post("retry", "/jobs/:jobId/retry", {
    params: jobParams,
    headers: createHeaders,
    success: created,
    error: [...common, NotFound, Conflict]
  }),
  HttpApiEndpoint.delete("cancel", "/jobs/:jobId", {
    params: jobParams,
    success: Success(JobSummary),
    error: [...common, NotFound, Conflict]
  })
) {}

export class ResultsGroup extends HttpApiGroup.make("results").add(
  HttpApiEndpoint.get("history", "/history", {
    query: { ...pageQuery, status: Schema.optional(JobStatus), type: Schema.optional(JobType) },
    success: Success(History),
    error: common
  }),
  HttpApiEndpoint.get("certifications", "/certifications", {
    query: {
      ...pageQuery,
      modelId: Schema.optional(Inputs.ModelIdInput),
      region: Schema.optional(Inputs.RegionInput),
      status: Schema.optional(Verdict)
    },
    success: Success(Certifications),
    error: common
  }),
  HttpApiEndpoint.get("stats", "/stats", { success: Success(Stats), error: common }),
  HttpApiEndpoint.get("regions", "/regions", { success: Success(Schema.Array(RegionInfo)), error: common }),
  HttpApiEndpoint.get("models", "/models", {
    query: { region: Schema.optional(Inputs.RegionInput) },
    success: Success(Schema.Array(ModelEntry)),
    error: common
  })
) {}

export class SystemGroup extends HttpApiGroup.make("system").add(
  HttpApiEndpoint.get("health", "/health", { success: Success(Health), error: common }),
  HttpApiEndpoint.get("metrics", "/metrics", {
    success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain; version=0.0.4" })),
    error: common
  })
) {}

/** The whole API. Paths are relative to the host's base path. */
export class CertificationApi extends HttpApi.make("certification")
  .add(CertifyGroup)
  .add(JobsGroup)
  .add(ResultsGroup)
  .add(SystemGroup)
  .annotateMerge(OpenApi.annotations({
    title: "MyIA Bedrock certification API",
    version: "0.1.0",
    description: "Certify AWS Bedrock models per account × region: jobs, progress (SSE), results and statistics."
  }))
  // Report every wrong field of a request at once, not only the first.
  .annotate(HttpApi.ParseOptions, { errors: "all" })
  .middleware(Authorization)
{}
