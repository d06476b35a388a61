/**
 * An adaptive request pacer (issue 16): spaces request starts at a rate that aims at the admitted
 * rate the quota allows, so a sweep runs near the quota instead of oscillating around it, and a
 * storm sends about the calls it needs instead of probing the quota again and again.
 *
 * Unpaced until the first throttle. Then it learns the quota in three steps:
 * - **Guess** (first throttle): the requests that completed in the last second, or if none did
 *   the requests sent and not throttled per second since the first of them (over at least
 *   250 ms), times `aim`. While guessing, a request sent at the guessed pace (after the last cut)
 *   and throttled halves it (a burst's requests still in flight when it engaged do not count);
 *   each whole second without a throttle, once two answers came back to requests that waited for
 *   their slot at the guess (sent at its spacing, not apart from it), steps it up by half (a quota
 *   far above the first burst is reached in a few seconds); a throttled step goes back to the rate
 *   before it, which is then learned — a guess, not a measurement.
 * - **Measure** (a later throttle soon after a cut, at most once per `cooldownMillis`): what the
 *   quota admitted between an earlier throttle of it (within about twenty starts) and this one —
 *   the quota was empty at both, so that is what it refilled, less what a bucket left full lost —
 *   or, without an earlier one, the starts not throttled since the pacer engaged; the quota lies
 *   between that and the pace that was throttled, so the measure is their geometric mean (a
 *   bisection narrowing with every throttle). It is the ceiling (lowered by at most a tenth per
 *   cut: a quiet window measures low; never above the pace just throttled), and the rate becomes
 *   `aim` × the measure (at most halved per cut) — unless the pacer had learned the quota and the
 *   measure puts it near the pace (at least `nearTop` of it): then the pace's jitter crossed the
 *   quota's top, and the rate steps back by twice `stepBack`, the throttled pace the ceiling.
 * - **Hold** (a throttle after `holdStarts` starts since the last cut, none throttled): the quota
 *   held the pace and the probe found its top — the rate steps back by `stepBack` (2 %) and the
 *   throttled pace is the ceiling.
 *
 * Between throttles the rate climbs up to 98 % of the ceiling (`climb` × rate per start, at most
 * `growth`) and creeps above it, by `creep` × rate per start at first and faster the longer the
 * pace holds: a quota that rose, or a share another process left, is found again, while a slow
 * quota — where every throttled call counts — is probed about once a minute.
 *
 * A cut restarts the spacing from now: callers holding a slot reserved before it (`cuts` moved)
 * give it back (`abandon`) and take one at the new pace, so slots reserved at a pace just found too
 * fast are not all throttled in turn.
 *
 * Starts are spaced `1 / rate` apart (a reservation on the next start, no burst). Pure
 * bookkeeping: times come from the caller.
 */

export interface PacerSettings {
  readonly windowMillis: number
  readonly cooldownMillis: number
  /** Share of the observed admitted rate the pacer aims at after a throttle (e.g. 0.95). */
  readonly aim: number
  /** At most this many requests/s are added per start (see `climb`, `creep`). */
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
  /** While guessing: when the rate last stepped up, engaged, or was throttled. */
  stepAt: number
  /** While guessing: step-ups since it engaged or was last throttled. */
  steps: number
  /** While guessing: answers since the last step or cut to requests sent at the current pace. */
  answers: number
  /** The first start reserved at the rate set by the last cut: a request sent earlier went out at an older pace. */
  pacedFrom: number
  /** Cuts so far: a caller that reserved a slot before the count moved holds a slot of an older pace. */
  cuts: number
  /** Starts committed since the last cut (or since it engaged). */
  sinceCut: number
  /** Start times (reserved), kept `retentionMillis`. */
  readonly sent: Array<number>
  /** The starts among `sent` whose caller waited for its slot: a request spaced exactly at the pace. */
  readonly pressed: Array<number>
  /** Throttle times, kept `retentionMillis`. */
  readonly throttled: Array<number>
  /** Completion times of requests that were not throttled, in the window. */
  readonly succeeded: Array<number>
  /** Times of throttles of this pacer's own quota (`throttled` with `cut`), kept `retentionMillis`: the quota was empty then. */
  readonly empty: Array<number>
}

