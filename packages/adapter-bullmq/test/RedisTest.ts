/**
 * Test helpers: is the local Redis reachable, a fresh key prefix per run, and unit messages.
 *
 * Tests are skipped when Redis is unreachable on a developer machine, but run (and fail) when the
 * `CI` environment variable is set, so a missing Redis can never turn CI green.
 */
import { Domain, Queue } from "@myia/certification"
import { Redis } from "ioredis"

export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

const ping = (): Promise<boolean> => {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
  redis.on("error", () => {})
  return redis.connect().then(() => redis.ping()).then(() => true, () => false).finally(() => redis.disconnect())
}

/** Whether the Redis tests must run: Redis answers, or we are on CI (where they must fail instead). */
export const shouldRun: boolean = (await ping()) || process.env.CI !== undefined

/** A key prefix no other run uses. */
export const freshPrefix = (): string => `test-${crypto.randomUUID().slice(0, 8)}`

/** A fresh unit message for `region`, optionally of a given job. */
export const message = (region = "us-east-1", jobId?: string): Queue.UnitMessage =>
  new Queue.UnitMessage({
    unitId: crypto.randomUUID() as Domain.UnitId,
    jobId: (jobId ?? crypto.randomUUID()) as Domain.JobId,
    modelId: "anthropic.claude-3-5-haiku-20241022-v1:0" as Domain.ModelId,
    region: region as Domain.Region
  })

/** Delete every key under `prefix` (a run's own random prefix), so CI runs leave Redis as they found it. */
export const cleanup = (prefix: string): Promise<void> => {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  redis.on("error", () => {})
  const step = (cursor: string): Promise<void> =>
    redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500).then(([next, keys]) =>
      (keys.length > 0 ? redis.unlink(...keys) : Promise.resolve(0)).then(() => next === "0" ? undefined : step(next))
    )
  return step("0").finally(() => redis.disconnect())
}
