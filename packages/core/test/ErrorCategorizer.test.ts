import * as Runtime from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { readFileSync } from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as Domain from "../src/Domain.ts"
import * as ErrorCategorizer from "../src/ErrorCategorizer.ts"
import { intended } from "./fixtures/intended-categories.ts"

type Category = Domain.ErrorCategory

interface Fixture {
  readonly modeled: ReadonlyArray<
    { readonly name: string; readonly status: number; readonly messages: ReadonlyArray<string> }
  >
  readonly unmodeled_common_aws: ReadonlyArray<{
    readonly name: string
    readonly status: number
    readonly message?: string
    readonly variant?: string
  }>
  readonly stream_exception_events: { readonly [operation: string]: unknown }
}

const fixture: Fixture = JSON.parse(
  readFileSync(new URL("./fixtures/bedrock_runtime_errors.json", import.meta.url), "utf8")
)

const decodeCategorized = Schema.decodeUnknownSync(Domain.CategorizedError)
const encodeCategorized = Schema.encodeSync(Domain.CategorizedError)

interface Carried {
  readonly awsErrorName?: string | null
  readonly httpStatus?: number | null
  readonly requestId?: string | null
}

/** Asserts the category, its intended consequences, and the carried original facts. */
const expectCategory = (
  result: Domain.CategorizedError,
  category: Category,
  carried: Carried = {}
) => {
  assert.strictEqual(result.category, category, `message: ${result.message}`)
  const want = intended[category]
  assert.strictEqual(result.retryable, want.retryable, "retryable")
  assert.strictEqual(result.blame, want.blame, "blame")
  assert.strictEqual(result.verdict, want.verdict, "verdict")
  assert.strictEqual(result.systemic, want.systemic, "systemic")
  assert.isTrue(result.hint.length > 0)
  if (carried.awsErrorName !== undefined) assert.strictEqual(result.awsErrorName, carried.awsErrorName, "awsErrorName")
  if (carried.httpStatus !== undefined) assert.strictEqual(result.httpStatus, carried.httpStatus, "httpStatus")
  if (carried.requestId !== undefined) assert.strictEqual(result.requestId, carried.requestId, "requestId")
}

type ModeledName =
  | "AccessDeniedException"
  | "ValidationException"
  | "ResourceNotFoundException"
  | "ThrottlingException"
  | "ModelNotReadyException"
  | "ServiceQuotaExceededException"
  | "ModelTimeoutException"
  | "ModelErrorException"
  | "ModelStreamErrorException"
  | "InternalServerException"
  | "ServiceUnavailableException"
  | "ConflictException"

const sdkClasses: { readonly [N in ModeledName]: new(opts: any) => Error } = {
  AccessDeniedException: Runtime.AccessDeniedException,
  ValidationException: Runtime.ValidationException,
  ResourceNotFoundException: Runtime.ResourceNotFoundException,
  ThrottlingException: Runtime.ThrottlingException,
  ModelNotReadyException: Runtime.ModelNotReadyException,
  ServiceQuotaExceededException: Runtime.ServiceQuotaExceededException,
  ModelTimeoutException: Runtime.ModelTimeoutException,
  ModelErrorException: Runtime.ModelErrorException,
  ModelStreamErrorException: Runtime.ModelStreamErrorException,
  InternalServerException: Runtime.InternalServerException,
  ServiceUnavailableException: Runtime.ServiceUnavailableException,
  ConflictException: Runtime.ConflictException
}

const isModeled = (name: string): name is ModeledName => name in sdkClasses

/** A real SDK exception, as the client builds it from a response. */
const sdkError = (name: ModeledName, message: string, status: number, requestId: string | undefined) =>
  new sdkClasses[name]({
    message,
    $metadata: requestId === undefined ? {} : { httpStatusCode: status, requestId }
  })

let counter = 0
const nextRequestId = () => `req-${++counter}-7f3c`

// ---------------------------------------------------------------------------------------------
// Expected categories for every message of the fixture (name, start of message, category).
// ---------------------------------------------------------------------------------------------