export const make = (): Pacer => ({
  rate: null,
  nextStart: 0,
  lastCutAt: Number.NEGATIVE_INFINITY,
  engagedAt: Number.POSITIVE_INFINITY,
  ceiling: 0,
  learned: false,
  stepAt: 0,
  steps: 0,
  answers: 0,
  pacedFrom: Number.POSITIVE_INFINITY,
  cuts: 0,
  sinceCut: 0,
  sent: [],
  pressed: [],
  throttled: [],
  succeeded: [],
  empty: []
})

/** Drop the times before `since` from an ascending list (the pacers' and the governor lanes' windows). */
export const trim = (times: Array<number>, since: number): void => {
  let drop = 0
  while (drop < times.length && times[drop]! < since) drop++
  if (drop > 0) times.splice(0, drop)
}

/** The earliest start at or after `now` this pacer allows (no change). */
export const earliest = (pacer: Pacer, now: number): number => pacer.rate === null ? now : Math.max(now, pacer.nextStart)

/** Per-start growth of the rate (requests/s) at its current value. */
const growthOf = (pacer: Pacer, settings: PacerSettings, rate: number): number =>
  Math.min(
    settings.growth,
    (pacer.learned && rate >= (1 - stepBack) * pacer.ceiling ? creep * (1 + pacer.sinceCut / creepDoubling) : climb) * rate
  )

/**
 * Per start, a paced rate below `1 - stepBack` (98 %) of its ceiling grows by this share of itself (at most
 * `growth` requests/s): 2 %/s at 1 request/s, the full `growth` from 20 requests/s — a slow quota
 * is climbed back gently, since each throttle there is a large share of the calls.
 */
const climb = 0.02

/**
 * Per start, a paced rate above 98 % of a learned ceiling grows by this share of itself, times
 * `1 + starts since the last cut / creepDoubling`: near the pace just throttled it probes gently
 * (0.03 % per start: about 48 starts back from a 2 % step-back), and the longer the pace holds the
 * faster it probes (a quota that rose, or a share another process left, is found again: +40 % of
 * the rate within about 350 starts). A probe above the quota costs about one throttle whatever the
 * rate, so a slow quota (where each call counts) is probed about once a minute, and a fast one
 * (where a throttle is one call in many) every few seconds.
 */
const creep = 0.0003
const creepDoubling = 100

/**
 * A throttle after at least `holdStarts` starts since the last cut, none throttled, is a probe
 * finding the top of a quota that held the pace: the rate steps back by `stepBack` of itself, and
 * that pace is the ceiling. (A throttle sooner after a cut is measured: see `nearTop`.)
 */
const holdStarts = 20
const stepBack = 0.02

/**
 * A throttle soon after a cut whose measure is at least this share of the pace is one at the top
 * of the quota (a pace's jitter), not a quota that fell: a small step back, not a measured cut.
 */
const nearTop = 0.8

/**
 * Commit a start at `start` (≥ `earliest`): the next start is `1 / rate` later. `pressed`: the
 * caller waits for it (it came before its slot), so the request goes out exactly at the pace.
 */
export const commit = (pacer: Pacer, settings: PacerSettings, start: number, pressed = false): void => {
  trim(pacer.sent, start - retentionMillis)
  pacer.sent.push(start)
  if (pressed) {
    trim(pacer.pressed, start - retentionMillis)
    pacer.pressed.push(start)
  }
  if (pacer.rate === null) return
  pacer.nextStart = start + 1000 / pacer.rate
  if (pacer.learned) {
    // A climb stops at 98 % of the ceiling (one step of 2 % would cross it); above, the creep.
    const top = (1 - stepBack) * pacer.ceiling
    const grown = pacer.rate + growthOf(pacer, settings, pacer.rate)
    pacer.rate = pacer.rate < top ? Math.min(grown, top) : grown
  }
  pacer.sinceCut++
}

