/**
 * The Bedrock Runtime API as an Effect service: `converse`, `converseStream` (an Effect `Stream`) and
 * `invokeModel`, one `@aws-sdk/client-bedrock-runtime` client per region.
 *
 * The SDK's own retries are off (`maxAttempts: 1`): the runner owns retries, so it can tell a throttle
 * from a broken model and back off per region. Every failure — SDK exception, network, deserialisation,
 * per-call timeout — surfaces as one `BedrockError` carrying a `CategorizedError`. Interrupting a call
 * aborts its HTTP request (the AbortSignal reaches the SDK's request handler), so a cancelled unit does
 * not leave requests running. Credentials come from the AWS default provider chain or are given
 * explicitly; they never appear in errors, spans or logs.
 *
 * @since 0.1.0
 */
import {
  BedrockRuntimeClient,
  type BedrockRuntimeClientConfig,
  ConverseCommand,
  type ConverseCommandInput,
  type ConverseCommandOutput,
  ConverseStreamCommand,
  type ConverseStreamCommandInput,
  type ConverseStreamOutput,
  InvokeModelCommand
} from "@aws-sdk/client-bedrock-runtime"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { CategorizedError } from "./Domain.ts"
import { categorize } from "./ErrorCategorizer.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import * as RegionClients from "./internal/regionClients.ts"
import * as Metrics from "./Metrics.ts"
import { Region } from "./Region.ts"

/** The Bedrock Runtime operations this service calls. */
export const Operation = Schema.Literals(["Converse", "ConverseStream", "InvokeModel"])
export type Operation = typeof Operation.Type

/**
 * Any failure of a Bedrock call, classified. `error.retryable` (also `isRetryable`) says whether the
 * runner may retry; `error.category` decides the verdict. Never holds credentials.
 */
export class BedrockError extends Schema.TaggedError<BedrockError>("@myia/certification/BedrockError")("BedrockError", {
  operation: Operation,
  region: Region,
  /** The invocation target called (base id, profile id or ARN). */
  modelId: Schema.String,
  error: CategorizedError
}) {
  /** Whether retrying the same call later can succeed. */
  get isRetryable(): boolean {
    return this.error.retryable
  }

  override get message(): string {
    return `${this.operation} ${this.modelId} in ${this.region}: ${this.error.category}: ${this.error.message}`
  }
}

/** Static credentials or a provider function, as the AWS SDK accepts them. */
export type Credentials = NonNullable<BedrockRuntimeClientConfig["credentials"]>

/** Options of one call. */
export interface CallOptions {
  /** Overrides the configured per-call timeout; a timeout fails with category TIMEOUT. */
  readonly timeout?: Duration.Input | undefined
}

/** The input of `invokeModel`: the body is any JSON value, serialised for the wire. */
export interface InvokeModelInput {
  readonly modelId: string
  readonly body: unknown
  /** Default `application/json`. */
  readonly contentType?: string | undefined
  /** Default `application/json`. */
  readonly accept?: string | undefined
}

/** The parsed result of `invokeModel`. */
export interface InvokeModelOutput {
  readonly body: unknown
  readonly contentType: string | undefined
  readonly requestId: string | undefined
}

/** How the service builds its clients. */
export interface Options {
  /** Endpoint override (emulator, VPC endpoint, tests): one URL, or one per region. */
  readonly endpoint?: string | ((region: Region) => string) | undefined
  /** Explicit credentials; default: the AWS default provider chain. Never logged. */
  readonly credentials?: Credentials | undefined
  /** Default per-call timeout (60 seconds). */
  readonly timeout?: Duration.Input | undefined
  /** `http2` is the SDK's own default handler; `http1` uses `NodeHttpHandler`. */
  readonly requestHandler?: "http2" | "http1" | undefined
}

/** The Bedrock Runtime service: one lazily created SDK client per region, no SDK retries. */
export class BedrockRuntime extends Context.Service<BedrockRuntime, {
  /** Calls Converse; the input's `modelId` is the invocation target id. */
  readonly converse: (
    region: Region,
    input: ConverseCommandInput,
    options?: CallOptions
  ) => Effect.Effect<ConverseCommandOutput, BedrockError>
  /**
   * Calls ConverseStream and emits the SDK's events. A mid-stream exception fails the stream with a
   * `BedrockError`; interrupting the consumer aborts the HTTP request. The timeout bounds the whole stream.
   */
  readonly converseStream: (
    region: Region,
    input: ConverseStreamCommandInput,
    options?: CallOptions
  ) => Stream.Stream<ConverseStreamOutput, BedrockError>
  /** Calls InvokeModel with a JSON body and parses the JSON answer. */
  readonly invokeModel: (
    region: Region,
    input: InvokeModelInput,
    options?: CallOptions
  ) => Effect.Effect<InvokeModelOutput, BedrockError>
}>()("@myia/certification/BedrockRuntime") {}

/** The default per-call timeout. */
export const defaultTimeout: Duration.Duration = Duration.seconds(60)

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Unknown))
const encoder = new TextEncoder()
const decoder = new TextDecoder()

