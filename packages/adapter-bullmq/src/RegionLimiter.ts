/**
 * Per-region concurrency and start-rate limits shared by every process, kept in Redis.
 *
 * BullMQ's open-source limiter and global concurrency are per *queue*; per-group limits are a BullMQ
 * Pro feature. The adapter keeps one queue for all regions and enforces each region's limits here,
 * with one Lua script so the check-and-take is atomic across processes:
 * - concurrency: a sorted set of leases (member = lease id, score = expiry in Redis time). A worker
 *   renews its lease while the handler runs; a process that dies stops renewing and its slot frees
 *   itself when the lease expires, so a crash never leaks capacity.
 * - start rate: even pacing (GCRA without burst): a region's starts are at least `1 / rate` seconds
 *   apart, so at most `ceil(rate)` start in any 1 s window, and the uneven delays between admission
 *   and the handler's first step cannot bunch a window's starts together the way a burst would.
 * Time comes from Redis `TIME`, so clock skew between machines cannot loosen the limits.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { Redis } from "ioredis"
import type { Domain, Queue } from "@myia/certification"
import * as RedisConnection from "./RedisConnection.ts"

type Region = Domain.Region
type RegionLimit = Queue.RegionLimit
type QueueError = Queue.QueueError

// Returns 0 when a slot was taken, otherwise how many milliseconds to wait before trying again
// (-1: the region is at its concurrency limit; a slot frees when a handler ends, time unknown).
const acquireScript = `
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local concurrency = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= concurrency then
  return -1
end
if rate > 0 then
  local interval = 1000 / rate
  local nextStart = tonumber(redis.call("GET", KEYS[2]) or "0")
  if now < nextStart then
    return math.max(1, math.ceil(nextStart - now))
  end
  redis.call("SET", KEYS[2], tostring(now + interval), "PX", math.ceil(interval * 2) + 1000)
end
redis.call("ZADD", KEYS[1], now + ttl, ARGV[1])
redis.call("PEXPIRE", KEYS[1], ttl * 2)
return 0
`

// Extends a lease that still exists; a lease that already expired is not revived (its slot may be
// taken by now). Returns 1 when renewed.
const renewScript = `
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call("ZSCORE", KEYS[1], ARGV[1])
if not score or tonumber(score) < now then
  return 0
end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[2]) * 2)
return 1
`

const countScript = `
local t = redis.call("TIME")
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return redis.call("ZCARD", KEYS[1])
`

/** A limit that never holds anything back (used for regions with no configured limit). */
export const unlimited: RegionLimit = { concurrency: Number.MAX_SAFE_INTEGER, ratePerSecond: 0 }

/** The outcome of an acquire: a lease was taken, or wait this long before trying again. */
export type Acquired = { readonly _tag: "Acquired" } | { readonly _tag: "Wait"; readonly millis: number; readonly full: boolean }

/** The limiter's operations for one queue. */
export interface RegionLimiter {
  readonly acquire: (region: Region, leaseId: string) => Effect.Effect<Acquired, QueueError>
  readonly renew: (region: Region, leaseId: string) => Effect.Effect<boolean, QueueError>
  readonly release: (region: Region, leaseId: string) => Effect.Effect<void, QueueError>
  /** Leases currently held for a region, across every process. */
  readonly inFlight: (region: Region) => Effect.Effect<number, QueueError>
}

/** Build a limiter over `redis`; keys live under `keyPrefix` (e.g. `bull:model-certification:limiter`). */
export const make = (options: {
  readonly redis: Redis
  readonly keyPrefix: string
  readonly limitOf: (region: Region) => RegionLimit
  readonly leaseMillis: number
}): RegionLimiter => {
  const { keyPrefix, leaseMillis, limitOf, redis } = options
  const inFlightKey = (region: Region) => `${keyPrefix}:${region}:inflight`
  const startsKey = (region: Region) => `${keyPrefix}:${region}:next-start`
  return {
    acquire: (region, leaseId) => {
      const limit = limitOf(region)
      return RedisConnection.call("limiter.acquire", () =>
        redis.eval(
          acquireScript,
          2,
          inFlightKey(region),
          startsKey(region),
          leaseId,
          leaseMillis,
          Math.max(1, Math.floor(limit.concurrency)),
          Math.max(0, limit.ratePerSecond)
        ) as Promise<number>).pipe(
          Effect.map((n): Acquired =>
            n === 0 ? { _tag: "Acquired" } : n < 0 ? { _tag: "Wait", millis: 0, full: true } : { _tag: "Wait", millis: n, full: false }
          )
        )
    },
    renew: (region, leaseId) =>
      RedisConnection.call("limiter.renew", () =>
        redis.eval(renewScript, 1, inFlightKey(region), leaseId, leaseMillis) as Promise<number>).pipe(
          Effect.map((n) => n === 1)
        ),
    release: (region, leaseId) =>
      RedisConnection.call("limiter.release", () => redis.zrem(inFlightKey(region), leaseId)).pipe(Effect.asVoid),
    inFlight: (region) =>
      RedisConnection.call("limiter.inFlight", () =>
        redis.eval(countScript, 1, inFlightKey(region)) as Promise<number>)
  }
}

// A reservation on the region's next request start (GCRA without burst): returns how long the
// caller waits before its start, and moves the next start one interval later. One round trip.
const paceScript = `
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local next = tonumber(redis.call("GET", KEYS[1]) or "0")
local start = math.max(now, next)
redis.call("SET", KEYS[1], tostring(start + interval), "PX", math.ceil(start - now + interval * 2) + 1000)
return math.ceil(start - now)
`

/**
 * Even pacing shared by every process: `reserve(region, ratePerSecond)` answers how many
 * milliseconds to wait before starting, so that starts of a region are at least `1 / rate` apart.
 */
export const makePacer = (options: { readonly redis: Redis; readonly keyPrefix: string }) => ({
  reserve: (region: Region, ratePerSecond: number): Effect.Effect<number, QueueError> =>
    RedisConnection.call("pacer.reserve", () =>
      options.redis.eval(paceScript, 1, `${options.keyPrefix}:${region}:next`, 1000 / ratePerSecond) as Promise<number>)
})