/**
 * While guessing, the rate steps up by this factor after a whole second without a throttle in which
 * at least `stepEvidence` requests came back admitted: the answers say the quota is higher. Counted
 * from answers, not from reserved starts — at a slow guess every reservation lies a second ahead,
 * and stepping up on those would climb past a slow quota before a single answer came back.
 */
const guessStep = 1.5
const stepEvidence = 2

/** A reserved start at `start` will not happen (its caller takes another): forget it. */
export const abandon = (pacer: Pacer, start: number): void => {
  const index = pacer.sent.lastIndexOf(start)
  if (index >= 0) pacer.sent.splice(index, 1)
  const at = pacer.pressed.lastIndexOf(start)
  if (at >= 0) pacer.pressed.splice(at, 1)
}

/** Reserve a start at `now`: how many milliseconds the caller waits before starting. */
export const reserve = (pacer: Pacer, settings: PacerSettings, now: number): number => {
  const start = earliest(pacer, now)
  commit(pacer, settings, start, start > now)
  return start - now
}

/**
 * A request completed without a throttle at `now`; `sentAt`, when the caller knows it, is when it
 * went out. While guessing, only an answer to a request sent at the current pace — after the last
 * step or cut, by a caller that waited for its slot — is evidence for the next step: a request
 * that found its slot long free went out further apart than the pace, and its answer says nothing
 * about it. (Without `sentAt`, every answer after the last step or cut counts.)
 */
export const succeeded = (pacer: Pacer, settings: PacerSettings, now: number, sentAt?: number): void => {
  trim(pacer.succeeded, now - (pacer.rate === null ? settings.windowMillis : windowOf(settings, pacer.rate)))
  pacer.succeeded.push(now)
  if (pacer.rate === null || pacer.learned) return
  if (sentAt === undefined ? now >= pacer.pacedFrom : sentAt >= pacer.pacedFrom && atPace(pacer, sentAt)) pacer.answers++
  if (now - pacer.stepAt < 1000 || pacer.answers < stepEvidence) return
  pacer.rate *= guessStep
  pacer.steps++
  pacer.stepAt = now
  pacer.answers = 0
  // Slots already handed out keep the old spacing, and so does the next one: the step's pace begins after it.
  pacer.pacedFrom = Math.max(now, pacer.nextStart) + 1
}

/** Stop pacing (the throttles were another level's: e.g. a regional quota, not this model's). */
export const disengage = (pacer: Pacer): void => {
  pacer.rate = null
  pacer.engagedAt = Number.POSITIVE_INFINITY
  pacer.ceiling = 0
  pacer.learned = false
  pacer.lastCutAt = Number.NEGATIVE_INFINITY
  pacer.stepAt = 0
  pacer.steps = 0
  pacer.pacedFrom = Number.POSITIVE_INFINITY
  pacer.cuts++
  pacer.sinceCut = 0
}

/**
 * A request started at about `now` was throttled: counted, and with `cut`, the rate aims at the
 * admitted rate (once per cooldown).
 */
