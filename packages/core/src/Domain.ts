/**
 * The domain shapes of a certification: identifiers, jobs, units, test results and verdicts.
 *
 * A *job* is one request (certify one model, several, all, or re-certify); its *units* are the
 * (model, region) pairs it covers. Each unit ends in exactly one terminal verdict. Schemas here
 * decode at the edges (HTTP bodies, queue payloads, SQL rows); inside the SDK the types are trusted.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { Region } from "./Region.ts"

export { Region } from "./Region.ts"

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

/**
 * A Bedrock model ID (`anthropic.claude-3-5-haiku-20241022-v1:0`), or a host's own model ID mapped
 * through a `ModelCatalog`. Non-empty, no whitespace, at most 256 characters (Bedrock's limit).
 */
export const ModelId = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((s: string) =>
      s.length === 0
        ? "model id must not be empty"
        : s.length > 256
        ? "model id must be at most 256 characters"
        : /\s/.test(s)
        ? `model id "${s}" must not contain whitespace`
        : undefined
    )
  ),
  Schema.brand("ModelId")
)
export type ModelId = typeof ModelId.Type

const IdString = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((s: string) =>
      /^[A-Za-z0-9_-]{1,64}$/.test(s) && !/^\d+$/.test(s)
        ? undefined
        : `id "${s}" must be 1-64 characters of letters, digits, "_" or "-", and not only digits`
    )
  )
)

/** A job identifier (a UUID when the SDK creates it). */
export const JobId = IdString.pipe(Schema.brand("JobId"))
export type JobId = typeof JobId.Type

/**
 * A unit identifier. It doubles as the queue's job id, so enqueueing a unit twice is a no-op;
 * it never contains `:` and is never all digits (BullMQ rejects both).
 */
export const UnitId = IdString.pipe(Schema.brand("UnitId"))
export type UnitId = typeof UnitId.Type

/** An ISO-8601 UTC timestamp (`2026-11-22T10:00:00.000Z`); sorts lexicographically. */
export const Timestamp = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((s: string) =>
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(s) ? undefined : `"${s}" is not an ISO-8601 UTC timestamp`
    )
  )
)
export type Timestamp = typeof Timestamp.Type

// ---------------------------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------------------------

/** What a job was asked to do. */
export const JobType = Schema.Literals(["SINGLE_MODEL", "MULTIPLE_MODELS", "ALL_MODELS", "RECERTIFY"])
export type JobType = typeof JobType.Type

/**
 * Job lifecycle: `PENDING → QUEUED → PROCESSING → COMPLETED | FAILED | CANCELLED`, plus `PAUSED`
 * (from QUEUED/PROCESSING and back). The allowed moves are the table in `JobStateMachine`.
 */
export const JobStatus = Schema.Literals(["PENDING", "QUEUED", "PROCESSING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"])
export type JobStatus = typeof JobStatus.Type

/** The terminal outcome of one (model, region) unit. `passed` = CERTIFIED or QUALITY_WARNING. */
export const Verdict = Schema.Literals([
  "CERTIFIED",
  "QUALITY_WARNING",
  "FAILED",
  "UNAVAILABLE",
  "UNSUPPORTED",
  "INCONCLUSIVE",
  "CANCELLED"
])
export type Verdict = typeof Verdict.Type

/** Every verdict, in the order reports list them. */
export const verdicts: ReadonlyArray<Verdict> = Verdict.literals

/** A unit's status: in flight (`PENDING | QUEUED | PROCESSING`) or exactly one terminal verdict. */
export const UnitStatus = Schema.Literals([
  "PENDING",
  "QUEUED",
  "PROCESSING",
  "CERTIFIED",
  "QUALITY_WARNING",
  "FAILED",
  "UNAVAILABLE",
  "UNSUPPORTED",
  "INCONCLUSIVE",
  "CANCELLED"
])
export type UnitStatus = typeof UnitStatus.Type

/** Whether a verdict counts as passed. */
export const isPassed = (verdict: Verdict): boolean => verdict === "CERTIFIED" || verdict === "QUALITY_WARNING"

