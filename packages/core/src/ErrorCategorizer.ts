/**
 * Turns anything a Bedrock call can throw into a `CategorizedError`: modeled Bedrock exceptions from
 * `@aws-sdk/client-bedrock-runtime`, unmodeled AWS errors (credentials, signing), smithy and Node
 * transport failures, aborts and timeouts, and values of any other shape. Matching is data: `rules`
 * is checked in order against the facts read from the error (name, `$fault`,
 * `$metadata.httpStatusCode`, `$metadata.requestId`, Node `code`s along the `cause` chain, message).
 * The first matching rule decides the category; `ErrorCategory.table` gives the rest.
 *
 * **Gotchas**: `categorize` never throws — errors may be Proxies, have throwing getters or be cyclic,
 * so every property read is guarded. Messages are redacted of anything that looks like an AWS access
 * key id, secret key or session token before they are kept.
 *
 * @since 0.1.0
 */
import { CategorizedError } from "./Domain.ts"
import type { ErrorCategory as Category } from "./Domain.ts"
import * as ErrorCategory from "./ErrorCategory.ts"

// ---------------------------------------------------------------------------------------------
// Facts read from an error
// ---------------------------------------------------------------------------------------------

/** What the categorizer reads from an error before matching it against `rules`. */
export interface Facts {
  /** The error's `name` (or `_tag`), first letter upper-cased so stream event names match class names. */
  readonly name: string | null
  readonly message: string
  /** `$fault` of an AWS SDK error: "client" or "server". */
  readonly fault: string | null
  readonly httpStatus: number | null
  readonly requestId: string | null
  /** Node error `code`s of the error and of its `cause` chain. */
  readonly codes: ReadonlyArray<string>
  /** A Converse `stopReason` the caller attached to the error. */
  readonly stopReason: string | null
  /** `$retryable` of an AWS SDK error: absent, or present with `throttling` set or not. */
  readonly retryable: "no" | "yes" | "throttling"
}

const MAX_DEPTH = 8
const MAX_MESSAGE = 4000

// Errors may be Proxies or carry throwing getters; a categorizer that throws would hide the real error.
const get = (value: unknown, key: string): unknown => {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return undefined
  try {
    return (value as Record<string, unknown>)[key]
  } catch {
    return undefined
  }
}

const str = (value: unknown): string | null => (typeof value === "string" && value.length > 0 ? value : null)

const int = (value: unknown): number | null =>
  typeof value === "number" && Number.isInteger(value) && value >= 100 && value <= 999 ? value : null

const upperFirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

// A stream exception may reach us as the raw union member, `{ throttlingException: { message } }`.
const streamMemberNames = [
  "internalServerException",
  "modelStreamErrorException",
  "validationException",
  "throttlingException",
  "serviceUnavailableException",
  "modelTimeoutException"
] as const

const unwrapStreamMember = (value: unknown): { readonly name: string; readonly body: unknown } | null => {
  for (const member of streamMemberNames) {
    const body = get(value, member)
    if (body !== undefined && body !== null && typeof body === "object") return { name: upperFirst(member), body }
  }
  return null
}

const codesOf = (error: unknown): Array<string> => {
  const codes: Array<string> = []
  const seen = new Set<unknown>()
  let current: unknown = error
  for (let depth = 0; depth < MAX_DEPTH && current !== null && typeof current === "object"; depth++) {
    if (seen.has(current)) break
    seen.add(current)
    const code = str(get(current, "code"))
    if (code !== null) codes.push(code)
    // Node's happy-eyeballs connect failures arrive as an AggregateError of per-address errors.
    const errors = get(current, "errors")
    if (Array.isArray(errors)) {
      for (const inner of errors.slice(0, MAX_DEPTH)) {
        const innerCode = str(get(inner, "code"))
        if (innerCode !== null) codes.push(innerCode)
      }
    }
    current = get(current, "cause")
  }
  return codes
}