export const throttled = (pacer: Pacer, settings: PacerSettings, now: number, cut = true, sentAt?: number): void => {
  // The window of a slow rate is longer, so that it holds about ten starts.
  const window = pacer.rate === null ? settings.windowMillis : windowOf(settings, pacer.rate)
  trim(pacer.sent, now - retentionMillis)
  trim(pacer.throttled, now - retentionMillis)
  trim(pacer.succeeded, now - window)
  trim(pacer.empty, now - retentionMillis)
  pacer.throttled.push(now)
  if (!cut) return
  // The oldest earlier time this quota was empty, at least a cooldown ago and within about twenty
  // starts at the current rate: the reference of the measure.
  const horizon = now - (pacer.rate === null ? settings.windowMillis : referenceOf(settings, pacer.rate))
  const reference = pacer.empty.find((at) => at >= horizon && at <= now - settings.cooldownMillis)
  pacer.empty.push(now)
  // A throttle of this pacer's quota, cut or not: the next step up needs another whole second.
  pacer.stepAt = Math.max(pacer.stepAt, now)
  const stale = sentAt !== undefined && sentAt < pacer.pacedFrom
  if (pacer.rate !== null && pacer.learned && !stale && pacer.sinceCut >= holdStarts && emptySince(pacer, pacer.lastCutAt) === 1) {
    // The quota held this pace, or one just below it, for `holdStarts` starts since the last cut:
    // the throttle is a probe that found its top. Step back a little below it; that is the ceiling.
    pacer.ceiling = pacer.rate
    pacer.rate = Math.max(settings.minRate, pacer.rate * (1 - stepBack))
    cutAt(pacer, now)
    return
  }
  if (pacer.rate !== null && !pacer.learned && pacer.steps > 0 && !stale) {
    // A step up was throttled: the quota lies between the rate before the step (answered without a
    // throttle) and this one. Back to the former, learned as the ceiling's `aim`: from there the rate
    // creeps (a slow quota is probed rarely; a fast one is found again within seconds), and a later
    // throttle measures it.
    pacer.rate = Math.max(settings.minRate, pacer.rate / guessStep)
    pacer.ceiling = pacer.rate / settings.aim
    pacer.steps = 0
    pacer.learned = true
    cutAt(pacer, now)
    return
  }
  if (pacer.rate !== null && !pacer.learned && sentAt !== undefined) {
    // While guessing, a request sent at the guessed pace after the last cut and throttled says the
    // guess is too high: halve it (a measure over the second or two since would rest on a request
    // or two). One sent before the last cut went out at an older pace — a burst's requests still in
    // flight when pacing began — and says nothing about this one.
    if (sentAt >= pacer.pacedFrom) {
      pacer.rate = Math.max(settings.minRate, pacer.rate / 2)
      cutAt(pacer, now)
    }
    return
  }
  if (now - pacer.lastCutAt < settings.cooldownMillis) return
  pacer.lastCutAt = now
  if (pacer.rate === null) {
    // The guess, as requests per second: the requests that completed in the last second when any
    // did (a throttle that comes after answers: a slow quota), else those sent and not throttled
    // over the time since the first of them, at least 250 ms (a throttle at the very start: the
    // quota's burst, which says little about its rate — the first measure, a second later, does).
    pacer.engagedAt = now
    pacer.stepAt = now
    pacer.steps = 0
    let completed = 0
    for (const at of pacer.succeeded) if (at >= now - 1000) completed++
    const first = pacer.sent.find((at) => at >= now - 1000) ?? now
    const burst = (Math.max(1, admittedSince(pacer, now - 1000)) * 1000) / Math.max(250, now - first)
    const guess = completed > 0 ? completed : burst
    pacer.rate = Math.max(settings.minRate, settings.aim * guess)
    cutAt(pacer, now)
    return
  }
  // What the quota admitted is at most its rate (a bucket left full while nobody asked loses its
  // refill), and the pace that was throttled is above it: between the two, geometrically — a
  // bisection that narrows with every throttle instead of settling at the admitted rate.
  const admitted = reference !== undefined ? between(pacer, reference, now) : sinceEngaged(pacer, settings, now, window)
  const observed = pacer.rate > admitted ? Math.sqrt(admitted * pacer.rate) : admitted
  if (pacer.learned && !stale && observed >= nearTop * pacer.rate) {
    // The measure puts the quota near the pace (a bucket of one, paced just under its rate, loses
    // refill and reads a little low): a throttle at the top — the pace's jitter crossed the quota,
    // it did not move. Step back twice as far as after a hold; the throttled pace is the ceiling.
    pacer.ceiling = pacer.rate
    pacer.rate = Math.max(settings.minRate, pacer.rate * (1 - 2 * stepBack))
    cutAt(pacer, now)
    return
  }
  // A window with little demand measures low: the ceiling falls by at most a tenth per cut — but
  // never stays above a pace the quota just throttled.
  pacer.ceiling = Math.min(stale ? Number.POSITIVE_INFINITY : pacer.rate, Math.max(observed, 0.9 * pacer.ceiling))
  pacer.learned = true
  // A window with little demand measures low: one cut at most halves the rate. A throttle of a
  // request sent before the current pace began says nothing against it: the rate may then rise to
  // the measure (a guess halved below the quota).
  const measured = Math.max(pacer.rate / 2, settings.aim * observed)
  pacer.rate = Math.max(settings.minRate, stale ? measured : Math.min(pacer.rate, measured))
  cutAt(pacer, now)
}

