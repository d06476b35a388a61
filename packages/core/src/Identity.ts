/**
 * Who the caller is: STS `GetCallerIdentity` with the Bedrock runtime's own settings (endpoint
 * override, credentials, region), for the capability manifest's `account` (issue #18).
 *
 * The STS client is loaded and built only when the identity is asked for (once per manifest), and
 * destroyed after the call. {@link callerAccount} never fails: no credentials, an invalid or expired
 * token, an unreachable endpoint (a VPC endpoint that only serves Bedrock) or a timeout give `null`
 * and a logged warning naming the category and AWS's message (redacted; credentials never logged).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as BedrockRuntime from "./BedrockRuntime.ts"
import { CategorizedError } from "./Domain.ts"
import { categorize, redact } from "./ErrorCategorizer.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import * as RegionClients from "./internal/regionClients.ts"
import type { Region } from "./Region.ts"

/** What STS says about the caller. */
export interface CallerIdentity {
  /** The 12-digit AWS account id. */
  readonly account: string
  readonly arn: string
  readonly userId: string
}

/** `GetCallerIdentity` failed, classified. Never holds credentials. */
export class IdentityError extends Schema.TaggedError<IdentityError>("@myia/certification/IdentityError")(
  "IdentityError",
  { region: Schema.String, error: CategorizedError }
) {
  override get message(): string {
    return `GetCallerIdentity in ${this.region}: ${this.error.category}: ${this.error.message}`
  }
}

/** Where and as whom to ask: the Bedrock runtime's options plus the region to ask in. */
export interface Options {
  /** The STS region (e.g. the job's first region). */
  readonly region: string
  /** The Bedrock endpoint override (an emulator answers STS too), one URL or one per region. */
  readonly endpoint?: BedrockRuntime.Options["endpoint"]
  /** Explicit credentials; default: the AWS default provider chain. Never logged. */
  readonly credentials?: BedrockRuntime.Credentials | undefined
  /** Bound on the whole call (default 10 seconds). */
  readonly timeout?: Duration.Input | undefined
}

/** The default bound on the call. */
export const defaultTimeout: Duration.Duration = Duration.seconds(10)

/** The part of `GetCallerIdentityResponse` the manifest relies on, decoded at the edge. */
const Answer = Schema.Struct({
  Account: Schema.String.check(Schema.isPattern(/^\d{12}$/)),
  Arn: Schema.optional(Schema.String),
  UserId: Schema.optional(Schema.String)
})
const decodeAnswer = Schema.decodeUnknownEffect(Answer)

const fail = (region: string, cause: unknown) => {
  const categorized = categorize(cause)
  const error = new CategorizedError({ ...categorized, message: redact(categorized.message) })
  return new IdentityError({ region, error })
}

/** Load the STS client module (once per process, by Node), build a client, ask, destroy the client. */
const ask = (options: Options) =>
  Effect.gen(function*() {
    const sts = yield* Effect.tryPromise({
      try: () => import("@aws-sdk/client-sts"),
      catch: (cause) => fail(options.region, cause)
    })
    const endpoint = RegionClients.endpointFor(options.endpoint, options.region as Region)
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new sts.STSClient({
          region: options.region,
          maxAttempts: 1,
          ...(endpoint !== undefined ? { endpoint } : {}),
          ...(options.credentials !== undefined ? { credentials: options.credentials as never } : {})
        })
      ),
      (client) => Effect.sync(() => client.destroy())
    )
    const output = yield* Effect.tryPromise({
      try: (abortSignal) => client.send(new sts.GetCallerIdentityCommand({}), { abortSignal }),
      catch: (cause) => fail(options.region, cause)
    })
    const answer = yield* decodeAnswer(output).pipe(
      Effect.mapError(() =>
        fail(
          options.region,
          new Error(`GetCallerIdentity answered no 12-digit Account (got ${JSON.stringify(output.Account ?? null)})`)
        )
      )
    )
    return { account: answer.Account, arn: answer.Arn ?? "", userId: answer.UserId ?? "" } satisfies CallerIdentity
  }).pipe(Effect.scoped)

/** STS `GetCallerIdentity`, bounded by the timeout. */
export const callerIdentity = Effect.fn("Identity.callerIdentity")(function*(options: Options) {
  yield* Effect.annotateCurrentSpan({ "aws.region": options.region, "aws.operation": "GetCallerIdentity" })
  const timeout = options.timeout ?? defaultTimeout
  return yield* ask(options).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new IdentityError({
            region: options.region,
            error: ErrorCategory.make("TIMEOUT", {
              message: `GetCallerIdentity did not complete within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
            })
          })
        )
    })
  )
})

/** The caller's account id, or `null` (with a logged warning) when STS cannot say. Never fails. */
export const callerAccount = (options: Options): Effect.Effect<string | null> =>
  callerIdentity(options).pipe(
    Effect.map((identity): string | null => identity.account),
    Effect.catch((error) =>
      Effect.as(Effect.logWarning(`manifest account unknown: ${error.message}`), null)
    )
  )
