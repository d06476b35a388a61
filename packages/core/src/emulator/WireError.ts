/**
 * Bedrock's errors as the emulator puts them on the wire: the HTTP status, the `x-amzn-ErrorType`
 * name and the body message, with Bedrock's own wording (from the reference error catalogue), plus
 * the bodies of the mid-stream exception frames. The handlers pick errors from these tables; the
 * AWS SDK turns them back into its modeled exception classes.
 *
 * @since 0.1.0
 */
import * as EventStream from "./EventStream.ts"
import type { Availability, ScriptedError, StreamException } from "./Scenario.ts"

/** An error as Bedrock sends it: status, `x-amzn-ErrorType` name, body message (and extra members). */
export interface WireError {
  readonly status: number
  readonly name: string
  readonly message: string
  readonly extra?: Readonly<Record<string, unknown>> | undefined
}

/** A wire error from its three parts. */
export const wire = (status: number, name: string, message: string): WireError => ({ status, name, message })

/** Bedrock's own messages, verbatim (see the reference error catalogue). */
export const messages = {
  invalidModel: "The provided model identifier is invalid.",
  accessDenied: "You don't have access to the model with the specified model ID.",
  marketplace:
    "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon Bedrock documentation for further details. Your AWS Marketplace subscription for this model cannot be completed at this time. If you recently fixed this issue, try again after 5 minutes.",
  profileOnly: (modelId: string) =>
    `Invocation of model ID ${modelId} with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`,
  legacy:
    "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 30 days. Please upgrade to an active model on Amazon Bedrock",
  eol: "This model version has reached the end of its life. Please refer to the AWS documentation for more details.",
  throttled: "Too many requests, please wait before trying again.",
  internal: "The system encountered an unexpected error during processing. Try your request again.",
  unavailable: "Bedrock is unable to process your request.",
  streamError: "An error occurred while streaming the response. Retry your request.",
  notChatModel: "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
  invalidToken: "The security token included in the request is invalid.",
  expiredToken: "The security token included in the request is expired",
  missingToken: "Missing Authentication Token",
  userFirst:
    "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
  alternate:
    "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
  blankText: (at: string) =>
    `The text field in the ContentBlock object at ${at} is blank. Add text to the text field, and try again.`,
  toolConfigRequired: "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
  toolResultMixed: (at: string) =>
    `${at}: Conversation blocks and tool result blocks cannot be provided in the same turn.`,
  maxTokensExceeded: (limit: number) =>
    `The maximum tokens you requested exceeds the model limit of ${limit}. ` +
    `Try again with a maximum tokens value that is lower than ${limit}.`,
  unsupportedStreaming: "The model is unsupported for streaming.",
  // The next two are the service model's documentation of the exceptions; the runtime wording was not captured.
  modelTimeout: "The request took too long to process. Processing time exceeded the model timeout length.",
  modelNotReady: "The model specified in the request is not ready to serve inference requests."
} as const

/** The error each non-offered availability answers with. */
export const availabilityErrors: Record<Exclude<Availability, "offered">, (modelId: string) => WireError> = {
  "not-offered": () => wire(400, "ValidationException", messages.invalidModel),
  "access-denied": () => wire(403, "AccessDeniedException", messages.accessDenied),
  "marketplace-pending": () => wire(403, "AccessDeniedException", messages.marketplace),
  "profile-only": (modelId) => wire(400, "ValidationException", messages.profileOnly(modelId)),
  legacy: () => wire(404, "ResourceNotFoundException", messages.legacy),
  eol: () => wire(404, "ResourceNotFoundException", messages.eol)
}

/** Access keys that trigger credential errors: a key id containing the marker gets the error. */
export const credentialErrors: ReadonlyArray<{ readonly marker: string; readonly error: WireError }> = [
  { marker: "INVALID", error: wire(403, "UnrecognizedClientException", messages.invalidToken) },
  { marker: "EXPIRED", error: wire(403, "ExpiredTokenException", messages.expiredToken) }
]

/** The error of a request without any `Authorization` header. */
export const missingToken: WireError = wire(403, "MissingAuthenticationTokenException", messages.missingToken)

/** The error of a path no operation serves. */
export const unknownOperation: WireError = wire(404, "UnknownOperationException", "Unknown operation")

/** The ModelTimeoutException (408) of the `modelTimeout` knob. */
export const modelTimeout: WireError = wire(408, "ModelTimeoutException", messages.modelTimeout)

/** The ModelNotReadyException (429, retryable by the SDK's own policy) of the `modelNotReady` knob. */
export const modelNotReady: WireError = wire(429, "ModelNotReadyException", messages.modelNotReady)

/**
 * A body member of the wrong JSON type. AWS's JSON protocols answer a `SerializationException`; its
 * wording for Bedrock was not captured, so the message only names the place and the expected type.
 */
export const serialization = (path: string, expected: string): WireError =>
  wire(
    400,
    "SerializationException",
    `Cannot read ${path === "" ? "the request body" : `'${path}'`}: expected ${expected}.`
  )

/** The ThrottlingException of an empty token bucket. */
export const throttled: WireError = wire(429, "ThrottlingException", messages.throttled)

/** The two 5xx answers of `errorRate5xx`, half each. */
export const serverErrors: readonly [WireError, WireError] = [
  wire(500, "InternalServerException", messages.internal),
  wire(503, "ServiceUnavailableException", messages.unavailable)
]

/** The 500 of a request the emulator itself failed on. */
export const internalError = (cause: unknown): WireError =>
  wire(500, "InternalServerException", `${messages.internal} (${String(cause)})`)

/** A scripted error as an HTTP error. */
export const scripted = (error: ScriptedError): WireError => wire(error.status, error.name, error.message)

/** A scripted error as a mid-stream exception frame: `:exception-type` is its name in lowerCamel case. */
export const scriptedFrame = (error: ScriptedError): Uint8Array =>
  EventStream.exception(error.name.charAt(0).toLowerCase() + error.name.slice(1), { message: error.message })

/** The body of each mid-stream exception type. */
export const streamExceptions: Record<StreamException, Readonly<Record<string, unknown>>> = {
  modelStreamErrorException: {
    message: messages.streamError,
    originalStatusCode: 500,
    originalMessage: "stream interrupted"
  },
  throttlingException: { message: messages.throttled },
  internalServerException: { message: messages.internal },
  serviceUnavailableException: { message: messages.unavailable },
  validationException: { message: "The model returned the following errors: the stream was interrupted" },
  modelTimeoutException: { message: messages.modelTimeout }
}
