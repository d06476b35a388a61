/**
 * The typed client of the certification API (`@myia/certification-http/client`), for frontends and
 * scripts: Effect's own `HttpApiClient` over `CertificationApi`, with the success envelope unwrapped
 * (a method answers the `data`) and every error answer turned into one tagged error per error code
 * (`JobNotFound`, `ValidationFailed`, `Unauthorized`, …) that `Effect.catchTag` tells apart. `make`
 * is the Effect client; `makePromise` wraps it for code that does not use Effect, rejecting with the
 * same error instances (`error._tag`, `instanceof`). Client-safe: no server code, no Node built-ins.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Types from "effect/Types"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import type * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import type * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as Api from "./Api.ts"

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** What every error answer carries: the HTTP status, the envelope's code and message, and its details. */
const errorFields = {
  status: Schema.Number,
  code: Schema.String,
  message: Schema.String,
  details: Schema.optionalKey(Schema.Unknown)
}

/** 400: a field of the request is wrong (`details.issues[{field, message}]`), or the request is malformed. */
export class ValidationFailed extends Schema.TaggedError<ValidationFailed>("@myia/certification-http/ValidationFailed")(
  "ValidationFailed",
  errorFields
) {}
/** 400: models that cannot be certified where asked (`details.models[{modelId, region, reason, message}]`). */
export class ModelsNotCertifiable
  extends Schema.TaggedError<ModelsNotCertifiable>("@myia/certification-http/ModelsNotCertifiable")(
    "ModelsNotCertifiable",
    errorFields
  )
{}
/** 401: no valid credentials. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("@myia/certification-http/Unauthorized")(
  "Unauthorized",
  errorFields
) {}
/** 403: the principal lacks the permission. */
export class Forbidden extends Schema.TaggedError<Forbidden>("@myia/certification-http/Forbidden")(
  "Forbidden",
  errorFields
) {}
/** 404: no job with this id (`details.jobId`). */
export class JobNotFound extends Schema.TaggedError<JobNotFound>("@myia/certification-http/JobNotFound")(
  "JobNotFound",
  errorFields
) {}
/** 404: no such endpoint (a base URL that does not point at the API). */
export class NotFound extends Schema.TaggedError<NotFound>("@myia/certification-http/NotFound")(
  "NotFound",
  errorFields
) {}
/** 409: the job's state does not allow the operation (cancel a finished job, retry with nothing to retry). */
export class JobConflict extends Schema.TaggedError<JobConflict>("@myia/certification-http/JobConflict")(
  "JobConflict",
  errorFields
) {}
/** 409: the `Idempotency-Key` was used before with another request. */
export class IdempotencyConflict
  extends Schema.TaggedError<IdempotencyConflict>("@myia/certification-http/IdempotencyConflict")(
    "IdempotencyConflict",
    errorFields
  )
{}
/** 413: the request body is over the server's limit. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>("@myia/certification-http/PayloadTooLarge")(
  "PayloadTooLarge",
  errorFields
) {}
/** 503: storage or queue unavailable; retry later. */
export class ServiceUnavailable
  extends Schema.TaggedError<ServiceUnavailable>("@myia/certification-http/ServiceUnavailable")(
    "ServiceUnavailable",
    errorFields
  )
{}
/** Any other answer: an error code this client does not know, or a body that is not the API's envelope. */
export class UnexpectedResponse
  extends Schema.TaggedError<UnexpectedResponse>("@myia/certification-http/UnexpectedResponse")(
    "UnexpectedResponse",
    errorFields
  )
{}
/** The request never got an answer (network, DNS, connection refused, aborted): `status` 0, code `REQUEST_FAILED`. */
export class RequestFailed extends Schema.TaggedError<RequestFailed>("@myia/certification-http/RequestFailed")(
  "RequestFailed",
  { ...errorFields, cause: Schema.optionalKey(Schema.Defect()) }
) {}

/** Every error a client call can fail with. */
export type ClientError =
  | ValidationFailed
  | ModelsNotCertifiable
  | Unauthorized
  | Forbidden
  | JobNotFound
  | NotFound
  | JobConflict
  | IdempotencyConflict
  | PayloadTooLarge
  | ServiceUnavailable
  | UnexpectedResponse
  | RequestFailed

type AnswerError = Exclude<ClientError, RequestFailed>
type AnswerErrorClass = new(fields: typeof AnswerFields.Type) => AnswerError
const AnswerFields = Schema.Struct(errorFields)