const retryableOf = (error: unknown): Facts["retryable"] => {
  const retryable = get(error, "$retryable")
  if (retryable === undefined || retryable === null || typeof retryable !== "object") return "no"
  return get(retryable, "throttling") === true ? "throttling" : "yes"
}

/** The facts of a value that carries nothing but a message (a string, a number, null…). */
const messageOnly = (message: string): Facts => ({
  name: null,
  message,
  fault: null,
  httpStatus: null,
  requestId: null,
  codes: [],
  stopReason: null,
  retryable: "no"
})

/** Reads the facts of any value; never throws. */
export const facts = (error: unknown): Facts => {
  if (typeof error === "string") return messageOnly(error)
  if (error === null || (typeof error !== "object" && typeof error !== "function")) {
    return messageOnly(error === undefined ? "undefined" : error === null ? "null" : String(error))
  }
  const member = unwrapStreamMember(error)
  const source = member === null ? error : member.body
  const rawName = member?.name ?? str(get(source, "name")) ?? str(get(source, "_tag"))
  const metadata = get(source, "$metadata")
  const message = str(get(source, "message")) ?? str(get(source, "Message")) ?? str(get(source, "originalMessage")) ??
    rawName ?? "Unknown error"
  return {
    name: rawName === null ? null : upperFirst(rawName),
    message,
    fault: str(get(source, "$fault")),
    httpStatus: int(get(metadata, "httpStatusCode")) ?? int(get(get(source, "$response"), "statusCode")),
    requestId: str(get(metadata, "requestId")),
    codes: codesOf(source),
    stopReason: str(get(source, "stopReason")),
    retryable: retryableOf(source)
  }
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/**
 * One matching rule. Every predicate it sets must hold; unset predicates match anything. `rules`
 * are tried in order and the first match decides the category.
 */
export interface Rule {
  /** Why the rule exists, in words (shown by tests). */
  readonly why: string
  readonly category: Category
  /** The error name must be one of these. */
  readonly names?: ReadonlyArray<string>
  /** The message must match. */
  readonly message?: RegExp
  /** One of these Node codes must appear on the error or its `cause` chain. */
  readonly codes?: ReadonlyArray<string>
  /** The HTTP status must lie in `[min, max]`. */
  readonly status?: readonly [number, number]
  /** The caller-attached `stopReason` must be one of these. */
  readonly stopReasons?: ReadonlyArray<string>
  /** The `$retryable` trait must be present (`"yes"`) or say throttling. */
  readonly retryable?: "yes" | "throttling"
  /** The `$fault` must be this. */
  readonly fault?: "client" | "server"
}

/** Unmodeled AWS names that mean the credentials or the signature are wrong (they fail every unit). */
export const credentialNames: ReadonlyArray<string> = [
  "UnrecognizedClientException",
  "ExpiredTokenException",
  "ExpiredToken",
  "InvalidSignatureException",
  "SignatureDoesNotMatch",
  "InvalidClientTokenId",
  "MissingAuthenticationToken",
  "MissingAuthenticationTokenException",
  "IncompleteSignature",
  "IncompleteSignatureException",
  "InvalidAccessKeyId",
  "RequestExpired",
  "CredentialsProviderError",
  "TokenProviderError"
]

/** Node / HTTP/2 transport codes that mean the connection failed before an answer arrived. */
export const networkCodes: ReadonlyArray<string> = [
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EPIPE",
  "ECONNABORTED",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_HTTP2_STREAM_ERROR",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_ERROR",
  "ERR_STREAM_PREMATURE_CLOSE"
]

/** Throttling names the AWS SDKs recognise (smithy `THROTTLING_ERROR_CODES`). */
export const throttlingNames: ReadonlyArray<string> = [
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "RequestThrottledException",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "TransactionInProgressException",
  "RequestLimitExceeded",
  "BandwidthLimitExceeded",
  "LimitExceededException",
  "RequestThrottled",
  "SlowDown",
  "PriorRequestNotComplete",
  "EC2ThrottledException"
]

/** The ordered rule table. */
export const rules: ReadonlyArray<Rule> = [
  // Credentials first: they are systemic and must never be mistaken for a per-model problem.
  { why: "unmodeled AWS credential / signing error", category: "CREDENTIALS", names: credentialNames },
  { why: "no credentials in the provider chain", category: "CREDENTIALS", message: /Could not load credentials/i },
  {
    why: "security token invalid or expired",
    category: "CREDENTIALS",
    message: /security token included in the request is (invalid|expired)/i
  },
  // Exact Bedrock messages decide regardless of which exception carries them.
  { why: "model past end of life", category: "LEGACY_OR_EOL", message: /reached the end of its life/i },
  {
    why: "model marked Legacy for inactive accounts",
    category: "LEGACY_OR_EOL",
    message: /marked by provider as Legacy/i
  },
  {
    why: "Marketplace subscription not (yet) allowed",
    category: "MARKETPLACE_PENDING",
    message: /aws-marketplace:(Subscribe|ViewSubscriptions)|AWS Marketplace subscription/i
  },
  { why: "Marketplace agreement errors", category: "MARKETPLACE_PENDING", names: ["MPAgreementBeingCreated"] },
  {
    why: "on-demand throughput unsupported: needs an inference profile (U+2019 or ASCII apostrophe)",
    category: "REQUIRES_INFERENCE_PROFILE",
    message: /with on-demand throughput isn[’']t supported/i
  },
  {
    why: "inference profile required",
    category: "REQUIRES_INFERENCE_PROFILE",
    message: /ARN of an inference profile/i
  },
  {
    why: "Anthropic use-case form not submitted (FTUFormNotFilled)",
    category: "ACCESS_DENIED",
    message: /Model use case details have not been submitted|FTUFormNotFilled/i
  },
  { why: "model access not granted", category: "ACCESS_DENIED", message: /You don[’']t have access to the model/i },
  {
    why: "IAM does not allow the invoke action",
    category: "ACCESS_DENIED",
    message: /not authorized to perform: bedrock:/i
  },
  {
    why: "account not authorized for the operation",
    category: "ACCESS_DENIED",
    message: /Your account is not authorized to invoke this API operation/i
  },
  {
    why: "model id unknown in this region",
    category: "NOT_OFFERED_IN_REGION",
    message: /The provided model identifier is invalid/i
  },
  {
    why: "the model lacks a Converse feature",
    category: "UNSUPPORTED_FEATURE",
    message: /doesn[’']t support (tool use|the toolConfig|system messages|the (image|document|video) field|streaming)/i
  },
  // Content filter / guardrail stop reasons surfaced as errors by the caller.
  {
    why: "content filter or guardrail stopped the answer",
    category: "CONTENT_FILTERED",
    stopReasons: ["content_filtered", "guardrail_intervened"]
  },
  {
    why: "content filter or guardrail named in the error",
    category: "CONTENT_FILTERED",
    names: ["ContentFiltered", "ContentFilteredError", "GuardrailIntervened", "GuardrailInterventionError"]
  },
  {
    why: "content filter stop reason in the message",
    category: "CONTENT_FILTERED",
    message: /content_filtered|guardrail_intervened/
  },
  // Modeled Bedrock exceptions by name.
  { why: "ServiceQuotaExceededException", category: "QUOTA_EXCEEDED", names: ["ServiceQuotaExceededException"] },
  { why: "AWS throttling names", category: "THROTTLED", names: throttlingNames },
  {
    why: "ModelNotReadyException: model not ready yet",
    category: "SERVICE_UNAVAILABLE",
    names: ["ModelNotReadyException"]
  },
  { why: "ModelTimeoutException", category: "TIMEOUT", names: ["ModelTimeoutException"] },
  {
    why: "the model errored (possibly transient)",
    category: "MODEL_ERROR",
    names: ["ModelErrorException", "ModelStreamErrorException"]
  },
  {
    why: "Bedrock server errors",
    category: "SERVICE_UNAVAILABLE",
    names: ["InternalServerException", "ServiceUnavailableException", "InternalFailure", "ServiceUnavailable"]
  },
  {
    why: "access denied without a known message",
    category: "ACCESS_DENIED",
    names: ["AccessDeniedException", "NotAuthorized", "BadCScoreException"]
  },
  {
    why: "resource not found: model id unknown here",
    category: "NOT_OFFERED_IN_REGION",
    names: ["ResourceNotFoundException"]
  },
  {
    why: "our request does not suit the model",
    category: "INVALID_REQUEST",
    names: ["ValidationException", "ValidationError", "ConflictException", "InvalidAction", "UnknownOperationException"]
  },
  // Transport: the http2 "no response" message may be named TimeoutError, so it goes before timeouts.
  { why: "HTTP/2 stream got no response", category: "NETWORK", message: /http2 request did not get a response/i },
  // smithy's HTTP/1.1 handler renames ECONNRESET / EPIPE errors ("socket hang up") TimeoutError: the
  // code, not the name, says what happened — the connection was torn down.
  {
    why: "connection reset or broken pipe (smithy names these TimeoutError)",
    category: "NETWORK",
    names: ["TimeoutError"],
    codes: ["ECONNRESET", "EPIPE"]
  },
  {
    why: "abort or client-side timeout",
    category: "TIMEOUT",
    names: ["AbortError", "TimeoutError", "RequestTimeout", "RequestTimeoutException"]
  },
  { why: "Node transport error code", category: "NETWORK", codes: networkCodes },
  {
    why: "non-JSON 5xx body (HTML error page)",
    category: "SERVICE_UNAVAILABLE",
    names: ["SyntaxError"], status: [500, 599]
  },
  // Shapes we do not know by name: fall back to the status, the retry trait and common wording.
  { why: "HTTP 429", category: "THROTTLED", status: [429, 429] },
  { why: "HTTP 408", category: "TIMEOUT", status: [408, 408] },
  { why: "HTTP 5xx", category: "SERVICE_UNAVAILABLE", status: [500, 599] },
  { why: "SDK throttling trait", category: "THROTTLED", retryable: "throttling" },
  { why: "SDK retryable trait", category: "SERVICE_UNAVAILABLE", retryable: "yes" },
  { why: "server fault without a status", category: "SERVICE_UNAVAILABLE", fault: "server" },
  { why: "throttling wording", category: "THROTTLED", message: /Too many (requests|tokens)/i },
  { why: "timeout wording", category: "TIMEOUT", message: /Request timed out|timed out/i },
  {
    why: "service unavailable wording",
    category: "SERVICE_UNAVAILABLE",
    message: /Bedrock is unable to process your request/i
  },
]

const matches = (rule: Rule, f: Facts): boolean =>
  (rule.names === undefined || (f.name !== null && rule.names.includes(f.name))) &&
  (rule.message === undefined || rule.message.test(f.message)) &&
  (rule.codes === undefined || f.codes.some((code) => rule.codes!.includes(code))) &&
  (rule.status === undefined || (f.httpStatus !== null && f.httpStatus >= rule.status[0] &&
    f.httpStatus <= rule.status[1])) &&
  (rule.stopReasons === undefined || (f.stopReason !== null && rule.stopReasons.includes(f.stopReason))) &&
  (rule.retryable === undefined || f.retryable === rule.retryable ||
    (rule.retryable === "yes" && f.retryable !== "no")) &&
  (rule.fault === undefined || f.fault === rule.fault)

/** The first rule matching the facts, if any. */
export const ruleFor = (f: Facts): Rule | undefined => rules.find((rule) => matches(rule, f))

// ---------------------------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------------------------

const redactions: ReadonlyArray<readonly [RegExp, string]> = [
  // Access key ids: AKIA (long-term), ASIA (session), and the other IAM unique-id prefixes.
  [/\b(AKIA|ASIA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{12,}\b/g, "$1****"],
  // key=value / key: value forms of secrets and tokens.
  [
    new RegExp(
      "(secret[_-]?access[_-]?key|secretAccessKey|aws[_-]?secret|session[_-]?token|sessionToken|security[_-]?token|" +
        "x-amz-security-token)([\"']?\\s*[:=]\\s*[\"']?)[^\\s\"',;&]+",
      "gi"
    ),
    "$1$2[REDACTED]"
  ],
  // Bare 40-character secret keys and long base64 session tokens.
  [/(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{39}[A-Za-z0-9/+=](?![A-Za-z0-9/+=])/g, "[REDACTED]"],
  [/[A-Za-z0-9/+=]{100,}/g, "[REDACTED]"]
]

/** Removes anything that looks like an AWS credential from a message. */
export const redact = (message: string): string =>
  redactions.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), message.slice(0, MAX_MESSAGE))

// ---------------------------------------------------------------------------------------------
// Categorize
// ---------------------------------------------------------------------------------------------

// For transport failures the Node code says more than the wrapper's name ("TypeError: fetch failed").
const awsNameOf = (f: Facts, rule: Rule | undefined): string | null => {
  const code = rule?.codes === undefined ? undefined : f.codes.find((c) => rule.codes!.includes(c))
  if (code !== undefined) return code
  if (f.name !== null && f.name !== "Error") return f.name
  return f.codes[0] ?? f.name
}

const isCategorized = (error: unknown): error is CategorizedError => {
  try {
    return error instanceof CategorizedError
  } catch {
    return false
  }
}

const categorizeAt = (error: unknown, depth: number, seen: Set<unknown>): CategorizedError => {
  if (isCategorized(error)) return error
  const f = facts(error)
  const rule = ruleFor(f)
  if (rule === undefined && depth < MAX_DEPTH && error !== null && typeof error === "object") {
    // Wrappers (Effect's UnknownError from tryPromise, a caller's own error) carry the real error as `cause`.
    seen.add(error)
    const cause = get(error, "cause")
    if (cause !== undefined && cause !== null && !seen.has(cause)) {
      const inner = categorizeAt(cause, depth + 1, seen)
      if (inner.category !== "UNKNOWN") return inner
    }
  }
  return ErrorCategory.make(rule?.category ?? "UNKNOWN", {
    message: redact(f.message),
    awsErrorName: awsNameOf(f, rule),
    httpStatus: f.httpStatus,
    requestId: f.requestId
  })
}

/**
 * Classifies any thrown value. Never throws: an error that defeats inspection is UNKNOWN.
 * A `CategorizedError` is returned as is; an unrecognised wrapper is classified by its `cause`.
 */
export const categorize = (error: unknown): CategorizedError => {
  try {
    return categorizeAt(error, 0, new Set())
  } catch {
    return ErrorCategory.make("UNKNOWN", { message: "error could not be inspected" })
  }
}

// ---------------------------------------------------------------------------------------------
// Domain-made categories
// ---------------------------------------------------------------------------------------------

/** The model answered, but wrongly (a failed check, not an exception). */
export const quality = (message: string): CategorizedError =>
  ErrorCategory.make("QUALITY", { message: redact(message) })

/** The model produced an error or an unusable answer (e.g. an empty or truncated response). */
export const modelError = (message: string): CategorizedError =>
  ErrorCategory.make("MODEL_ERROR", { message: redact(message) })

/** The answer stopped with a content-filter or guardrail `stopReason`. */
export const contentFiltered = (stopReason: string, message?: string): CategorizedError =>
  ErrorCategory.make("CONTENT_FILTERED", {
    message: redact(message ?? `the answer stopped with stopReason "${stopReason}"`)
  })

/** The model lacks a feature a test needs (learned from its answer rather than an exception). */
export const unsupportedFeature = (message: string): CategorizedError =>
  ErrorCategory.make("UNSUPPORTED_FEATURE", { message: redact(message) })

/** Whether a retry of the call that raised this error can help. */
export const isRetryable = (error: unknown): boolean => categorize(error).retryable
