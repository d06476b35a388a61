/**
 * Core's `GovernorStore` in Redis (issue 16): the region governor's lanes shared by every worker
 * process on the queue's Redis, so N processes pace one quota together.
 *
 * One Lua script per sync applies the governor's change to the lane's hash (`limit`, `lastCutAt`,
 * `openUntil`) and records the process in the lane's sorted set of recent processes, atomically.
 * Times come from Redis `TIME`; the open time goes back as a duration, so clock skew between
 * machines cannot move a breaker. Keys expire an hour after a lane was last used.
 *
 * @since 0.2.0
 */
import { GovernorStore } from "@myia/certification"
import * as Effect from "effect/Effect"
import type { Redis } from "ioredis"
import * as RedisConnection from "./RedisConnection.ts"

// ARGV: processId, initialLimit, growBy, growMax, cutFactor, cutMin, cutCooldown, openFor, close, window
// Returns { limit, openForMillis, processes, cut (1: the lane was ever cut) }.
const syncScript = `
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(redis.call("HGET", KEYS[1], "limit") or ARGV[2])
local lastCut = tonumber(redis.call("HGET", KEYS[1], "lastCutAt") or "-1")
local openUntil = tonumber(redis.call("HGET", KEYS[1], "openUntil") or "0")
local growBy = tonumber(ARGV[3])
if growBy > 0 then limit = math.min(tonumber(ARGV[4]), limit + growBy) end
local factor = tonumber(ARGV[5])
if factor > 0 and (lastCut < 0 or now - lastCut >= tonumber(ARGV[7])) then
  limit = math.max(tonumber(ARGV[6]), math.floor(limit * factor))
  lastCut = now
end
local openFor = tonumber(ARGV[8])
if openFor > 0 then openUntil = math.max(openUntil, now + openFor) end
if ARGV[9] == "1" and openUntil <= now then openUntil = 0 end
redis.call("HSET", KEYS[1], "limit", limit, "lastCutAt", lastCut, "openUntil", openUntil)
redis.call("PEXPIRE", KEYS[1], 3600000)
local window = tonumber(ARGV[10])
redis.call("ZADD", KEYS[2], now, ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", now - window - 1)
redis.call("PEXPIRE", KEYS[2], window + 3600000)
local wasCut = 0
if lastCut >= 0 then wasCut = 1 end
return { limit, math.max(0, openUntil - now), redis.call("ZCARD", KEYS[2]), wasCut }
`

/** A GovernorStore over `redis`; keys live under `keyPrefix` (e.g. `bull:model-certification:mc:governor`). */
export const make = (options: { readonly redis: Redis; readonly keyPrefix: string }): GovernorStore.GovernorStore["Service"] =>
  GovernorStore.GovernorStore.of({
    sync: (lane, processId, update) =>
      RedisConnection.call("governor.sync", () =>
        options.redis.eval(
          syncScript,
          2,
          `${options.keyPrefix}:{${lane}}:state`,
          `${options.keyPrefix}:{${lane}}:processes`,
          processId,
          update.initialLimit,
          update.grow?.by ?? 0,
          update.grow?.max ?? 0,
          update.cut?.factor ?? 0,
          update.cut?.min ?? 0,
          update.cut?.cooldownMillis ?? 0,
          Math.max(0, Math.ceil(update.openForMillis ?? 0)),
          update.close === true ? "1" : "0",
          Math.max(1, Math.ceil(update.activeWindowMillis))
        ) as Promise<[number, number, number, number]>).pipe(
          Effect.map(([limit, openForMillis, processes, cut]): GovernorStore.SharedLane => ({
            limit,
            openForMillis,
            processes,
            cut: cut === 1
          })),
          // Redis unreachable: the governor carries on with its own state.
          Effect.catch((error) => Effect.as(Effect.logDebug(`governor store unavailable: ${error.message}`), undefined))
        )
  })