/** The Bedrock-aware error categories (see `ErrorCategory` for the table). */
export const ErrorCategory = Schema.Literals([
  "ACCESS_DENIED",
  "MARKETPLACE_PENDING",
  "NOT_OFFERED_IN_REGION",
  "REQUIRES_INFERENCE_PROFILE",
  "LEGACY_OR_EOL",
  "CREDENTIALS",
  "THROTTLED",
  "QUOTA_EXCEEDED",
  "TIMEOUT",
  "SERVICE_UNAVAILABLE",
  "NETWORK",
  "INVALID_REQUEST",
  "UNSUPPORTED_FEATURE",
  "CONTENT_FILTERED",
  "MODEL_ERROR",
  "QUALITY",
  "UNKNOWN"
])
export type ErrorCategory = typeof ErrorCategory.Type

/** Who is to blame for an error: the model, the environment (retry later), or our/host configuration. */
export const Blame = Schema.Literals(["model", "environment", "configuration"])
export type Blame = typeof Blame.Type

/**
 * One classified error, as stored on a test result or a unit. Carries what a person needs to act:
 * the category, whether a retry can help, who is to blame, the verdict it leads to, a one-line hint,
 * and the original AWS error name, message, HTTP status and request id. Never holds credentials.
 */
export class CategorizedError extends Schema.Class<CategorizedError>("@myia/certification/CategorizedError")({
  category: ErrorCategory,
  retryable: Schema.Boolean,
  blame: Blame,
  verdict: Verdict,
  hint: Schema.String,
  message: Schema.String,
  awsErrorName: Schema.NullOr(Schema.String),
  httpStatus: Schema.NullOr(Schema.Int),
  requestId: Schema.NullOr(Schema.String),
  /** Set when the error stops the whole job (e.g. invalid credentials). */
  systemic: Schema.Boolean
}) {}

// ---------------------------------------------------------------------------------------------
// Invocation targets
// ---------------------------------------------------------------------------------------------

/**
 * What is actually called for a model: its base id (on-demand), a system inference profile
 * (`us.` `eu.` `apac.` `global.` `jp.` `au.` `us-gov.` prefix), an application inference profile ARN,
 * or a provisioned-throughput ARN.
 */
export const InvocationKind = Schema.Literals(["ON_DEMAND", "SYSTEM_PROFILE", "APPLICATION_PROFILE", "PROVISIONED"])
export type InvocationKind = typeof InvocationKind.Type

