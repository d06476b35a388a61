/**
 * An adaptive request pacer (issue 16): spaces request starts at a rate that aims at the admitted
 * rate the quota allows, so a sweep runs near the quota instead of oscillating around it, and a
 * storm sends about the calls it needs instead of probing the quota again and again.
 *
 * Unpaced until the first throttle. Then it learns the quota in two steps:
 * - **Guess** (first throttle): the requests that completed in the last second, or if none did
 *   the requests sent and not throttled per second since the first of them (over at least
 *   100 ms), times `aim`; each whole
 *   second without a throttle steps it up by half (a quota far above the first burst is reached
 *   in a few seconds) — a guess, not a measurement.
 * - **Measure** (every later throttle, at most once per `cooldownMillis`): the starts that were not
 *   throttled since the pacer engaged, over at most the window (`windowMillis`, or about ten
 *   starts when slower), per second — the admitted rate of its own pace, without the unpaced
 *   burst; at least the requests that completed since — is the ceiling (lowered by at most a
 *   tenth per cut: a quiet window measures low), and the rate becomes `aim` × the measure (at
 *   most halved per cut). From then on the rate grows fast (`growth` requests/s per start) below
 *   `aim` × ceiling and creeps above it by `creep` × rate per start: a quota that rose, or a
 *   share another process left, is found again, while a slow quota — where every throttled call
 *   counts — is probed rarely.
 *
 * Starts are spaced `1 / rate` apart (a reservation on the next start, no burst). Pure
 * bookkeeping: times come from the caller.
 */

export interface PacerSettings {
  readonly windowMillis: number
  readonly cooldownMillis: number
  /** Share of the observed admitted rate the pacer aims at after a throttle (e.g. 0.95). */
  readonly aim: number
  /** Requests/s added per start below `aim` × a measured ceiling (the rate grows by this share of itself per second). */
  readonly growth: number
  readonly minRate: number
}

export interface Pacer {
  /** Requests per second, or null while unpaced. */
  rate: number | null
  nextStart: number
  lastCutAt: number
  /** When the pacer engaged (its first throttle), or +Infinity while unpaced. */
  engagedAt: number
  /** The admitted rate measured at the last cut (0 before any measurement). */
  ceiling: number
  /** Whether the ceiling was measured (a throttle after the guess). */
  learned: boolean
  /** While guessing: when the rate last stepped up (or engaged). */
  stepAt: number
  /** Start times in the window. */
  readonly sent: Array<number>
  /** Throttle times in the window. */
  readonly throttled: Array<number>
  /** Completion times of requests that were not throttled, in the window. */
  readonly succeeded: Array<number>
}

export const make = (): Pacer => ({
  rate: null,
  nextStart: 0,
  lastCutAt: Number.NEGATIVE_INFINITY,
  engagedAt: Number.POSITIVE_INFINITY,
  ceiling: 0,
  learned: false,
  stepAt: 0,
  sent: [],
  throttled: [],
  succeeded: []
})

const trim = (times: Array<number>, since: number): void => {
  let drop = 0
  while (drop < times.length && times[drop]! < since) drop++
  if (drop > 0) times.splice(0, drop)
}

/** The earliest start at or after `now` this pacer allows (no change). */
export const earliest = (pacer: Pacer, now: number): number => pacer.rate === null ? now : Math.max(now, pacer.nextStart)

/** Per-start growth of the rate (requests/s) at its current value. */
const growthOf = (pacer: Pacer, settings: PacerSettings, rate: number): number =>
  pacer.learned && rate >= settings.aim * pacer.ceiling ? Math.min(settings.growth, creep * rate) : settings.growth

/**
 * Per start, a paced rate above `aim` × a learned ceiling grows by this share of itself: the rate
 * grows by `creep` × rate² per second — 0.2 %/s at 1 request/s, 4 %/s at 20. A probe above the
 * quota costs about one throttle whatever the rate, so a slow quota (where each call counts) is
 * probed rarely and a fast one (where a throttle is one call in many) often.
 */
const creep = 0.002

/** Commit a start at `start` (≥ `earliest`): the next start is `1 / rate` later. */
export const commit = (pacer: Pacer, settings: PacerSettings, start: number): void => {
  trim(pacer.sent, start - (pacer.rate === null ? settings.windowMillis : windowOf(settings, pacer.rate)))
  pacer.sent.push(start)
  if (pacer.rate === null) return
  pacer.nextStart = start + 1000 / pacer.rate
  if (pacer.learned) {
    pacer.rate += growthOf(pacer, settings, pacer.rate)
    return
  }
  // Guessing: a whole second at the guess without a throttle says the quota is higher — step up.
  if (start - pacer.stepAt < 1000) return
  const last = pacer.throttled[pacer.throttled.length - 1] ?? Number.NEGATIVE_INFINITY
  if (last <= pacer.stepAt) pacer.rate *= guessStep
  pacer.stepAt = start
}

