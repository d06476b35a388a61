/**
 * The RequestRateLimit port: a per-region budget of Bedrock *requests* per second, shared by every
 * process that certifies for the same account.
 *
 * Bedrock quotas are per account × region (× model), so an account certified by three worker
 * processes must not send three times the rate. The Queue limits how fast *units* start; this port
 * limits how fast their *requests* start. The runner takes one token before every Bedrock call.
 * Optional: without it, each process is paced only by its own region governor and by Bedrock's
 * throttling. `layerMemory` serves one process; `@myia/certification-bullmq` provides a Redis one.
 *
 * **Contract**
 * - `take(region)` returns once a request may start for `region`; it waits, it never fails.
 * - Requests are paced evenly: across all processes sharing the limiter, consecutive takes for a
 *   region return at least `1 / rate` seconds apart (a reservation on a shared "next start" time,
 *   GCRA with no burst), so at most `ceil(rate)` start in any 1 s window and the small, uneven
 *   delays between a take and the request reaching Bedrock cannot pile a window's requests up.
 *   Regions without a configured rate are not limited.
 * - If the backing store cannot be reached, `take` lets the request through (and logs): Bedrock's
 *   own throttling still protects the account, and a limiter outage must not stop certification.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Region } from "./Domain.ts"
import type { RegionCode } from "./Region.ts"

export class RequestRateLimit extends Context.Service<RequestRateLimit, {
  readonly take: (region: Region) => Effect.Effect<void>
}>()("@myia/certification/RequestRateLimit") {}

/** Requests per second per region; `"*"` applies to regions not listed. */
export type RequestRates = Readonly<Partial<Record<RegionCode | "*", number>>>

/** The rate for a region, or undefined when it is not limited. */
export const rateOf = (rates: RequestRates, region: Region): number | undefined => {
  const r = rates[region as RegionCode] ?? rates["*"]
  return r !== undefined && r > 0 ? r : undefined
}

/** An in-process limiter (one process): a reservation on each region's next start time. */
export const make = (rates: RequestRates): RequestRateLimit["Service"] => {
  const nextStart = new Map<Region, number>()
  const take = (region: Region): Effect.Effect<void> =>
    Effect.gen(function*() {
      const rate = rateOf(rates, region)
      if (rate === undefined) return
      const now = yield* Clock.currentTimeMillis
      const start = Math.max(now, nextStart.get(region) ?? now)
      nextStart.set(region, start + 1000 / rate)
      if (start > now) yield* Effect.sleep(start - now)
    })
  return RequestRateLimit.of({ take })
}

/** The in-process limiter as a layer. */
export const layerMemory = (rates: RequestRates): Layer.Layer<RequestRateLimit> =>
  Layer.sync(RequestRateLimit, () => make(rates))
