/**
 * The Bedrock error taxonomy as one table: for every `ErrorCategory` everything it implies — who is
 * to blame, the verdict it leads to when it decides a unit, whether it stops the whole job, a one-line
 * hint a person can act on, what it tells the region governor (`signal`) and how the Runner treats a
 * test run that ends with it (`handling`; whether a retry can help follows from it). The Runner, the
 * Worker and the governor read this table and nothing else; `ErrorCategorizer` decides which row an
 * error belongs to.
 *
 * **Details**: environment-blamed categories (throttling, timeouts, 5xx, network) never lead to
 * FAILED — a busy region is not a broken model. `MODEL_ERROR` is retried because Bedrock's
 * ModelError / ModelStreamError are often transient; the runner retries a bounded number of times
 * before blaming the model. An answer of any kind — a model or configuration error included — proves
 * the region answered, so it is a `success` for the governor; only throttling and quota push-back
 * (`throttle`) and transport or server failures (`failure`) slow a region down or open its breaker.
 *
 * @since 0.1.0
 */
import type { Blame, ErrorCategory, TestStatus, Verdict } from "./Domain.ts"
import { CategorizedError } from "./Domain.ts"

/**
 * What a call's outcome tells the region governor: the region answered (`success`: grows the limit,
 * closes a half-open breaker), it pushed back (`throttle`: halves the limit), it failed as an
 * environment (`failure`: feeds the breaker), or nothing about the region (`none`).
 */
export type Signal = "success" | "throttle" | "failure" | "none"

/**
 * What the Runner does with a test run that ended in this category: `wait` it out (backoff within the
 * throttle budget, not counted against `maxAttempts`; the Worker gives such a unit an uncounted
 * redelivery), `retry` it (backoff, counted against `maxAttempts`), or `finish` the test at once.
 */
export type Handling = "wait" | "retry" | "finish"

/** What a category means for retries, blame, the unit's verdict, the job and the region governor. */
export interface Description {
  readonly category: ErrorCategory
  /** Whether retrying the same call soon can succeed: every handling but `finish`. */
  readonly retryable: boolean
  readonly blame: Blame
  /** The unit verdict this category leads to when it decides the unit. */
  readonly verdict: Verdict
  /** True when the error stops the whole job (it would fail every unit the same way). */
  readonly systemic: boolean
  /** One line a human can act on. */
  readonly hint: string
  /** What a call that ended in this category tells the region governor. */
  readonly signal: Signal
  /** How the Runner treats a test run that ended in this category. */
  readonly handling: Handling
  /** How a test that ends with this error is recorded: FAILED only when the model alone is to blame. */
  readonly testStatus: Extract<TestStatus, "FAILED" | "ERRORED">
}

type Row = Omit<Description, "category" | "retryable" | "testStatus">