/** The envelope's error code → the tagged error (every code the server answers with; README "Responses"). */
export const errorsByCode: Readonly<Record<string, AnswerErrorClass>> = {
  VALIDATION_ERROR: ValidationFailed,
  MALFORMED_JSON: ValidationFailed,
  MALFORMED_REQUEST: ValidationFailed,
  INVALID_PATH: ValidationFailed,
  MISSING_HOST: ValidationFailed,
  URI_TOO_LONG: ValidationFailed,
  UNSUPPORTED_MEDIA_TYPE: ValidationFailed,
  HEADERS_TOO_LARGE: ValidationFailed,
  METHOD_NOT_ALLOWED: ValidationFailed,
  MODELS_NOT_CERTIFIABLE: ModelsNotCertifiable,
  UNAUTHORIZED: Unauthorized,
  FORBIDDEN: Forbidden,
  JOB_NOT_FOUND: JobNotFound,
  NOT_FOUND: NotFound,
  JOB_CONFLICT: JobConflict,
  IDEMPOTENCY_CONFLICT: IdempotencyConflict,
  PAYLOAD_TOO_LARGE: PayloadTooLarge,
  SERVICE_UNAVAILABLE: ServiceUnavailable
}

const ErrorEnvelope = Schema.Struct({ status: Schema.Literal("error"), error: Api.ErrorBody })
const isErrorEnvelope = Schema.is(ErrorEnvelope)

/** The tagged error of an error envelope answered with `status`. */
export const fromEnvelope = (status: number, body: unknown): AnswerError => {
  if (!isErrorEnvelope(body)) {
    return new UnexpectedResponse({ status, code: "UNEXPECTED_RESPONSE", message: `unexpected ${status} answer` })
  }
  const { code, message, details } = body.error
  const ErrorClass = errorsByCode[code] ?? UnexpectedResponse
  return new ErrorClass({ status, code, message, ...(details === undefined ? {} : { details }) })
}

/** The status of a declared API error (the client decodes error answers into `Api`'s classes, by status). */
const statusOfApiError = (error: unknown): number | undefined => {
  for (const [status, ErrorClass] of Object.entries(Api.errorsByStatus)) {
    if (error instanceof ErrorClass) return Number(status)
  }
  return undefined
}

/** A failure of Effect's client (a declared error, an undeclared status, a transport or decode failure) → a `ClientError`. */
const toClientError = (error: unknown): Effect.Effect<never, ClientError> => {
  if (HttpClientError.isHttpClientError(error)) {
    const response = error.response
    if (response === undefined) {
      return Effect.fail(new RequestFailed({ status: 0, code: "REQUEST_FAILED", message: error.message, cause: error }))
    }
    return response.json.pipe(
      Effect.orElseSucceed(() => undefined),
      Effect.flatMap((body) => Effect.fail(fromEnvelope(response.status, body)))
    )
  }
  const status = statusOfApiError(error)
  if (status !== undefined && Predicate.hasProperty(error, "error")) {
    return Effect.fail(fromEnvelope(status, { status: "error", error: error.error }))
  }
  const message = Predicate.hasProperty(error, "message") ? String(error.message) : "the answer could not be read"
  return Effect.fail(new UnexpectedResponse({ status: 0, code: "UNEXPECTED_RESPONSE", message }))
}

// ---------------------------------------------------------------------------------------------
// Client types
// ---------------------------------------------------------------------------------------------

type Groups = typeof Api.CertificationApi extends HttpApi.HttpApi<infer _Id, infer G> ? G : never

/**
 * A success envelope → its `data`; the SSE stream without heartbeats and with `ClientError`
 * failures; `/metrics` text as it is.
 */
type Unwrap<A> = A extends { readonly status: "success"; readonly data: infer D } ? D
  : A extends Stream.Stream<infer V, infer _E, infer _R> ? Stream.Stream<Exclude<V, { readonly event: "heartbeat" }>, ClientError>
  : A

/** Parts of a request whose fields are all optional (`headers`, `query`) may be left out. */
type Loosen<R> = Types.Simplify<
  & { readonly [K in keyof R as {} extends R[K] ? K : never]?: R[K] }
  & { readonly [K in keyof R as {} extends R[K] ? never : K]: R[K] }
>

/** The request of an endpoint (params, query, payload, headers), as Effect's client takes it. */
export type Request<E extends HttpApiEndpoint.ConstraintRequest> = Loosen<
  HttpApiEndpoint.ClientRequest<E["~Params"], E["~Query"], E["~Payload"], E["~Headers"], "decoded-only", never>
>

/** A method's argument: optional when every part of its request is. */
type Args<Q> = {} extends Q ? [request?: Q] : [request: Q]

type Success<E extends HttpApiEndpoint.ConstraintRequest> = Unwrap<HttpApiClient.SuccessType<E["~Success"]>>

type EndpointsOf<G extends HttpApiGroup.Constraint> = G["endpoints"] extends
  infer Endpoints extends Readonly<Record<string, HttpApiEndpoint.ConstraintRequest>> ? Endpoints : never

