/**
 * The certification engine a command runs on, from its flags and the environment: Storage (memory,
 * or PostgreSQL at `DATABASE_URL`), Queue (memory with an embedded worker, or BullMQ at `REDIS_URL` /
 * `REDIS_HOST`+`REDIS_PORT` with the workers elsewhere), and Bedrock (the built-in emulator, an
 * endpoint override, or AWS with the default credential chain or a named profile). Everything is
 * the facade's own layer (`CertificationClient.layer`), so the CLI runs the engine a host embeds.
 *
 * @since 0.1.0
 */
import { defaultProvider } from "@aws-sdk/credential-provider-node"
import { CertificationClient, Identity, RedeliveryPolicy } from "@myia/certification"
import type { BedrockRuntime, Certification, Storage } from "@myia/certification"
import { BedrockEmulator, type Scenario } from "@myia/certification/emulator"
import { BullMqQueue } from "@myia/certification-bullmq"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"
import { PgStorage } from "@myia/certification-postgres"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/** Where Bedrock is. */
export type Target =
  | { readonly _tag: "Emulator"; readonly scenario: Scenario.ScenarioInput }
  | { readonly _tag: "Aws"; readonly endpoint: Option.Option<string>; readonly profile: Option.Option<string> }

export interface Settings {
  readonly target: Target
  readonly store: "memory" | "postgres"
  readonly pgSchema: string
  readonly queue: "memory" | "redis"
  readonly concurrency: number
  readonly timeoutMillis: Option.Option<number>
  readonly logLevel: LogLevel.LogLevel
}

/** A running engine. */
export interface Engine {
  readonly layer: Layer.Layer<Certification.Certification, unknown>
  /** The emulator's URL when Bedrock is the built-in emulator. */
  readonly emulatorUrl: Option.Option<string>
  /**
   * The account the capability manifest names (issue #18): STS `GetCallerIdentity` in `region` with
   * Bedrock's endpoint and credentials (the emulator answers it from its scenario); `null` with a
   * warning on stderr when STS cannot say. Called only when a manifest is written.
   */
  readonly account: (region: string) => Effect.Effect<string | null>
}

/** The caller's account, or `null` and one warning line (never the credentials). */
export const callerAccount = (options: Identity.Options): Effect.Effect<string | null> =>
  Identity.callerIdentity(options).pipe(
    Effect.map((identity): string | null => identity.account),
    Effect.catch((error) => Effect.as(Console.error(`warning: the manifest names no account: ${error.message}`), null))
  )

/** The PostgreSQL storage at `DATABASE_URL` in `schema` (migrations run on start). */
export const pgStorage = (schema: string): Layer.Layer<Storage.Storage, unknown> =>
  Layer.unwrap(Effect.map(Config.Redacted("DATABASE_URL"), (url) => PgStorage.layerFromUrl(url, { schema, max: 4 })))

// An in-process run waits out throttling and 5xx quickly: redeliveries from 0.5 s, doubling up to 1 min
// (with Redis, the workers' own policy applies: CERTIFICATION_MAX_RETRIES).
const redelivery: RedeliveryPolicy.Options = {
  maxAttempts: 3,
  backoff: RedeliveryPolicy.exponentialBackoff({ base: "500 millis", max: "1 minute" })
}

/** Start what the settings need (the emulator lives as long as the scope) and wire the engine. */
export const make = Effect.fnUntraced(function*(settings: Settings): Effect.fn.Return<Engine, unknown, Scope.Scope> {
  const emulator = settings.target._tag === "Emulator"
    ? Option.some(yield* BedrockEmulator.make({ port: 0, scenario: settings.target.scenario }))
    : Option.none()
  const timeout = Option.getOrUndefined(Option.map(settings.timeoutMillis, (ms) => `${ms} millis` as const))
  const bedrock: BedrockRuntime.Options = settings.target._tag === "Emulator"
    ? {
      endpoint: Option.getOrThrow(emulator).url,
      // The emulator accepts any key pair; real credentials never leave the AWS default chain.
      credentials: { accessKeyId: "AKIDBEDROCKCERTIFY", secretAccessKey: "emulator" },
      timeout: timeout ?? "10 seconds"
    }
    : {
      endpoint: Option.getOrUndefined(settings.target.endpoint),
      credentials: Option.getOrUndefined(Option.map(settings.target.profile, (profile) => defaultProvider({ profile }))),
      timeout
    }
  const queue = settings.queue === "redis"
    ? BullMqQueue.layerConfig()
    : MemoryQueue.layer({ redelivery })
  const layer = CertificationClient.layer({
    storage: settings.store === "postgres" ? pgStorage(settings.pgSchema) : MemoryStorage.layer,
    queue,
    bedrock,
    // With Redis, workers elsewhere consume the queue; in memory the CLI is the worker.
    worker: settings.queue === "redis" ? false : { concurrency: settings.concurrency },
    // A persistent 5xx trips the region breaker; short open periods keep the wait visible but brief.
    governor: { initial: 6, max: 16, openDuration: "2 seconds", maxOpenDuration: "8 seconds" },
    logLevel: settings.logLevel,
    // Issue #13: preflight through the control plane (the emulator's, or AWS's with the same credentials).
    controlPlane: {}
  })
  return {
    layer,
    emulatorUrl: Option.map(emulator, (e) => e.url),
    account: (region) => callerAccount({ region, endpoint: bedrock.endpoint, credentials: bedrock.credentials })
  }
})

/** Storage only (status, history, export): the service without a worker on a memory queue. */
export const queryLayer = (pgSchema: string, logLevel: LogLevel.LogLevel) =>
  CertificationClient.layer({ storage: pgStorage(pgSchema), queue: MemoryQueue.layer(), worker: false, logLevel })
