/**
 * Redis connection helpers for the BullMQ queue: who owns which connection and how each one behaves
 * when Redis goes away.
 *
 * The host passes either connection options, a `redis://` URL, or its own ioredis instance. Producer
 * commands (enqueue, cancel, counts, publish) must fail fast while Redis is down, so a connection this
 * package creates for them uses `enableOfflineQueue: false`. Workers and the pub/sub subscriber must
 * instead wait for Redis forever (`maxRetriesPerRequest: null`) so they reconnect without a restart.
 * Connections created here are closed with the layer's scope; a host-owned instance is never closed.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Redis, type RedisOptions } from "ioredis"
import { Queue } from "@myia/certification"

const { QueueError } = Queue
type QueueError = Queue.QueueError

/** What a host passes: ioredis options, a `redis://` URL, or its own ioredis instance (host-owned). */
export type ConnectionInput = RedisOptions | string | Redis

/** Whether the input is a live ioredis instance owned by the host. */
export const isRedisInstance = (input: ConnectionInput): input is Redis => input instanceof Redis

/** Options ioredis would use for this input, without connecting (for duplicating into owned connections). */
export const optionsOf = (input: ConnectionInput): RedisOptions => {
  if (isRedisInstance(input)) return { ...input.options }
  if (typeof input === "string") {
    const probe = new Redis(input, { lazyConnect: true })
    const options = { ...probe.options }
    probe.disconnect()
    return options
  }
  return { ...input }
}

/** Options for worker and subscriber connections: wait for Redis forever, reconnect by themselves. */
export const blockingOptions = (base: RedisOptions): RedisOptions => ({
  ...base,
  lazyConnect: false,
  maxRetriesPerRequest: null,
  enableOfflineQueue: true
})

/** Options for producer connections: a command fails at once while Redis is unreachable. */
export const producerOptions = (base: RedisOptions): RedisOptions => ({
  ...base,
  lazyConnect: true,
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false
})

// ioredis' own `RedisOptions` does not satisfy its constructor under `exactOptionalPropertyTypes`
// (`replyMapping?: X` vs `X | undefined`); the values are the ones ioredis produced itself.
const newRedis = (options: RedisOptions): Redis => new Redis(options as never)

const toQueueError = (operation: string) => (cause: unknown) =>
  new QueueError({
    operation,
    message: `Redis ${operation} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
    retryable: true,
    cause
  })

/** Close a connection we own: QUIT when possible, disconnect otherwise. Never fails. */
export const close = (redis: Redis): Effect.Effect<void> =>
  Effect.tryPromise(() => redis.quit()).pipe(
    Effect.timeout(Duration.seconds(2)),
    Effect.catch(() => Effect.sync(() => redis.disconnect())),
    Effect.asVoid
  )

/**
 * The producer connection: the host's instance as is, or a new fail-fast connection that is closed
 * with the scope. Fails with a retryable `QueueError` when Redis cannot be reached at start.
 */
export const producer = (input: ConnectionInput): Effect.Effect<Redis, QueueError, Scope.Scope> => {
  if (isRedisInstance(input)) return Effect.succeed(input)
  return Effect.acquireRelease(
    Effect.sync(() => {
      const redis = newRedis(producerOptions(optionsOf(input)))
      redis.on("error", () => {})
      return redis
    }).pipe(
      Effect.tap((redis) =>
        Effect.tryPromise({
          try: () => redis.connect(),
          catch: toQueueError("connect")
        }).pipe(Effect.tapError(() => Effect.sync(() => redis.disconnect())))
      )
    ),
    close
  )
}

/** An owned connection that waits for Redis forever (subscriber, limiter calls from workers). */
export const blocking = (base: RedisOptions): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const redis = newRedis(blockingOptions(base))
      // ioredis re-emits connection errors; without a listener Node would treat them as fatal.
      redis.on("error", () => {})
      return redis
    }),
    close
  )

/** Wrap a Redis call into an Effect that fails with a retryable `QueueError`. */
export const call = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, QueueError> =>
  Effect.tryPromise({ try: f, catch: toQueueError(operation) })