const fixtureExpectations: ReadonlyArray<readonly [ModeledName, string, Category]> = [
  ["AccessDeniedException", "You don't have access to the model", "ACCESS_DENIED"],
  ["AccessDeniedException", "User: arn:aws:sts::", "ACCESS_DENIED"],
  ["AccessDeniedException", "... with an explicit deny in a service control policy", "ACCESS_DENIED"],
  ["AccessDeniedException", "Model access is denied due to IAM user", "MARKETPLACE_PENDING"],
  ["AccessDeniedException", "Your account is not authorized to invoke this API operation.", "ACCESS_DENIED"],
  ["ValidationException", "The provided model identifier is invalid.", "NOT_OFFERED_IN_REGION"],
  ["ValidationException", "Invocation of model ID anthropic.claude-3-5-sonnet", "REQUIRES_INFERENCE_PROFILE"],
  ["ValidationException", "This model doesn't support system messages.", "UNSUPPORTED_FEATURE"],
  ["ValidationException", "This model doesn't support tool use in streaming mode.", "UNSUPPORTED_FEATURE"],
  ["ValidationException", "This model doesn't support the toolConfig.toolChoice.any", "UNSUPPORTED_FEATURE"],
  ["ValidationException", "This model doesn't support the toolConfig.toolChoice.tool", "UNSUPPORTED_FEATURE"],
  ["ValidationException", "This model doesn't support the image field", "UNSUPPORTED_FEATURE"],
  ["ValidationException", "The text field in the ContentBlock object", "INVALID_REQUEST"],
  ["ValidationException", "messages.2.content: Conversation blocks", "INVALID_REQUEST"],
  ["ValidationException", "1 validation error detected:", "INVALID_REQUEST"],
  ["ValidationException", "The model returned the following errors:", "INVALID_REQUEST"],
  ["ValidationException", "Malformed input request:", "INVALID_REQUEST"],
  ["ResourceNotFoundException", "This model version has reached the end of its life.", "LEGACY_OR_EOL"],
  ["ResourceNotFoundException", "Access denied. This Model is marked by provider as Legacy", "LEGACY_OR_EOL"],
  ["ResourceNotFoundException", "Model use case details have not been submitted", "ACCESS_DENIED"],
  ["ThrottlingException", "Too many requests, please wait before trying again.", "THROTTLED"],
  ["ThrottlingException", "Too many tokens, please wait before trying again.", "THROTTLED"],
  ["ThrottlingException", "(older) Too many requests", "THROTTLED"],
  ["ModelNotReadyException", "(model not ready", "SERVICE_UNAVAILABLE"],
  ["ModelTimeoutException", "Model has timed out", "TIMEOUT"],
  ["InternalServerException", "The system encountered an unexpected error", "SERVICE_UNAVAILABLE"],
  ["InternalServerException", "Internal Server Exception", "SERVICE_UNAVAILABLE"],
  ["ServiceUnavailableException", "Bedrock is unable to process your request.", "SERVICE_UNAVAILABLE"]
]

/** Exceptions the fixture lists without any captured message, with a representative one. */
const messagelessExpectations: { readonly [name: string]: readonly [string, Category] } = {
  ServiceQuotaExceededException: ["Too many tokens, please wait before trying again.", "QUOTA_EXCEEDED"],
  ModelErrorException: ["The model encountered an error while processing the request.", "MODEL_ERROR"],
  ModelStreamErrorException: ["An error occurred while streaming the response. Retry your request.", "MODEL_ERROR"],
  ConflictException: ["A conflicting request is in progress.", "INVALID_REQUEST"]
}

const unmodeledExpectations: { readonly [name: string]: Category } = {
  UnrecognizedClientException: "CREDENTIALS",
  ExpiredTokenException: "CREDENTIALS",
  InvalidSignatureException: "CREDENTIALS",
  IncompleteSignature: "CREDENTIALS",
  InvalidClientTokenId: "CREDENTIALS",
  MissingAuthenticationToken: "CREDENTIALS",
  UnknownOperationException: "INVALID_REQUEST"
}

/** What each stream exception event becomes once the SDK raises it as the modeled class. */
const streamExpectations: { readonly [event: string]: Category } = {
  internalServerException: "SERVICE_UNAVAILABLE",
  modelStreamErrorException: "MODEL_ERROR",
  validationException: "INVALID_REQUEST",
  throttlingException: "THROTTLED",
  modelTimeoutException: "TIMEOUT",
  serviceUnavailableException: "SERVICE_UNAVAILABLE"
}

/** The SDK's `$fault` rule for unmodeled errors. */
const unmodeledError = (name: string, message: string, status: number, requestId: string) =>
  new Runtime.BedrockRuntimeServiceException({
    name,
    $fault: status <= 500 ? "client" : "server",
    message,
    $metadata: { httpStatusCode: status, requestId }
  })

