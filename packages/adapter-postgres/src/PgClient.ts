/**
 * postgres.js wrapped in Effect: the `PgClient` service holds one `Sql` pool and runs queries as
 * effects whose failures are the Storage port's `StorageError`.
 *
 * The host either hands us its own postgres.js instance (we never close it) or a URL (we create the
 * pool and close it with the layer). Driver failures are classified by SQLSTATE class or Node error
 * code through one table (`errorCodes`), so callers can tell a retryable outage or conflict from bad
 * data.
 *
 * @since 0.1.0
 */
import { Storage } from "@myia/certification"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import postgres from "postgres"

// ---------------------------------------------------------------------------------------------
// Error classification
// ---------------------------------------------------------------------------------------------

/** The `reason` tags of `StorageError`. */
export type ReasonTag = "StorageUnavailable" | "StorageConflict" | "StorageInvalid" | "StorageUnknown"

/**
 * Driver error code → reason. Keys are exact SQLSTATEs, two-character SQLSTATE classes, or the
 * error codes of Node sockets and postgres.js connections. Exact codes win over classes; anything
 * missing is `StorageUnknown`.
 */
export const errorCodes: Readonly<Record<string, ReasonTag>> = {
  // Class 08: connection exception.
  "08": "StorageUnavailable",
  // The server is shutting down, crashed or is starting: the connection will come back.
  "57P01": "StorageUnavailable",
  "57P02": "StorageUnavailable",
  "57P03": "StorageUnavailable",
  "53300": "StorageUnavailable",
  // Serialization failure and deadlock: the transaction can be retried as is.
  "40001": "StorageConflict",
  "40P01": "StorageConflict",
  // Class 23: integrity constraint violation; class 22: data exception.
  "23": "StorageInvalid",
  "22": "StorageInvalid",
  // Node socket errors.
  ECONNREFUSED: "StorageUnavailable",
  ECONNRESET: "StorageUnavailable",
  ETIMEDOUT: "StorageUnavailable",
  EPIPE: "StorageUnavailable",
  ENOTFOUND: "StorageUnavailable",
  EAI_AGAIN: "StorageUnavailable",
  EHOSTUNREACH: "StorageUnavailable",
  // postgres.js connection errors.
  CONNECTION_CLOSED: "StorageUnavailable",
  CONNECTION_DESTROYED: "StorageUnavailable",
  CONNECTION_ENDED: "StorageUnavailable",
  CONNECT_TIMEOUT: "StorageUnavailable"
}

const reasons = {
  StorageUnavailable: Storage.StorageUnavailable,
  StorageConflict: Storage.StorageConflict,
  StorageInvalid: Storage.StorageInvalid,
  StorageUnknown: Storage.StorageUnknown
} as const

const isSqlState = (code: string): boolean => /^[0-9A-Z]{5}$/.test(code)

/** The reason a driver error code maps to (exact code first, then its SQLSTATE class). */
export const reasonOfCode = (code: string | undefined): ReasonTag =>
  code === undefined
    ? "StorageUnknown"
    : errorCodes[code] ?? (isSqlState(code) ? errorCodes[code.slice(0, 2)] : undefined) ?? "StorageUnknown"

/** The driver's error code of a thrown value, looking inside `AggregateError` (dual-stack connects). */
export const codeOf = (cause: unknown): string | undefined => {
  if (Predicate.hasProperty(cause, "code") && Predicate.isString(cause.code)) return cause.code
  if (Predicate.hasProperty(cause, "errors") && Array.isArray(cause.errors)) {
    return cause.errors.map(codeOf).find(Predicate.isNotUndefined)
  }
  return undefined
}

/** Turn anything postgres.js threw into the Storage port's error. Never includes query parameters. */
export const toStorageError = (operation: string) => (cause: unknown): Storage.StorageError => {
  if (Predicate.isTagged(cause, "StorageError")) return cause as Storage.StorageError
  const code = codeOf(cause)
  const text = Predicate.hasProperty(cause, "message") && Predicate.isString(cause.message) && cause.message !== ""
    ? cause.message
    : String(cause)
  const message = code !== undefined && !text.includes(code) ? `${text} (${code})` : text
  return new Storage.StorageError({ operation, reason: new reasons[reasonOfCode(code)]({ message, cause }) })
}

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/** Anything postgres.js can await: a query, a `begin` promise, `end()`. */
type Thenable<A> = PromiseLike<A>