const rows: { readonly [C in ErrorCategory]: Row } = {
  ACCESS_DENIED: {
    blame: "configuration",
    verdict: "UNAVAILABLE",
    systemic: false,
    signal: "success",
    handling: "finish",
    hint: "Request model access in the Bedrock console (Model access) for this account and region, " +
      "and check IAM allows bedrock:InvokeModel"
  },
  MARKETPLACE_PENDING: {
    blame: "configuration",
    verdict: "UNAVAILABLE",
    systemic: false,
    signal: "success",
    handling: "finish",
    hint: "Allow aws-marketplace:Subscribe and aws-marketplace:ViewSubscriptions for the caller, " +
      "subscribe to the model, then retry after a few minutes"
  },
  NOT_OFFERED_IN_REGION: {
    blame: "environment",
    verdict: "UNAVAILABLE",
    systemic: false,
    signal: "success",
    handling: "finish",
    hint: "This model id is not offered in this region: certify it in a region that lists it, " +
      "or use an inference profile"
  },
  REQUIRES_INFERENCE_PROFILE: {
    blame: "configuration",
    verdict: "UNAVAILABLE",
    systemic: false,
    signal: "success",
    handling: "finish",
    hint: "Invoke this model through an inference profile (e.g. us.<model-id>) or add a profile for this region " +
      "to the registry"
  },
  LEGACY_OR_EOL: {
    blame: "configuration",
    verdict: "UNAVAILABLE",
    systemic: false,
    signal: "success",
    handling: "finish",
    hint: "The model is legacy or past end of life for this account: move to its active successor"
  },
  CREDENTIALS: {
    blame: "configuration",
    verdict: "INCONCLUSIVE",
    systemic: true,
    signal: "none",
    handling: "finish",
    hint: "Fix the AWS credentials (invalid, expired or unsigned; check the clock too) and re-run the job"
  },
  THROTTLED: {
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    signal: "throttle",
    handling: "wait",
    hint: "Bedrock throttled the call: lower concurrency for this region or request a higher quota, then re-certify"
  },
  QUOTA_EXCEEDED: {
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    signal: "throttle",
    handling: "finish",
    hint: "An account quota is exhausted: request an increase in Service Quotas (Amazon Bedrock) and re-certify"
  },
  TIMEOUT: {
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    signal: "failure",
    handling: "retry",
    hint: "The call timed out: re-certify later, or raise the per-call timeout for slow models"
  },
  SERVICE_UNAVAILABLE: {
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    signal: "failure",
    handling: "retry",
    hint: "Bedrock was unavailable or the model not ready (5xx): re-certify later; check the AWS Health Dashboard"
  },
  NETWORK: {
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    signal: "failure",
    handling: "retry",
    hint: "The connection to Bedrock failed: check network, DNS, proxy and endpoint settings, then re-certify"
  },
  INVALID_REQUEST: {
    blame: "configuration",
    verdict: "INCONCLUSIVE",
    systemic: false,
    signal: "success",
    handling: "finish",
    hint: "Bedrock rejected our request for this model: the registry metadata for it is likely wrong; " +
      "fix it and re-certify"
  },
  UNSUPPORTED_FEATURE: {
    blame: "model",
    verdict: "QUALITY_WARNING",
    systemic: false,
    signal: "success",
    handling: "finish",
    hint: "The model does not support this feature: mark the capability unsupported in the registry"
  },
  CONTENT_FILTERED: {
    blame: "model",
    verdict: "QUALITY_WARNING",
    systemic: false,
    signal: "success",
    handling: "finish",
    hint: "The answer was blocked by a content filter or guardrail: check the prompt and any guardrail configuration"
  },
  MODEL_ERROR: {
    blame: "model",
    verdict: "FAILED",
    systemic: false,
    signal: "success",
    handling: "retry",
    hint: "The model itself returned an error: re-certify; if it persists, report it to the model provider"
  },
  QUALITY: {
    blame: "model",
    verdict: "FAILED",
    systemic: false,
    signal: "success",
    handling: "finish",
    hint: "The model answered, but wrongly: see the test detail for the expected and actual answer"
  },
  UNKNOWN: {
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    signal: "none",
    handling: "finish",
    hint: "An unrecognised error: see the message and AWS request id; report it so it can be categorised"
  }
}

/**
 * How a test that ends with an error is recorded, from the error's blame: FAILED only when the model
 * is to blame and the error does not stop the job; ERRORED otherwise (the environment or our
 * configuration prevented a judgement). The Runner records results with it and `Rating` reads stored
 * results through it, so the two never disagree.
 */
export const testStatusOf = (error: Pick<CategorizedError, "blame" | "systemic">): "FAILED" | "ERRORED" =>
  error.blame === "model" && !error.systemic ? "FAILED" : "ERRORED"

/** The taxonomy, one row per category. */
export const table: { readonly [C in ErrorCategory]: Description } = Object.fromEntries(
  Object.entries(rows).map(([category, row]) => [category, {
    category,
    retryable: row.handling !== "finish",
    ...row,
    testStatus: testStatusOf(row)
  }])
) as { readonly [C in ErrorCategory]: Description }

/** Every category, in table order. */
export const categories: ReadonlyArray<ErrorCategory> = Object.keys(rows) as Array<ErrorCategory>

/** The row of a category. */
export const describe = (category: ErrorCategory): Description => table[category]

/** Whether a retry of the same call can help. */
export const isRetryable = (category: ErrorCategory): boolean => table[category].retryable

/** Whether the category stops the whole job. */
export const isSystemic = (category: ErrorCategory): boolean => table[category].systemic

/** What a call's outcome tells the region governor: `null` (no error) is a success. */
export const signalOf = (category: ErrorCategory | null): Signal =>
  category === null ? "success" : table[category].signal

/** The original facts of an error, kept on the `CategorizedError`. */
export interface Details {
  readonly message: string
  readonly awsErrorName?: string | null | undefined
  readonly httpStatus?: number | null | undefined
  readonly requestId?: string | null | undefined
}

/** A `CategorizedError` of a category, with the table's retryable/blame/verdict/systemic/hint. */
export const make = (category: ErrorCategory, details: Details): CategorizedError => {
  const row = table[category]
  const status = details.httpStatus
  return new CategorizedError({
    category,
    retryable: row.retryable,
    blame: row.blame,
    verdict: row.verdict,
    hint: row.hint,
    systemic: row.systemic,
    message: details.message,
    awsErrorName: details.awsErrorName ?? null,
    httpStatus: typeof status === "number" && Number.isInteger(status) ? status : null,
    requestId: details.requestId ?? null
  })
}