/** While guessing, the rate steps up by this factor per second without a throttle. */
const guessStep = 1.5

/** Reserve a start at `now`: how many milliseconds the caller waits before starting. */
export const reserve = (pacer: Pacer, settings: PacerSettings, now: number): number => {
  const start = earliest(pacer, now)
  commit(pacer, settings, start)
  return start - now
}

/** A request completed without a throttle at `now`. */
export const succeeded = (pacer: Pacer, settings: PacerSettings, now: number): void => {
  trim(pacer.succeeded, now - (pacer.rate === null ? settings.windowMillis : windowOf(settings, pacer.rate)))
  pacer.succeeded.push(now)
}

/** Stop pacing (the throttles were another level's: e.g. a regional quota, not this model's). */
export const disengage = (pacer: Pacer): void => {
  pacer.rate = null
  pacer.engagedAt = Number.POSITIVE_INFINITY
  pacer.ceiling = 0
  pacer.learned = false
  pacer.lastCutAt = Number.NEGATIVE_INFINITY
  pacer.stepAt = 0
}

/**
 * A request started at about `now` was throttled: counted, and with `cut`, the rate aims at the
 * admitted rate (once per cooldown).
 */
export const throttled = (pacer: Pacer, settings: PacerSettings, now: number, cut = true): void => {
  // The window of a slow rate is longer, so that it holds about ten starts.
  const window = pacer.rate === null ? settings.windowMillis : windowOf(settings, pacer.rate)
  trim(pacer.sent, now - window)
  trim(pacer.throttled, now - window)
  trim(pacer.succeeded, now - window)
  pacer.throttled.push(now)
  if (!cut || now - pacer.lastCutAt < settings.cooldownMillis) return
  pacer.lastCutAt = now
  if (pacer.rate === null) {
    // The guess, as requests per second: the requests that completed in the last second when any
    // did (a throttle that comes after answers: a slow quota), else those sent and not throttled
    // over the time since the first of them, at least 100 ms (a throttle at the very start: the
    // quota's burst, which says little about its rate — the first measure, a second later, does).
    pacer.engagedAt = now
    pacer.stepAt = now
    let completed = 0
    for (const at of pacer.succeeded) if (at >= now - 1000) completed++
    const first = pacer.sent.find((at) => at >= now - 1000) ?? now
    const burst = (Math.max(1, admittedSince(pacer, now - 1000)) * 1000) / Math.max(100, now - first)
    const guess = completed > 0 ? completed : burst
    pacer.rate = Math.max(settings.minRate, settings.aim * guess)
    pacer.nextStart = now + 1000 / pacer.rate
    return
  }
  // The measure: starts that were not throttled, per second, since the pacer engaged (its own pace
  // only) over at most the window. Counted at the start, so it does not lag by the call's latency.
  const since = Math.max(pacer.engagedAt, now - window)
  const span = Math.max(settings.cooldownMillis, now - since)
  // Sent minus throttled undercounts when the burst before engagement is throttled after it; the
  // requests that completed since are admitted for sure.
  let completed = 0
  for (const at of pacer.succeeded) if (at >= since) completed++
  const observed = (Math.max(admittedSince(pacer, since), completed) * 1000) / span
  // A window with little demand measures low: the ceiling falls by at most a tenth per cut.
  pacer.ceiling = Math.max(observed, 0.9 * pacer.ceiling)
  pacer.learned = true
  // A window with little demand measures low: one cut at most halves the rate.
  pacer.rate = Math.max(settings.minRate, Math.min(pacer.rate, Math.max(pacer.rate / 2, settings.aim * observed)))
  pacer.nextStart = Math.max(pacer.nextStart, now + 1000 / pacer.rate)
}

/** Sent minus throttled since `since` (requests whose outcome is pending count as admitted). */
const admittedSince = (pacer: Pacer, since: number): number => {
  let sent = 0
  for (const at of pacer.sent) if (at >= since) sent++
  let throttles = 0
  for (const at of pacer.throttled) if (at >= since) throttles++
  return Math.max(0, sent - throttles)
}

/** The measuring window at `rate`: `windowMillis`, or about ten starts if longer (at most 10 s). */
const windowOf = (settings: PacerSettings, rate: number): number =>
  Math.min(10_000, Math.max(settings.windowMillis, 10_000 / rate))