/** The Effect client: one method per endpoint, grouped like the API (`client.jobs.getJob({ params })`). */
export type Client = {
  readonly [G in Groups as HttpApiGroup.Identifier<G>]: {
    readonly [K in keyof EndpointsOf<G>]: (
      ...args: Args<Request<EndpointsOf<G>[K]>>
    ) => Effect.Effect<Success<EndpointsOf<G>[K]>, ClientError>
  }
}

/** A stream of SSE events, for Promise users: an async iterable. */
type Promised<A> = A extends Stream.Stream<infer V, infer _E, infer _R> ? AsyncIterable<V> : A

/** The Promise client: the same methods, resolving with the data and rejecting with a `ClientError`. */
export type PromiseClient = {
  readonly [G in keyof Client]: {
    readonly [K in keyof Client[G]]: Client[G][K] extends (...args: infer Q) => Effect.Effect<infer A, infer _E>
      ? (...args: Q) => Promise<Promised<A>>
      : never
  }
}

/** Where the API is and how to call it. */
export interface Options {
  /** The API's URL including the host's base path, e.g. `https://myia.example/api/certification-queue`. */
  readonly baseUrl: string | URL
  /** A bearer token sent as `Authorization: Bearer …` on every call. */
  readonly token?: string | undefined
  /** Headers sent on every call (cookies, tenant ids…). */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

const withOptions = (options: Options) => (client: HttpClient.HttpClient): HttpClient.HttpClient =>
  HttpClient.mapRequest(client, (request) => {
    const withHeaders = options.headers === undefined ? request : HttpClientRequest.setHeaders(request, options.headers)
    return options.token === undefined ? withHeaders : HttpClientRequest.bearerToken(withHeaders, options.token)
  })

const unwrap = (answer: unknown): unknown =>
  Stream.isStream(answer)
    ? answer.pipe(
      Stream.filter((event) => !Predicate.hasProperty(event, "event") || event.event !== "heartbeat"),
      Stream.catch((error) => Stream.fromEffect(toClientError(error)))
    )
    : Predicate.hasProperty(answer, "status") && answer.status === "success" && Predicate.hasProperty(answer, "data")
    ? answer.data
    : answer

/**
 * The Effect client over the `HttpClient` in context (`FetchHttpClient.layer` in browsers and Node).
 * Each method answers the envelope's `data` and fails with a `ClientError`.
 */
export const make = (options: Options): Effect.Effect<Client, never, HttpClient.HttpClient> =>
  Effect.map(
    HttpApiClient.make(Api.CertificationApi, { baseUrl: options.baseUrl, transformClient: withOptions(options) }),
    (raw) => {
      const client: Record<string, Record<string, unknown>> = {}
      for (const [group, methods] of Object.entries(raw as Record<string, Record<string, Function>>)) {
        client[group] = {}
        for (const [name, method] of Object.entries(methods)) {
          // Effect's client wants every part it declares; the parts left out here are empty.
          client[group][name] = (request?: Record<string, unknown>) =>
            (method({ headers: {}, query: {}, ...request }) as Effect.Effect<unknown, unknown>).pipe(
              Effect.map(unwrap),
              Effect.catch(toClientError)
            )
        }
      }
      return client as unknown as Client
    }
  )

const failureOf = (cause: Cause.Cause<unknown>): unknown => {
  const failure = cause.reasons.find(Cause.isFailReason)
  return failure === undefined ? Cause.squash(cause) : failure.error
}

const runPromise = <A>(effect: Effect.Effect<A, unknown>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw failureOf(exit.cause)
  })

/**
 * The Promise client, over the global `fetch`: the same methods as {@link make}, resolving with the
 * data and rejecting with the `ClientError` instance (`error._tag === "JobNotFound"`,
 * `error instanceof JobNotFound`). The SSE endpoint resolves with an async iterable of events.
 */
export const makePromise = (options: Options): PromiseClient => {
  const client = Effect.runSync(make(options).pipe(Effect.provide(FetchHttpClient.layer)))
  const out: Record<string, Record<string, unknown>> = {}
  for (const [group, methods] of Object.entries(client as Record<string, Record<string, Function>>)) {
    out[group] = {}
    for (const [name, method] of Object.entries(methods)) {
      out[group][name] = (request?: unknown) =>
        runPromise(
          (method(request) as Effect.Effect<unknown, unknown>).pipe(
            Effect.map((answer) => Stream.isStream(answer) ? Stream.toAsyncIterable(answer as Stream.Stream<unknown, unknown>) : answer)
          )
        )
    }
  }
  return out as unknown as PromiseClient
}