export class InvocationTarget extends Schema.Class<InvocationTarget>("@myia/certification/InvocationTarget")({
  kind: InvocationKind,
  /** The id or ARN passed to Bedrock as `modelId`. */
  id: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------
// Test results
// ---------------------------------------------------------------------------------------------

/**
 * A test's outcome. `SKIPPED`: the registry says the model cannot support it (never a failure).
 * `ERRORED`: the environment prevented an answer after bounded retries (never blamed on the model).
 */
export const TestStatus = Schema.Literals(["PASSED", "FAILED", "SKIPPED", "ERRORED"])
export type TestStatus = typeof TestStatus.Type

export class TestResult extends Schema.Class<TestResult>("@myia/certification/TestResult")({
  id: Schema.String,
  name: Schema.String,
  status: TestStatus,
  critical: Schema.Boolean,
  weight: Schema.Finite,
  /** Wall time of the successful (or last) attempt, in milliseconds. */
  latencyMs: Schema.NullOr(Schema.Finite),
  /** Streaming tests: time to first token, in milliseconds. */
  ttftMs: Schema.NullOr(Schema.Finite),
  /** Streaming tests: output tokens per second after the first token. */
  outputTokensPerSecond: Schema.NullOr(Schema.Finite),
  attempts: Schema.Int,
  /** Why it failed, errored or was skipped, in words. */
  detail: Schema.NullOr(Schema.String),
  error: Schema.NullOr(CategorizedError)
}) {}

// ---------------------------------------------------------------------------------------------
// Jobs and units
// ---------------------------------------------------------------------------------------------

/** Per-job settings that shape verdicts; recorded on the job so results stay explainable. */
export class JobConfig extends Schema.Class<JobConfig>("@myia/certification/JobConfig")({
  /** Minimum score for CERTIFIED (default 80). */
  certifyThreshold: Schema.Finite,
  /** How long a verdict stays valid, in days (default 30). */
  validityDays: Schema.Int,
  /** Suite version the job runs. */
  suiteVersion: Schema.String
}) {}

export class Job extends Schema.Class<Job>("@myia/certification/Job")({
  id: JobId,
  type: JobType,
  status: JobStatus,
  modelIds: Schema.Array(ModelId),
  regions: Schema.Array(Region),
  totalUnits: Schema.Int,
  config: JobConfig,
  createdBy: Schema.NullOr(Schema.String),
  /** For RECERTIFY jobs: the job whose units are re-run. */
  parentJobId: Schema.NullOr(JobId),
  /** Why a job FAILED (systemic error) or was CANCELLED. */
  reason: Schema.NullOr(Schema.String),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  startedAt: Schema.NullOr(Timestamp),
  completedAt: Schema.NullOr(Timestamp),
  cancelledAt: Schema.NullOr(Timestamp)
}) {}

/**
 * One (model, region) unit of a job and, once terminal, its result. A terminal unit is written once
 * (first terminal write wins); `lease` fences writes so a stale worker's late result is a no-op.
 */
export class Unit extends Schema.Class<Unit>("@myia/certification/Unit")({
  id: UnitId,
  jobId: JobId,
  modelId: ModelId,
  /** The host's own model id when the job was created through a `ModelCatalog`. */
  hostModelId: Schema.NullOr(Schema.String),
  region: Region,
  status: UnitStatus,
  invocationTarget: Schema.NullOr(InvocationTarget),
  suiteVersion: Schema.NullOr(Schema.String),
  tests: Schema.Array(TestResult),
  score: Schema.NullOr(Schema.Finite),
  grade: Schema.NullOr(Schema.String),
  stars: Schema.NullOr(Schema.Finite),
  /** The error that decided the verdict, if any. */
  error: Schema.NullOr(CategorizedError),
  /** Notable facts learned while certifying, e.g. "works only via profile us.x". */
  findings: Schema.Array(Schema.String),
  /** How many times a worker started this unit. */
  attempts: Schema.Int,
  /** Fencing token of the current claim; a terminal write must present it. */
  lease: Schema.NullOr(Schema.String),
  createdAt: Timestamp,
  queuedAt: Schema.NullOr(Timestamp),
  startedAt: Schema.NullOr(Timestamp),
  completedAt: Schema.NullOr(Timestamp),
  durationMs: Schema.NullOr(Schema.Finite),
  expiresAt: Schema.NullOr(Timestamp)
}) {}

/** A new unit, PENDING, with no result yet. */
export const pendingUnit = (fields: {
  readonly id: UnitId
  readonly jobId: JobId
  readonly modelId: ModelId
  readonly hostModelId: string | null
  readonly region: Region
  readonly createdAt: Timestamp
}): Unit =>
  new Unit({
    ...fields,
    status: "PENDING",
    invocationTarget: null,
    suiteVersion: null,
    tests: [],
    score: null,
    grade: null,
    stars: null,
    error: null,
    findings: [],
    attempts: 0,
    lease: null,
    queuedAt: null,
    startedAt: null,
    completedAt: null,
    durationMs: null,
    expiresAt: null
  })

/** The verdict of a unit, or null while it is in flight. */
export const verdictOf = (unit: { readonly status: UnitStatus }): Verdict | null =>
  unit.status === "PENDING" || unit.status === "QUEUED" || unit.status === "PROCESSING" ? null : unit.status

/**
 * The result a worker hands to storage to finish a unit. Storage stamps `completedAt`,
 * `durationMs` and `expiresAt` from its own clock and the job's validity window.
 */
export class UnitOutcome extends Schema.Class<UnitOutcome>("@myia/certification/UnitOutcome")({
  verdict: Verdict,
  invocationTarget: Schema.NullOr(InvocationTarget),
  suiteVersion: Schema.NullOr(Schema.String),
  tests: Schema.Array(TestResult),
  score: Schema.NullOr(Schema.Finite),
  grade: Schema.NullOr(Schema.String),
  stars: Schema.NullOr(Schema.Finite),
  error: Schema.NullOr(CategorizedError),
  findings: Schema.Array(Schema.String)
}) {}

/** Progress of a job, always derived from its unit rows (never from blind increments). */
export class JobCounts extends Schema.Class<JobCounts>("@myia/certification/JobCounts")({
  total: Schema.Int,
  pending: Schema.Int,
  queued: Schema.Int,
  processing: Schema.Int,
  /** Units with a terminal verdict. */
  completed: Schema.Int,
  passed: Schema.Int,
  byVerdict: Schema.Record(Verdict, Schema.Int)
}) {}