/** The postgres.js pool plus effectful helpers that map driver failures to `StorageError`. */
export class PgClient extends Context.Service<PgClient, {
  /** The postgres.js instance (the host's when it supplied one). */
  readonly sql: postgres.Sql
  /**
   * Run one query (or any postgres.js promise) as an effect. Interruption abandons the result but
   * lets the query finish: a postgres.js `cancel()` is a server-side CancelRequest for the whole
   * connection, and when it arrives after the query ended it cancels the next query on that pooled
   * connection — someone else's (seen under load with clients that disconnect).
   */
  readonly run: <A>(operation: string, f: (sql: postgres.Sql) => Thenable<A>) => Effect.Effect<A, Storage.StorageError>
  /**
   * Run `body` in one transaction on a reserved connection: COMMIT when it succeeds, ROLLBACK when it
   * fails or is interrupted.
   */
  readonly transaction: <A, E, R>(
    operation: string,
    body: (tx: postgres.Sql) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | Storage.StorageError, R>
}>()("@myia/certification-postgres/PgClient") {}

const runWith = <A>(sql: postgres.Sql, operation: string, f: (sql: postgres.Sql) => Thenable<A>) =>
  Effect.tryPromise({
    try: () => Promise.resolve(f(sql)),
    catch: toStorageError(operation)
  })

/** Build the service around an existing postgres.js instance (ownership stays with the caller). */
export const make = (sql: postgres.Sql): PgClient["Service"] => {
  const run = <A>(operation: string, f: (sql: postgres.Sql) => Thenable<A>) => runWith(sql, operation, f)
  const transaction = <A, E, R>(operation: string, body: (tx: postgres.Sql) => Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      runWith(sql, operation, (s) => s.reserve()),
      (tx) =>
        runWith(tx, operation, (t) => t`BEGIN`).pipe(
          Effect.andThen(body(tx)),
          Effect.tap(() => runWith(tx, operation, (t) => t`COMMIT`)),
          Effect.onError(() => runWith(tx, operation, (t) => t`ROLLBACK`).pipe(Effect.ignore))
        ),
      (tx) => Effect.sync(() => tx.release())
    )
  return PgClient.of({ sql, run, transaction })
}

/** Options of `layer`. */
export interface Options {
  /** Connection URL (`postgres://user@host:5432/db`); ignored when `sql` is given. */
  readonly url?: Redacted.Redacted<string> | string | undefined
  /** A host-owned postgres.js instance: used as is and never closed by this layer. */
  readonly sql?: postgres.Sql | undefined
  /** Pool size when this layer creates the pool (postgres.js default: 10). */
  readonly max?: number | undefined
  /** Seconds to wait for running queries when the layer closes a pool it created (default 5). */
  readonly closeTimeout?: number | undefined
}

/**
 * The `PgClient` layer. With `sql`, wraps the host's instance; otherwise creates a pool from `url`
 * (or postgres.js's PG* environment defaults) and ends it when the layer's scope closes.
 */
export const layer = (options: Options = {}): Layer.Layer<PgClient, Storage.StorageError> =>
  Layer.effect(
    PgClient,
    options.sql !== undefined
      ? Effect.succeed(make(options.sql))
      : Effect.acquireRelease(
        Effect.try({
          try: () => {
            const settings: postgres.Options<{}> = {
              onnotice: () => {},
              ...(options.max !== undefined ? { max: options.max } : {})
            }
            const url = options.url === undefined
              ? undefined
              : Redacted.isRedacted(options.url)
              ? Redacted.value(options.url)
              : options.url
            return url === undefined ? postgres(settings) : postgres(url, settings)
          },
          // The URL may carry a password: report only that it was invalid.
          catch: () =>
            new Storage.StorageError({
              operation: "PgClient.layer",
              reason: new Storage.StorageInvalid({ message: "invalid PostgreSQL connection options" })
            })
        }),
        (sql) => Effect.promise(() => sql.end({ timeout: options.closeTimeout ?? 5 }))
      ).pipe(Effect.map(make))
  )

/** The `PgClient` layer reading `DATABASE_URL` (and optionally `CERTIFICATION_PG_POOL_MAX`). */
export const layerConfig = (
  options: Omit<Options, "url" | "sql"> = {}
): Layer.Layer<PgClient, Storage.StorageError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const url = yield* Config.Redacted("DATABASE_URL")
      const max = yield* Config.Int("CERTIFICATION_PG_POOL_MAX").pipe(Config.option)
      return layer({ ...options, url, max: max._tag === "Some" ? max.value : options.max })
    })
  )