/**
 * The measure between two throttles of this quota (`reference` and `now`, in the window): the quota
 * was empty at both, so what it admitted in between is what it refilled — its rate, whatever the
 * pace was (half a request added for the fraction of a token left at `now`). Counted at the start,
 * so it does not lag by the call's latency.
 */
const between = (pacer: Pacer, reference: number, now: number): number => {
  return ((admitted(pacer, (at) => at > reference && at <= now) + 0.5) * 1000) / (now - reference)
}

/**
 * The measure without an earlier throttle in the window: starts that were not throttled, per
 * second, since the pacer engaged (its own pace only) over at most the window — at least the
 * requests that completed since (sent minus throttled undercounts when the burst before engagement
 * is throttled after it).
 */
const sinceEngaged = (pacer: Pacer, settings: PacerSettings, now: number, window: number): number => {
  const since = Math.max(pacer.engagedAt, now - window)
  const span = Math.max(settings.cooldownMillis, now - since)
  let completed = 0
  for (const at of pacer.succeeded) if (at >= since) completed++
  return (Math.max(admittedSince(pacer, since), completed) * 1000) / span
}

/**
 * The rate changed down at `now`: starts are spaced by it from here on. Callers holding a slot
 * reserved before give it back when they wake (`abandon`) and take one at the new pace, so the
 * next slot is one new interval from now, not after the old reservations.
 */
const cutAt = (pacer: Pacer, now: number): void => {
  pacer.lastCutAt = now
  pacer.nextStart = now + 1000 / pacer.rate!
  // Every request sent after the cut went out at the new pace (`pace` makes callers holding an
  // older slot take a new one); one sent before, at an older pace.
  pacer.pacedFrom = now + 1
  pacer.answers = 0
  pacer.cuts++
  pacer.sinceCut = 0
}

/** Whether a request sent at `sentAt` had waited for its slot (a pressed start within half a slot before). */
const atPace = (pacer: Pacer, sentAt: number): boolean => {
  const slot = 1000 / pacer.rate!
  for (let i = pacer.pressed.length - 1; i >= 0; i--) {
    const start = pacer.pressed[i]!
    if (start <= sentAt + 1) return sentAt - start <= slot / 2
  }
  return false
}

/** Throttles of this pacer's own quota (`empty`) after `since` (the last cut, whose own throttle is at it), this one included. */
const emptySince = (pacer: Pacer, since: number): number => {
  let n = 0
  for (const at of pacer.empty) if (at > since) n++
  return n
}

/** Starts minus throttles at the times `within` takes (requests whose outcome is pending count as admitted). */
const admitted = (pacer: Pacer, within: (at: number) => boolean): number => {
  let sent = 0
  for (const at of pacer.sent) if (within(at)) sent++
  let throttles = 0
  for (const at of pacer.throttled) if (within(at)) throttles++
  return Math.max(0, sent - throttles)
}

/** Sent minus throttled since `since`. */
const admittedSince = (pacer: Pacer, since: number): number => admitted(pacer, (at) => at >= since)

/** How long starts, throttles and empty times are kept (ms): the longest span a measure looks back. */
const retentionMillis = 30_000

/**
 * How far back the measure between two throttles looks at `rate`: about twenty starts (at least
 * the window, at most `retentionMillis`) — at a slow quota a span of a second or two holds one or
 * two admitted requests, too few to tell 0.8 requests/s from 1.2.
 */
const referenceOf = (settings: PacerSettings, rate: number): number =>
  Math.min(retentionMillis, Math.max(settings.windowMillis, 20_000 / rate))

/** The measuring window at `rate`: `windowMillis`, or about ten starts if longer (at most 10 s). */
const windowOf = (settings: PacerSettings, rate: number): number =>
  Math.min(10_000, Math.max(settings.windowMillis, 10_000 / rate))
