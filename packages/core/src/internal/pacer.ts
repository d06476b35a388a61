/**
 * An adaptive request pacer (issue 16): spaces request starts at a rate that aims at the admitted
 * rate the quota allows, so a sweep runs near the quota instead of oscillating around it.
 *
 * Unpaced until the first throttle. On a throttle (at most once per `cooldownMillis`) the rate
 * becomes `aim` × the rate of requests that were admitted (sent minus throttled) over the last
 * `windowMillis`, and that admitted rate is remembered as the ceiling. After that every start adds
 * `growth` requests/s — the rate probes upward by about `growth` × rate per second — except near
 * the ceiling (from 97 % to 110 % of it), where it grows ten times slower: a tight quota is met
 * without a throttle every second, and a ceiling measured too low is left behind. Starts are spaced `1 / rate` apart
 * (a reservation on the next start, no burst). Pure bookkeeping: times come from the caller.
 */

export interface PacerSettings {
  readonly windowMillis: number
  readonly cooldownMillis: number
  /** Share of the observed admitted rate the pacer aims at after a throttle (e.g. 0.95). */
  readonly aim: number
  /** Requests/s added per start while paced. */
  readonly growth: number
  readonly minRate: number
}

export interface Pacer {
  /** Requests per second, or null while unpaced. */
  rate: number | null
  nextStart: number
  lastCutAt: number
  /** The admitted rate measured at the last cut. */
  ceiling: number
  /** The first start ever (the window of the first throttle may be shorter than `windowMillis`). */
  firstSent: number
  /** Start times in the window. */
  readonly sent: Array<number>
  /** Throttle times in the window. */
  readonly throttled: Array<number>
}

export const make = (): Pacer => ({
  rate: null,
  nextStart: 0,
  lastCutAt: Number.NEGATIVE_INFINITY,
  ceiling: 0,
  firstSent: Number.POSITIVE_INFINITY,
  sent: [],
  throttled: []
})

const trim = (times: Array<number>, since: number): void => {
  let drop = 0
  while (drop < times.length && times[drop]! < since) drop++
  if (drop > 0) times.splice(0, drop)
}

/** Reserve a start at `now`: how many milliseconds the caller waits before starting. */
export const reserve = (pacer: Pacer, settings: PacerSettings, now: number): number => {
  trim(pacer.sent, now - settings.windowMillis)
  pacer.firstSent = Math.min(pacer.firstSent, now)
  if (pacer.rate === null) {
    pacer.sent.push(now)
    return 0
  }
  const start = Math.max(now, pacer.nextStart)
  pacer.nextStart = start + 1000 / pacer.rate
  const near = pacer.rate >= 0.97 * pacer.ceiling && pacer.rate <= 1.1 * pacer.ceiling
  pacer.rate += near ? settings.growth / 10 : settings.growth
  pacer.sent.push(start)
  return start - now
}

/**
 * A request started at about `now` was throttled: counted, and with `cut`, the rate aims at the
 * admitted rate (once per cooldown).
 */
export const throttled = (pacer: Pacer, settings: PacerSettings, now: number, cut = true): void => {
  trim(pacer.sent, now - settings.windowMillis)
  trim(pacer.throttled, now - settings.windowMillis)
  pacer.throttled.push(now)
  if (!cut || now - pacer.lastCutAt < settings.cooldownMillis) return
  pacer.lastCutAt = now
  const admitted = Math.max(0, pacer.sent.length - pacer.throttled.length)
  const span = Math.max(100, Math.min(settings.windowMillis, now - pacer.firstSent))
  const observed = (admitted * 1000) / span
  const target = Math.max(settings.minRate, observed * settings.aim)
  pacer.ceiling = observed
  pacer.rate = pacer.rate === null ? target : Math.min(pacer.rate, target)
  pacer.nextStart = Math.max(pacer.nextStart, now + 1000 / pacer.rate)
}