/** Messages that each message-only rule must catch, keyed by the rule's `why`. */
const messageSamples: { readonly [why: string]: ReadonlyArray<string> } = {
  "no credentials in the provider chain": ["Could not load credentials from any providers"],
  "security token invalid or expired": [
    "The security token included in the request is invalid.",
    "The security token included in the request is expired"
  ],
  "model past end of life": ["This model version has reached the end of its life."],
  "model marked Legacy for inactive accounts": ["Access denied. This Model is marked by provider as Legacy and ..."],
  "Marketplace subscription not (yet) allowed": [
    "not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe)",
    "Your AWS Marketplace subscription for this model cannot be completed at this time."
  ],
  "on-demand throughput unsupported: needs an inference profile (U+2019 or ASCII apostrophe)": [
    "Invocation of model ID x with on-demand throughput isn\u2019t supported.",
    "Invocation of model ID x with on-demand throughput isn't supported."
  ],
  "inference profile required": ["Retry your request with the ID or ARN of an inference profile that contains this model."],
  "Anthropic use-case form not submitted (FTUFormNotFilled)": [
    "Model use case details have not been submitted for this account.",
    "FTUFormNotFilled"
  ],
  "model access not granted": [
    "You don't have access to the model with the specified model ID.",
    "You don\u2019t have access to the model with the specified model ID."
  ],
  "IAM does not allow the invoke action": ["User: x is not authorized to perform: bedrock:InvokeModelWithResponseStream on y"],
  "account not authorized for the operation": ["Your account is not authorized to invoke this API operation."],
  "model id unknown in this region": ["The provided model identifier is invalid."],
  "the model lacks a Converse feature": [
    "This model doesn't support tool use in streaming mode.",
    "This model doesn't support the toolConfig.toolChoice.any field.",
    "This model doesn't support system messages.",
    "This model doesn't support the image field for user messages.",
    "This model doesn\u2019t support the document field."
  ],
  "content filter stop reason in the message": ["stopReason content_filtered", "stopped: guardrail_intervened"],
  "HTTP/2 stream got no response": ["Unexpected error: http2 request did not get a response"],
  "throttling wording": ["Too many requests, please wait before trying again.", "Too many tokens, please wait"],
  "timeout wording": ["Request timed out", "Connection timed out after 1000 ms"],
  "service unavailable wording": ["Bedrock is unable to process your request."]
}

/** Error-like values that must be decided by `rule` itself (not by an earlier rule). */
const samplesOf = (rule: ErrorCategorizer.Rule): ReadonlyArray<unknown> => {
  const neutral = "something odd happened"
  const metadata = rule.status === undefined ? {} : { $metadata: { httpStatusCode: rule.status[0] } }
  if (rule.names !== undefined && rule.codes !== undefined) {
    return rule.names.flatMap((name) => rule.codes!.map((code) => ({ name, message: neutral, code, ...metadata })))
  }
  if (rule.names !== undefined) return rule.names.map((name) => ({ name, message: neutral, ...metadata }))
  if (rule.codes !== undefined) return rule.codes.map((code) => ({ name: "Error", message: neutral, code }))
  if (rule.stopReasons !== undefined) return rule.stopReasons.map((stopReason) => ({ message: neutral, stopReason }))
  if (rule.message !== undefined) return (messageSamples[rule.why] ?? []).map((message) => ({ name: "Error", message }))
  if (rule.status !== undefined) {
    return rule.status.map((httpStatusCode) => ({ name: "X", message: neutral, $metadata: { httpStatusCode } }))
  }
  if (rule.retryable !== undefined) {
    return [{ name: "X", message: neutral, $retryable: { throttling: rule.retryable === "throttling" } }]
  }
  if (rule.fault !== undefined) return [{ name: "X", message: neutral, $fault: rule.fault }]
  return []
}

