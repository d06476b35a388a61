/**
 * The Bedrock error taxonomy as one table: for every `ErrorCategory` whether a retry can help, who is
 * to blame, the verdict it leads to when it decides a unit, whether it stops the whole job, and a
 * one-line hint a person can act on. The runner's retry policy and the verdict logic read this table;
 * `ErrorCategorizer` decides which row an error belongs to.
 *
 * **Details**: environment-blamed categories (throttling, timeouts, 5xx, network) never lead to
 * FAILED — a busy region is not a broken model. `MODEL_ERROR` is retryable because Bedrock's
 * ModelError / ModelStreamError are often transient; the runner retries a bounded number of times
 * before blaming the model.
 *
 * @since 0.1.0
 */
import type { Blame, ErrorCategory, Verdict } from "./Domain.ts"
import { CategorizedError } from "./Domain.ts"

/** What a category means for retries, blame, the unit's verdict and the job. */
export interface Description {
  readonly category: ErrorCategory
  /** Whether retrying the same call soon can succeed. */
  readonly retryable: boolean
  readonly blame: Blame
  /** The unit verdict this category leads to when it decides the unit. */
  readonly verdict: Verdict
  /** True when the error stops the whole job (it would fail every unit the same way). */
  readonly systemic: boolean
  /** One line a human can act on. */
  readonly hint: string
}

type Row = Omit<Description, "category">

const rows: { readonly [C in ErrorCategory]: Row } = {
  ACCESS_DENIED: {
    retryable: false,
    blame: "configuration",
    verdict: "UNAVAILABLE",
    systemic: false,
    hint: "Request model access in the Bedrock console (Model access) for this account and region, " +
      "and check IAM allows bedrock:InvokeModel"
  },
  MARKETPLACE_PENDING: {
    retryable: false,
    blame: "configuration",
    verdict: "UNAVAILABLE",
    systemic: false,
    hint: "Allow aws-marketplace:Subscribe and aws-marketplace:ViewSubscriptions for the caller, " +
      "subscribe to the model, then retry after a few minutes"
  },
  NOT_OFFERED_IN_REGION: {
    retryable: false,
    blame: "environment",
    verdict: "UNAVAILABLE",
    systemic: false,
    hint: "This model id is not offered in this region: certify it in a region that lists it, " +
      "or use an inference profile"
  },
  REQUIRES_INFERENCE_PROFILE: {
    retryable: false,
    blame: "configuration",
    verdict: "UNAVAILABLE",
    systemic: false,
    hint: "Invoke this model through an inference profile (e.g. us.<model-id>) or add a profile for this region " +
      "to the registry"
  },
  LEGACY_OR_EOL: {
    retryable: false,
    blame: "configuration",
    verdict: "UNAVAILABLE",
    systemic: false,
    hint: "The model is legacy or past end of life for this account: move to its active successor"
  },
  CREDENTIALS: {
    retryable: false,
    blame: "configuration",
    verdict: "INCONCLUSIVE",
    systemic: true,
    hint: "Fix the AWS credentials (invalid, expired or unsigned; check the clock too) and re-run the job"
  },
  THROTTLED: {
    retryable: true,
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    hint: "Bedrock throttled the call: lower concurrency for this region or request a higher quota, then re-certify"
  },
  QUOTA_EXCEEDED: {
    retryable: false,
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    hint: "An account quota is exhausted: request an increase in Service Quotas (Amazon Bedrock) and re-certify"
  },
  TIMEOUT: {
    retryable: true,
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    hint: "The call timed out: re-certify later, or raise the per-call timeout for slow models"
  },
  SERVICE_UNAVAILABLE: {
    retryable: true,
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    hint: "Bedrock was unavailable or the model not ready (5xx): re-certify later; check the AWS Health Dashboard"
  },
  NETWORK: {
    retryable: true,
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    hint: "The connection to Bedrock failed: check network, DNS, proxy and endpoint settings, then re-certify"
  },
  INVALID_REQUEST: {
    retryable: false,
    blame: "configuration",
    verdict: "INCONCLUSIVE",
    systemic: false,
    hint: "Bedrock rejected our request for this model: the registry metadata for it is likely wrong; " +
      "fix it and re-certify"
  },
  UNSUPPORTED_FEATURE: {
    retryable: false,
    blame: "model",
    verdict: "QUALITY_WARNING",
    systemic: false,
    hint: "The model does not support this feature: mark the capability unsupported in the registry"
  },
  CONTENT_FILTERED: {
    retryable: false,
    blame: "model",
    verdict: "QUALITY_WARNING",
    systemic: false,
    hint: "The answer was blocked by a content filter or guardrail: check the prompt and any guardrail configuration"
  },
  MODEL_ERROR: {
    retryable: true,
    blame: "model",
    verdict: "FAILED",
    systemic: false,
    hint: "The model itself returned an error: re-certify; if it persists, report it to the model provider"
  },
  QUALITY: {
    retryable: false,
    blame: "model",
    verdict: "FAILED",
    systemic: false,
    hint: "The model answered, but wrongly: see the test detail for the expected and actual answer"
  },
  UNKNOWN: {
    retryable: false,
    blame: "environment",
    verdict: "INCONCLUSIVE",
    systemic: false,
    hint: "An unrecognised error: see the message and AWS request id; report it so it can be categorised"
  }
}

/** The taxonomy, one row per category. */
export const table: { readonly [C in ErrorCategory]: Description } = Object.fromEntries(
  Object.entries(rows).map(([category, row]) => [category, { category, ...row }])
) as { readonly [C in ErrorCategory]: Description }

/** Every category, in table order. */
export const categories: ReadonlyArray<ErrorCategory> = Object.keys(rows) as Array<ErrorCategory>

/** The row of a category. */
export const describe = (category: ErrorCategory): Description => table[category]

/** Whether a retry of the same call can help. */
export const isRetryable = (category: ErrorCategory): boolean => table[category].retryable

/** Whether the category stops the whole job. */
export const isSystemic = (category: ErrorCategory): boolean => table[category].systemic

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