// What a span says about a call: never credentials, never the payload.
const spanAttributes = (operation: Operation, region: Region, modelId: string | undefined) => ({
  "bedrock.operation": operation,
  "bedrock.region": region,
  "bedrock.model_id": modelId,
  // Issue 18: the id the call was sent to (a model id or an inference profile).
  "bedrock.invocation_target": modelId
})

// Access-key ids have a well-known shape; scrub them from any message even when we never saw them.
const accessKeyPattern = /\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b/g

/** Bedrock failures as `BedrockError`s: categorized, scrubbed of secrets, and the call timeout. */
const callErrors = (redact: (text: string) => string, defaultCallTimeout: Duration.Input) => {
  const toError = (operation: Operation, region: Region, modelId: string | undefined) => (cause: unknown) => {
    const categorized = categorize(cause)
    return new BedrockError({
      operation,
      region,
      modelId: modelId ?? "",
      error: new CategorizedError({ ...categorized, message: redact(categorized.message) })
    })
  }

  const timeoutError = (operation: Operation, region: Region, modelId: string | undefined, timeout: Duration.Input) =>
    new BedrockError({
      operation,
      region,
      modelId: modelId ?? "",
      error: ErrorCategory.make("TIMEOUT", {
        message: `${operation} did not complete within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
      })
    })

  const withTimeout = <A>(
    effect: Effect.Effect<A, BedrockError>,
    operation: Operation,
    region: Region,
    modelId: string | undefined,
    options: CallOptions | undefined
  ): Effect.Effect<A, BedrockError> => {
    const timeout = options?.timeout ?? defaultCallTimeout
    return Effect.timeoutOrElse(effect, {
      duration: timeout,
      orElse: () => Effect.fail(timeoutError(operation, region, modelId, timeout))
    })
  }

  return { toError, timeoutError, withTimeout }
}

const annotate = (operation: Operation, region: Region, modelId: string | undefined) =>
  Effect.annotateCurrentSpan(spanAttributes(operation, region, modelId))

// Issue 18: every call's duration, outcome and throughput go to the Bedrock metrics.
const outcomeOf = (exit: Exit.Exit<unknown, BedrockError>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  return failure === undefined ? "interrupted" : failure.error.error.category
}

/** The outcome on the call's span: its error category, and whether it was throttled. */
const annotateOutcome = (exit: Exit.Exit<unknown, BedrockError>) => {
  const outcome = outcomeOf(exit)
  return outcome === "success"
    ? Effect.annotateCurrentSpan({ "bedrock.throttled": false })
    : Effect.annotateCurrentSpan({ "error.category": outcome, "bedrock.throttled": outcome === "THROTTLED" })
}

const measured = <A>(operation: Operation, region: Region, outputTokens: (a: A) => number | undefined) =>
(effect: Effect.Effect<A, BedrockError>): Effect.Effect<A, BedrockError> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) =>
    effect.pipe(Effect.onExit((exit) =>
      Effect.flatMap(Effect.andThen(annotateOutcome(exit), Clock.currentTimeMillis), (end) =>
        Metrics.recordBedrockCall({
          operation,
          region,
          outcome: outcomeOf(exit),
          seconds: (end - start) / 1000,
          outputTokens: Exit.isSuccess(exit) ? outputTokens(exit.value) : undefined
        }))
    )))

/** Builds the service; clients are destroyed when the scope closes. */
export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const defaultCallTimeout = options.timeout ?? defaultTimeout
  // Every secret we have seen, so a message that echoes one is scrubbed before it leaves this module.
  const secrets = new Set<string>()

  const remember = (identity: {
    readonly accessKeyId: string
    readonly secretAccessKey: string
    readonly sessionToken?: string | undefined
  }) => {
    for (const value of [identity.accessKeyId, identity.secretAccessKey, identity.sessionToken]) {
      if (value !== undefined && value.length >= 4) secrets.add(value)
    }
  }

  const given = options.credentials
  if (given !== undefined && typeof given !== "function") remember(given)
  const credentials: Credentials | undefined = typeof given === "function"
    ? (props) =>
      given(props).then((identity) => {
        remember(identity)
        return identity
      })
    : given

  const redact = (text: string): string => {
    let out = text.replace(accessKeyPattern, "[redacted]")
    for (const secret of secrets) out = out.split(secret).join("[redacted]")
    return out
  }

  const clientFor = yield* RegionClients.make((region) => {
    const endpoint = RegionClients.endpointFor(options.endpoint, region)
    return new BedrockRuntimeClient({
      region,
      maxAttempts: 1,
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(credentials !== undefined ? { credentials } : {}),
      ...(options.requestHandler === "http1" ? { requestHandler: new NodeHttpHandler() } : {})
    })
  })

  const { toError, timeoutError, withTimeout } = callErrors(redact, defaultCallTimeout)

  const converse = Effect.fn("BedrockRuntime.converse")(
    function*(region: Region, input: ConverseCommandInput, options?: CallOptions) {
      yield* annotate("Converse", region, input.modelId)
      const client = yield* Effect.sync(() => clientFor(region))
      return yield* withTimeout(
        Effect.tryPromise({
          try: (signal) => client.send(new ConverseCommand(input), { abortSignal: signal }),
          catch: toError("Converse", region, input.modelId)
        }),
        "Converse",
        region,
        input.modelId,
        options
      ).pipe(measured("Converse", region, (output) => output.usage?.outputTokens))
    }
  )

  const converseStream = (
    region: Region,
    input: ConverseStreamCommandInput,
    options?: CallOptions
  ): Stream.Stream<ConverseStreamOutput, BedrockError> => {
    const onError = toError("ConverseStream", region, input.modelId)
    const timeout = options?.timeout ?? defaultCallTimeout
    // Issue 18: timed from the request to the first content delta (TTFT) and to the end of the stream.
    const timing = { start: 0, firstToken: undefined as number | undefined, outputTokens: undefined as number | undefined }
    const observe = (event: ConverseStreamOutput) =>
      event.contentBlockDelta !== undefined && timing.firstToken === undefined
        ? Effect.map(Clock.currentTimeMillis, (now) => {
          timing.firstToken = now
        })
        : event.metadata?.usage?.outputTokens !== undefined
        ? Effect.sync(() => {
          timing.outputTokens = event.metadata?.usage?.outputTokens
        })
        : Effect.void
    const report = (exit: Exit.Exit<unknown, BedrockError>) =>
      Effect.flatMap(Effect.andThen(annotateOutcome(exit), Clock.currentTimeMillis), (end) =>
        Metrics.recordBedrockCall({
          operation: "ConverseStream",
          region,
          outcome: outcomeOf(exit),
          seconds: (end - timing.start) / 1000,
          timeToFirstTokenSeconds: timing.firstToken === undefined ? undefined : (timing.firstToken - timing.start) / 1000,
          outputTokens: Exit.isSuccess(exit) ? timing.outputTokens : undefined
        }))
    return Stream.unwrap(
      Effect.gen(function*() {
        timing.start = yield* Clock.currentTimeMillis
        // The controller outlives `send`: the response body is read while the stream is consumed, and
        // closing the stream's scope (end, failure, interruption) aborts the HTTP request.
        const controller = yield* Effect.acquireRelease(
          Effect.sync(() => new AbortController()),
          (controller) => Effect.sync(() => controller.abort())
        )
        const client = yield* Effect.sync(() => clientFor(region))
        const output = yield* Effect.tryPromise({
          try: () => client.send(new ConverseStreamCommand(input), { abortSignal: controller.signal }),
          catch: onError
        })
        return output.stream === undefined ? Stream.empty : Stream.fromAsyncIterable(output.stream, onError)
      })
    ).pipe(
      Stream.interruptWhen(Effect.flatMap(Effect.sleep(timeout), () =>
        Effect.fail(timeoutError("ConverseStream", region, input.modelId, timeout)))),
      Stream.tap(observe),
      Stream.onExit(report),
      Stream.withSpan("BedrockRuntime.converseStream", {
        attributes: spanAttributes("ConverseStream", region, input.modelId)
      })
    )
  }

  const invokeModel = Effect.fn("BedrockRuntime.invokeModel")(
    function*(region: Region, input: InvokeModelInput, options?: CallOptions) {
      yield* annotate("InvokeModel", region, input.modelId)
      const onError = toError("InvokeModel", region, input.modelId)
      const client = yield* Effect.sync(() => clientFor(region))
      const body = yield* Effect.try({ try: () => encoder.encode(JSON.stringify(input.body)), catch: onError })
      const output = yield* withTimeout(
        Effect.tryPromise({
          try: (signal) =>
            client.send(
              new InvokeModelCommand({
                modelId: input.modelId,
                body,
                contentType: input.contentType ?? "application/json",
                accept: input.accept ?? "application/json"
              }),
              { abortSignal: signal }
            ),
          catch: onError
        }),
        "InvokeModel",
        region,
        input.modelId,
        options
      ).pipe(measured("InvokeModel", region, () => undefined))
      const parsed = yield* decodeJson(output.body === undefined ? "" : decoder.decode(output.body)).pipe(
        Effect.mapError(onError)
      )
      return { body: parsed, contentType: output.contentType, requestId: output.$metadata.requestId }
    }
  )

  return BedrockRuntime.of({ converse, converseStream, invokeModel })
})

/** The service with the given options. */
export const layer = (options: Options = {}): Layer.Layer<BedrockRuntime> => Layer.effect(BedrockRuntime, make(options))

/**
 * The service configured from the environment: `CERTIFICATION_TIMEOUT` (ms, default 60000) and
 * `BEDROCK_ENDPOINT` (optional); credentials from the AWS default provider chain.
 */
export const layerConfig = (
  options: Omit<Options, "timeout" | "endpoint"> = {}
): Layer.Layer<BedrockRuntime, Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const timeoutMs = yield* Config.Int("CERTIFICATION_TIMEOUT").pipe(Config.withDefault(60_000))
      const endpoint = yield* Config.option(Config.String("BEDROCK_ENDPOINT"))
      return layer({ ...options, timeout: Duration.millis(timeoutMs), endpoint: Option.getOrUndefined(endpoint) })
    })
  )