describe("ErrorCategorizer", () => {
  describe("the rule table", () => {
    it("gives every rule a distinct reason", () => {
      const whys = ErrorCategorizer.rules.map((rule) => rule.why)
      assert.strictEqual(new Set(whys).size, whys.length)
      for (const why of whys) assert.isTrue(why.length > 0)
    })

    for (const rule of ErrorCategorizer.rules) {
      it(`rule "${rule.why}" decides its own samples as ${rule.category} (no earlier rule shadows it)`, () => {
        const samples = samplesOf(rule)
        assert.isTrue(samples.length > 0, "every rule has at least one sample")
        for (const sample of samples) {
          assert.strictEqual(ErrorCategorizer.ruleFor(ErrorCategorizer.facts(sample)), rule, JSON.stringify(sample))
          expectCategory(ErrorCategorizer.categorize(sample), rule.category)
        }
      })
    }
  })

  describe("every modeled exception of the fixture", () => {
    it("has an expectation for every captured message and every exception without one", () => {
      for (const entry of fixture.modeled) {
        assert.isTrue(isModeled(entry.name), `${entry.name} is a class of @aws-sdk/client-bedrock-runtime`)
        for (const message of entry.messages) {
          const found = fixtureExpectations.filter(([name, prefix]) =>
            name === entry.name && message.startsWith(prefix)
          )
          assert.strictEqual(found.length, 1, `${entry.name}: ${message}`)
        }
        if (entry.messages.length === 0) assert.property(messagelessExpectations, entry.name)
      }
    })

    for (const entry of fixture.modeled) {
      const cases: ReadonlyArray<readonly [string, Category]> = entry.messages.length > 0
        ? entry.messages.map((message) => [
          message,
          fixtureExpectations.find(([name, prefix]) => name === entry.name && message.startsWith(prefix))?.[2] ??
            "UNKNOWN"
        ])
        : [messagelessExpectations[entry.name]!]
      for (const [message, category] of cases) {
        it(`${entry.name} (${entry.status}) "${message.slice(0, 60)}" is ${category}`, () => {
          assert.isTrue(isModeled(entry.name))
          const requestId = nextRequestId()
          const error = sdkError(entry.name as ModeledName, message, entry.status, requestId)
          assert.strictEqual(error.name, entry.name)
          const result = ErrorCategorizer.categorize(error)
          expectCategory(result, category, { awsErrorName: entry.name, httpStatus: entry.status, requestId })
          assert.strictEqual(result.message, message)
        })
      }
    }
  })

  describe("every unmodeled common AWS error of the fixture", () => {
    for (const entry of fixture.unmodeled_common_aws) {
      const messages = [entry.message ?? "UnknownError", ...(entry.variant === undefined ? [] : [entry.variant])]
      for (const message of messages) {
        it(`${entry.name} (${entry.status}) "${message.slice(0, 50)}" is ${unmodeledExpectations[entry.name]}`, () => {
          const category = unmodeledExpectations[entry.name]
          assert.isDefined(category, `no expectation for ${entry.name}`)
          const requestId = nextRequestId()
          const result = ErrorCategorizer.categorize(unmodeledError(entry.name, message, entry.status, requestId))
          expectCategory(result, category!, { awsErrorName: entry.name, httpStatus: entry.status, requestId })
        })
      }
    }
  })

  describe("every stream exception event of the fixture", () => {
    const events = Object.entries(fixture.stream_exception_events).flatMap(([operation, names]) =>
      Array.isArray(names) ? names.map((event: string) => [operation, event] as const) : []
    )

    it("covers both streaming operations", () => {
      assert.deepStrictEqual([...new Set(events.map(([operation]) => operation))].sort(), [
        "ConverseStream",
        "InvokeModelWithResponseStream"
      ])
    })

    for (const [operation, event] of events) {
      const name = event.charAt(0).toUpperCase() + event.slice(1)
      const category = streamExpectations[event]
      it(`${operation} ${event} raised as ${name} is ${category}`, () => {
        assert.isDefined(category, `no expectation for ${event}`)
        assert.isTrue(isModeled(name), `${name} is a modeled class`)
        // Mid-stream exceptions carry no HTTP status of their own.
        const error = sdkError(name as ModeledName, "Bedrock is unable to process your request.", 200, undefined)
        expectCategory(ErrorCategorizer.categorize(error), category!, {
          awsErrorName: name,
          httpStatus: null,
          requestId: null
        })
      })

      it(`${operation} ${event} as the raw union member is ${category}`, () => {
        const raw = { [event]: { message: "Bedrock is unable to process your request." } }
        const result = ErrorCategorizer.categorize(raw)
        expectCategory(result, category!, { awsErrorName: name })
      })
    }
  })

  describe("the real Bedrock messages of REPORT.md, whichever exception carries them", () => {
    const cases: ReadonlyArray<readonly [string, ModeledName, number, string, Category]> = [
      [
        "on-demand message with U+2019",
        "ValidationException",
        400,
        "Invocation of model ID meta.llama3-2-1b-instruct-v1:0 with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
        "REQUIRES_INFERENCE_PROFILE"
      ],
      [
        "on-demand message with an ASCII apostrophe",
        "ValidationException",
        400,
        "Invocation of model ID meta.llama3-2-1b-instruct-v1:0 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
        "REQUIRES_INFERENCE_PROFILE"
      ],
      [
        "end of life as ValidationException",
        "ValidationException",
        400,
        "This model version has reached the end of its life. Please refer to the AWS documentation for more details.",
        "LEGACY_OR_EOL"
      ],
      [
        "end of life as AccessDeniedException",
        "AccessDeniedException",
        403,
        "This model version has reached the end of its life. Please refer to the AWS documentation for more details.",
        "LEGACY_OR_EOL"
      ],
      [
        "Legacy (15 days) as AccessDeniedException",
        "AccessDeniedException",
        403,
        "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 15 days. Please upgrade to an active model on Amazon Bedrock",
        "LEGACY_OR_EOL"
      ],
      [
        "Legacy as ValidationException",
        "ValidationException",
        400,
        "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 30 days. Please upgrade to an active model on Amazon Bedrock",
        "LEGACY_OR_EOL"
      ],
      [
        "IAM deny for bedrock:InvokeModel",
        "AccessDeniedException",
        403,
        "User: arn:aws:sts::123456789012:assumed-role/X/Y is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0 because no identity-based policy allows the bedrock:InvokeModel action",
        "ACCESS_DENIED"
      ],
      [
        "FTU form as AccessDeniedException",
        "AccessDeniedException",
        403,
        "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model.",
        "ACCESS_DENIED"
      ],
      [
        "Too many tokens as ServiceQuotaExceededException",
        "ServiceQuotaExceededException",
        400,
        "Too many tokens, please wait before trying again.",
        "QUOTA_EXCEEDED"
      ],
      [
        "ModelNotReady is never a model failure",
        "ModelNotReadyException",
        429,
        "Model is not ready to serve inference requests.",
        "SERVICE_UNAVAILABLE"
      ],
      [
        "ResourceNotFound without a known message: not offered here",
        "ResourceNotFoundException",
        404,
        "Could not resolve the foundation model from the provided model identifier.",
        "NOT_OFFERED_IN_REGION"
      ]
    ]
    for (const [label, name, status, message, category] of cases) {
      it(`${label} is ${category}`, () => {
        const requestId = nextRequestId()
        expectCategory(ErrorCategorizer.categorize(sdkError(name, message, status, requestId)), category, {
          awsErrorName: name,
          httpStatus: status,
          requestId
        })
      })
    }

    it("a ModelErrorException keeps its name and status and is retryable before the model is blamed", () => {
      const error = new Runtime.ModelErrorException({
        message: "Received client error (400) from model.",
        originalStatusCode: 400,
        resourceName: "anthropic.claude",
        $metadata: { httpStatusCode: 424, requestId: "r-424" }
      })
      expectCategory(ErrorCategorizer.categorize(error), "MODEL_ERROR", {
        awsErrorName: "ModelErrorException",
        httpStatus: 424,
        requestId: "r-424"
      })
    })

    it("a \"Too many tokens\" error of an unknown name is THROTTLED, never a model failure", () => {
      const error = new Error("Too many tokens, please wait before trying again.")
      expectCategory(ErrorCategorizer.categorize(error), "THROTTLED")
    })

    it("smithy CredentialsProviderError (no credentials anywhere) is systemic CREDENTIALS", () => {
      const error = Object.assign(new Error("Could not load credentials from any providers"), {
        name: "CredentialsProviderError",
        tryNextLink: false
      })
      expectCategory(ErrorCategorizer.categorize(error), "CREDENTIALS", { awsErrorName: "CredentialsProviderError" })
    })

    it("the credentials message alone is enough for CREDENTIALS", () => {
      expectCategory(ErrorCategorizer.categorize("Could not load credentials from any providers"), "CREDENTIALS", {
        awsErrorName: null
      })
    })
  })

  describe("Node network errors", () => {
    const codes = [
      "ECONNRESET",
      "ECONNREFUSED",
      "ETIMEDOUT",
      "EAI_AGAIN",
      "ENOTFOUND",
      "EPIPE",
      "ECONNABORTED",
      "ERR_HTTP2_STREAM_ERROR",
      "ERR_HTTP2_SESSION_ERROR",
      "ERR_HTTP2_GOAWAY_SESSION",
      "ERR_HTTP2_STREAM_CANCEL"
    ]
    for (const code of codes) {
      it(`${code} on the error is NETWORK`, () => {
        const error = Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code, syscall: "connect" })
        expectCategory(ErrorCategorizer.categorize(error), "NETWORK", { awsErrorName: code, httpStatus: null })
      })

      it(`${code} two causes deep is NETWORK`, () => {
        const inner = Object.assign(new Error(`read ${code}`), { code })
        const error = new TypeError("fetch failed", { cause: new Error("socket closed", { cause: inner }) })
        expectCategory(ErrorCategorizer.categorize(error), "NETWORK", { awsErrorName: code })
      })
    }

    it("the http2 'no response' error is NETWORK even when smithy names it TimeoutError", () => {
      const plain = new Error("Unexpected error: http2 request did not get a response")
      const named = Object.assign(new Error("Unexpected error: http2 request did not get a response"), {
        name: "TimeoutError"
      })
      expectCategory(ErrorCategorizer.categorize(plain), "NETWORK")
      expectCategory(ErrorCategorizer.categorize(named), "NETWORK")
    })

    it("a real refused connection (node:net) is NETWORK", async () => {
      const port = await freePort()
      const error = await new Promise<unknown>((resolve) => {
        const socket = net.connect(port, "127.0.0.1")
        socket.on("error", resolve)
        socket.on("connect", () => {
          socket.destroy()
          resolve(new Error("unexpectedly connected"))
        })
      })
      expectCategory(ErrorCategorizer.categorize(error), "NETWORK", { awsErrorName: "ECONNREFUSED" })
    })

    it("a real failed fetch (code nested in cause) is NETWORK", async () => {
      const port = await freePort()
      const error = await fetch(`http://127.0.0.1:${port}/`).then(
        () => new Error("unexpectedly answered"),
        (e: unknown) => e
      )
      assert.strictEqual((error as Error).message, "fetch failed")
      expectCategory(ErrorCategorizer.categorize(error), "NETWORK")
    })
  })

  describe("aborts and timeouts", () => {
    it("an aborted call (DOMException AbortError) is TIMEOUT", () => {
      const controller = new AbortController()
      controller.abort()
      expectCategory(ErrorCategorizer.categorize(controller.signal.reason), "TIMEOUT", { awsErrorName: "AbortError" })
    })

    it("AbortSignal.timeout's DOMException TimeoutError is TIMEOUT", async () => {
      const signal = AbortSignal.timeout(1)
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()))
      expectCategory(ErrorCategorizer.categorize(signal.reason), "TIMEOUT", { awsErrorName: "TimeoutError" })
    })

    for (const code of ["ECONNRESET", "EPIPE"]) {
      it(`an HTTP/1.1 ${code} that smithy renames TimeoutError ("socket hang up") is NETWORK`, () => {
        const error = Object.assign(new Error(code === "ECONNRESET" ? "socket hang up" : "write EPIPE"), {
          name: "TimeoutError",
          code
        })
        expectCategory(ErrorCategorizer.categorize(error), "NETWORK", { awsErrorName: code })
      })
    }

    it("smithy's request timeout (TimeoutError with code ETIMEDOUT) is TIMEOUT", () => {
      const error = Object.assign(
        new Error("@smithy/node-http-handler - [ERROR] a request has exceeded the configured 1000 ms requestTimeout."),
        { name: "TimeoutError", code: "ETIMEDOUT" }
      )
      expectCategory(ErrorCategorizer.categorize(error), "TIMEOUT", { awsErrorName: "TimeoutError" })
    })

    it("Effect's Cause.TimeoutError is TIMEOUT", () => {
      expectCategory(ErrorCategorizer.categorize(new Cause.TimeoutError("unit took too long")), "TIMEOUT")
    })

    it("\"Request timed out\" of an unknown name is TIMEOUT", () => {
      expectCategory(ErrorCategorizer.categorize(new Error("Request timed out")), "TIMEOUT")
    })

    it("ModelTimeoutException (408) is TIMEOUT", () => {
      expectCategory(
        ErrorCategorizer.categorize(sdkError("ModelTimeoutException", "Model has timed out.", 408, "r-408")),
        "TIMEOUT",
        { awsErrorName: "ModelTimeoutException", httpStatus: 408, requestId: "r-408" }
      )
    })
  })

  describe("status fallbacks and deserialization errors", () => {
    it("a non-JSON 5xx body (SyntaxError with $metadata) is SERVICE_UNAVAILABLE", () => {
      const error = Object.assign(new SyntaxError("Unexpected token '<', \"<html>\" is not valid JSON"), {
        $metadata: { httpStatusCode: 502, requestId: "r-html" }
      })
      expectCategory(ErrorCategorizer.categorize(error), "SERVICE_UNAVAILABLE", {
        awsErrorName: "SyntaxError",
        httpStatus: 502,
        requestId: "r-html"
      })
    })

    it("a SyntaxError with a 4xx status is not mistaken for a server outage", () => {
      const error = Object.assign(new SyntaxError("Unexpected token"), { $metadata: { httpStatusCode: 400 } })
      expectCategory(ErrorCategorizer.categorize(error), "UNKNOWN", { httpStatus: 400 })
    })

    const statusCases: ReadonlyArray<readonly [number, Category]> = [
      [429, "THROTTLED"],
      [500, "SERVICE_UNAVAILABLE"],
      [502, "SERVICE_UNAVAILABLE"],
      [503, "SERVICE_UNAVAILABLE"],
      [504, "SERVICE_UNAVAILABLE"],
      [408, "TIMEOUT"],
      [400, "UNKNOWN"],
      [418, "UNKNOWN"]
    ]
    for (const [status, category] of statusCases) {
      it(`an unknown AWS name with status ${status} is ${category}`, () => {
        const error = unmodeledError("BrandNewException", "UnknownError", status, `r-${status}`)
        expectCategory(ErrorCategorizer.categorize(error), category, {
          awsErrorName: "BrandNewException",
          httpStatus: status,
          requestId: `r-${status}`
        })
      })
    }

    it("the SDK's $retryable throttling trait is THROTTLED", () => {
      const error = Object.assign(new Error("slow down"), { name: "Whatever", $retryable: { throttling: true } })
      expectCategory(ErrorCategorizer.categorize(error), "THROTTLED")
    })
  })

  describe("content filter and domain-made categories", () => {
    for (const stopReason of ["content_filtered", "guardrail_intervened"]) {
      it(`an error carrying stopReason ${stopReason} is CONTENT_FILTERED`, () => {
        const error = Object.assign(new Error("the answer was blocked"), { stopReason })
        expectCategory(ErrorCategorizer.categorize(error), "CONTENT_FILTERED")
        expectCategory(ErrorCategorizer.contentFiltered(stopReason), "CONTENT_FILTERED")
        assert.include(ErrorCategorizer.contentFiltered(stopReason).message, stopReason)
      })
    }

    it("an ordinary stopReason does not make an error CONTENT_FILTERED", () => {
      const error = Object.assign(new Error("odd"), { stopReason: "end_turn" })
      expectCategory(ErrorCategorizer.categorize(error), "UNKNOWN")
    })

    it("quality, modelError and unsupportedFeature raise their categories without SDK shapes", () => {
      expectCategory(ErrorCategorizer.quality("expected 4, got 5"), "QUALITY", { awsErrorName: null, httpStatus: null })
      expectCategory(ErrorCategorizer.modelError("empty answer"), "MODEL_ERROR", { awsErrorName: null })
      expectCategory(ErrorCategorizer.unsupportedFeature("no toolUse block"), "UNSUPPORTED_FEATURE")
      assert.strictEqual(ErrorCategorizer.quality("expected 4, got 5").message, "expected 4, got 5")
    })

    it("a CategorizedError is returned unchanged", () => {
      const made = ErrorCategorizer.quality("wrong")
      assert.strictEqual(ErrorCategorizer.categorize(made), made)
    })

    it("isRetryable follows the category", () => {
      assert.isTrue(ErrorCategorizer.isRetryable(sdkError("ThrottlingException", "Too many requests", 429, "r")))
      assert.isFalse(ErrorCategorizer.isRetryable(sdkError("AccessDeniedException", "nope", 403, "r")))
    })
  })

  describe("wrappers", () => {
    it.effect("an SDK error wrapped by Effect.tryPromise is categorized by its cause and keeps its facts", () =>
      Effect.gen(function*() {
        const wrapped = yield* Effect.flip(
          Effect.tryPromise(() => Promise.reject(sdkError("ThrottlingException", "Too many requests", 429, "r-wrap")))
        )
        expectCategory(ErrorCategorizer.categorize(wrapped), "THROTTLED", {
          awsErrorName: "ThrottlingException",
          httpStatus: 429,
          requestId: "r-wrap"
        })
      }))

    it("an unrecognised wrapper of an unrecognised error is UNKNOWN with the outer message", () => {
      const error = new Error("outer", { cause: new Error("inner") })
      const result = ErrorCategorizer.categorize(error)
      expectCategory(result, "UNKNOWN")
      assert.strictEqual(result.message, "outer")
    })
  })

  describe("credentials never leak", () => {
    it("access key ids, secret keys and session tokens are redacted from the kept message", () => {
      const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
      const token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD" + "example".repeat(8)
      const message = "The request signature we calculated does not match. " +
        "Credential=AKIAIOSFODNN7EXAMPLE/20240312/us-east-1/bedrock/aws4_request key ASIAY34FZKBOKMUTVV7A " +
        `secret ${secret} x-amz-security-token:${token} aws_secret_access_key=abc123`
      const result = ErrorCategorizer.categorize(unmodeledError("InvalidSignatureException", message, 403, "r-sig"))
      expectCategory(result, "CREDENTIALS", { awsErrorName: "InvalidSignatureException", requestId: "r-sig" })
      for (const leaked of ["AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A", secret, token, "abc123"]) {
        assert.notInclude(result.message, leaked)
      }
      assert.include(result.message, "The request signature we calculated does not match.")
      assert.include(result.message, "us-east-1/bedrock/aws4_request")
    })

    it("model ids, ARNs and request ids survive redaction", () => {
      const message =
        "User: arn:aws:sts::123456789012:assumed-role/BedrockRole/session-1 is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0"
      assert.strictEqual(ErrorCategorizer.redact(message), message)
    })
  })

  describe("never throws", () => {
    const isValid = (result: Domain.CategorizedError) => {
      assert.deepStrictEqual(decodeCategorized(encodeCategorized(result)), result)
    }

    it("on any value (fast-check anything)", () => {
      fc.assert(
        fc.property(
          fc.anything({ withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true }),
          (value) => {
            isValid(ErrorCategorizer.categorize(value))
          }
        ),
        { numRuns: 500 }
      )
    })

    it("on objects whose every getter throws", () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(
            fc.constantFrom("name", "message", "code", "cause", "$metadata", "$fault", "_tag", "stopReason", "errors",
              "$retryable", "throttlingException", "Message", "$response"),
            { minLength: 1 }
          ),
          (keys) => {
            const value: Record<string, unknown> = {}
            for (const key of keys) {
              Object.defineProperty(value, key, {
                enumerable: true,
                get: () => {
                  throw new Error(`getter ${key}`)
                }
              })
            }
            isValid(ErrorCategorizer.categorize(value))
            isValid(ErrorCategorizer.categorize(Object.assign(new Error("x"), { cause: value })))
          }
        ),
        { numRuns: 200 }
      )
    })

    it("on a Proxy whose every trap throws, and on a revoked Proxy", () => {
      const hostile = new Proxy({}, {
        get: () => {
          throw new Error("get")
        },
        has: () => {
          throw new Error("has")
        },
        getPrototypeOf: () => {
          throw new Error("proto")
        },
        ownKeys: () => {
          throw new Error("keys")
        }
      })
      const revocable = Proxy.revocable({}, {})
      revocable.revoke()
      for (const value of [hostile, revocable.proxy]) {
        expectCategory(ErrorCategorizer.categorize(value), "UNKNOWN")
      }
    })

    it("on cyclic cause chains, cyclic objects and deep chains", () => {
      const a: Record<string, unknown> = { message: "a" }
      const b: Record<string, unknown> = { message: "b", cause: a }
      a.cause = b
      a.self = a
      expectCategory(ErrorCategorizer.categorize(a), "UNKNOWN")
      let deep: unknown = Object.assign(new Error("bottom"), { code: "ECONNRESET" })
      for (let i = 0; i < 10_000; i++) deep = new Error(`level ${i}`, { cause: deep })
      isValid(ErrorCategorizer.categorize(deep))
    })

    it("on primitives, symbols, functions and null-prototype objects", () => {
      const values: ReadonlyArray<unknown> = [
        null,
        undefined,
        0,
        Number.NaN,
        12n,
        Symbol("s"),
        true,
        "",
        () => 1,
        Object.create(null),
        Object.assign(Object.create(null), { name: 42, message: { toString: () => "x" } })
      ]
      for (const value of values) isValid(ErrorCategorizer.categorize(value))
    })

    it("on Error subclasses with odd fields", () => {
      class Weird extends Error {
        override get name(): string {
          throw new Error("no name")
        }
      }
      const withBadMetadata = Object.assign(new RangeError("r"), {
        $metadata: { httpStatusCode: "503", requestId: 7 },
        code: 12
      })
      expectCategory(ErrorCategorizer.categorize(new Weird("w")), "UNKNOWN")
      expectCategory(ErrorCategorizer.categorize(withBadMetadata), "UNKNOWN", { httpStatus: null, requestId: null })
    })
  })

  describe("through the real SDK client", () => {
    const withServer = async (
      respond: (res: http.ServerResponse) => void,
      body: (client: Runtime.BedrockRuntimeClient) => Promise<void>
    ) => {
      const server = http.createServer((req, res) => {
        req.resume()
        req.on("end", () => respond(res))
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const { port } = server.address() as net.AddressInfo
      const client = new Runtime.BedrockRuntimeClient({
        region: "us-east-1",
        endpoint: `http://127.0.0.1:${port}`,
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "test-secret" },
        requestHandler: new NodeHttpHandler(),
        maxAttempts: 1
      })
      try {
        await body(client)
      } finally {
        client.destroy()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      }
    }

    const converse = (client: Runtime.BedrockRuntimeClient) =>
      client.send(
        new Runtime.ConverseCommand({
          modelId: "anthropic.claude-3-5-sonnet-20241022-v2:0",
          messages: [{ role: "user", content: [{ text: "hi" }] }]
        })
      ).then(() => new Error("unexpectedly succeeded"), (e: unknown) => e)

    const cases: ReadonlyArray<
      readonly [string, number, Record<string, string>, string, Category, string | null]
    > = [
      [
        "modeled ValidationException with the U+2019 on-demand message",
        400,
        { "x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/" },
        JSON.stringify({
          message:
            "Invocation of model ID anthropic.claude-3-5-sonnet-20241022-v2:0 with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        }),
        "REQUIRES_INFERENCE_PROFILE",
        "ValidationException"
      ],
      [
        "unmodeled UnrecognizedClientException",
        403,
        { "x-amzn-ErrorType": "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral/" },
        JSON.stringify({ message: "The security token included in the request is invalid." }),
        "CREDENTIALS",
        "UnrecognizedClientException"
      ],
      [
        "unknown error type with 429",
        429,
        { "x-amzn-ErrorType": "BrandNewThrottle" },
        JSON.stringify({ message: "slow down" }),
        "THROTTLED",
        "BrandNewThrottle"
      ],
      [
        "HTML 503 page",
        503,
        { "content-type": "text/html" },
        "<html><body>503 Service Temporarily Unavailable</body></html>",
        "SERVICE_UNAVAILABLE",
        null
      ]
    ]
    for (const [label, status, headers, payload, category, awsName] of cases) {
      it(`${label} is ${category} with the response's status and request id`, async () => {
        const requestId = nextRequestId()
        await withServer(
          (res) => {
            res.writeHead(status, { "content-type": "application/json", ...headers, "x-amzn-RequestId": requestId })
            res.end(payload)
          },
          async (client) => {
            const result = ErrorCategorizer.categorize(await converse(client))
            expectCategory(result, category, {
              httpStatus: status,
              requestId,
              ...(awsName === null ? {} : { awsErrorName: awsName })
            })
          }
        )
      })
    }
  })
})

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
