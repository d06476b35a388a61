/**
 * The recertification policy, pure: from the latest results and what the control plane observed,
 * which (model, region) pairs to certify again, each with its reasons, within a run's limits.
 *
 * A pair is selected when its latest result (a) has expired or expires within the lead time, (b) was
 * produced by an older suite version, (c) predates a change of the model's lifecycle or of the
 * account's authorization in that region, or (e) is INCONCLUSIVE and older than the retry-after; and
 * (d) a pair the control plane discovered (new model or new region) that has no result yet. The
 * scheduler and `POST /recertify` both call {@link select}; the I/O around it (storage, registry,
 * clock) is theirs. Observations are plain values so the policy does not depend on where they come
 * from (the living registry, or a test's table).
 *
 * @since 0.1.0
 */
import type { ModelId, Region, Verdict } from "./Domain.ts"

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/** Why a pair is certified again. */
export type Reason = "expired" | "lifecycle" | "authorization" | "older-suite" | "inconclusive" | "expiring" | "discovered" | "requested"

/** Every reason, most urgent first: the order selections are ranked in when a limit cuts the run. */
export const reasons: ReadonlyArray<Reason> = [
  "expired",
  "lifecycle",
  "authorization",
  "older-suite",
  "inconclusive",
  "expiring",
  "discovered",
  "requested"
]

/** What the policy needs of a latest result (a `Unit` of the latest view fits). */
export interface LatestResult {
  readonly modelId: ModelId | string
  readonly hostModelId?: string | null | undefined
  readonly region: Region | string
  readonly status: Verdict | string
  readonly suiteVersion: string | null
  readonly completedAt: string | null
  readonly expiresAt: string | null
}

/** A fact the control plane observed, with the instant its current value was first seen. */
export interface ObservedFact {
  readonly value: string
  /** When the control plane first reported this value (the change, not the last poll). */
  readonly changedAt: string
}

/** What the control plane says about one (model, region) pair. */
export interface Observation {
  readonly modelId: ModelId | string
  readonly region: Region | string
  /** Lifecycle status (ACTIVE, LEGACY, …). */
  readonly lifecycle?: ObservedFact | undefined
  /** Authorization / entitlement / availability for this account. */
  readonly authorization?: ObservedFact | undefined
  /** When this pair (a new model, or a model in a new region) was first seen. */
  readonly discoveredAt?: string | undefined
}

/** The policy's settings. */
export interface Settings {
  /** Select results that expire within this many days (default 3). */
  readonly leadTimeDays: number
  /** Select INCONCLUSIVE results older than this many hours (default 6). */
  readonly retryAfterHours: number
  /** The suite version results are compared with (`Suite.version`). */
  readonly suiteVersion: string
  /** Which reasons this run selects for (default: all but `requested`). */
  readonly reasons: ReadonlyArray<Reason>
  /** Most pairs per run (the rest wait for the next run). */
  readonly maxUnits: number
  /** Most distinct regions per run. */
  readonly maxRegions: number
}

export const defaults: Omit<Settings, "suiteVersion"> = {
  leadTimeDays: 3,
  retryAfterHours: 6,
  reasons: reasons.filter((r) => r !== "requested"),
  maxUnits: 1_000,
  maxRegions: 20
}

/** Narrow the candidates before any reason is considered. An empty or absent list does not narrow. */
export interface Filter {
  readonly modelIds?: ReadonlyArray<string> | undefined
  readonly regions?: ReadonlyArray<string> | undefined
  readonly verdicts?: ReadonlyArray<Verdict> | undefined
}

export interface Input {
  /** Epoch milliseconds the run is judged at. */
  readonly now: number
  readonly latest: ReadonlyArray<LatestResult>
  readonly observations: ReadonlyArray<Observation>
  readonly settings: Settings
  readonly filter?: Filter | undefined
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/** One pair to certify again, with every reason that selected it (`reason` is the most urgent). */
export interface Selection {
  readonly modelId: string
  readonly hostModelId: string | null
  readonly region: string
  readonly reason: Reason
  readonly reasons: ReadonlyArray<Reason>
  /** One line a person reads: "expires 2026-12-29T…", "lifecycle ACTIVE→LEGACY at …". */
  readonly detail: string
}

export interface Result {
  readonly selected: ReadonlyArray<Selection>
  /** Pairs that were due but cut by `maxUnits` / `maxRegions`; the next run takes them. */
  readonly deferred: number
  /** Selected pairs per reason (each pair counted under its main reason). */
  readonly byReason: Readonly<Partial<Record<Reason, number>>>
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

const millisOf = (iso: string | null | undefined): number | null => {
  if (iso === null || iso === undefined) return null
  const t = Date.parse(iso)
  return Number.isNaN(t) ? null : t
}

/** Compare dotted versions numerically (`1.10.0` > `1.9.0`); non-numeric parts compare as text. */
export const compareVersions = (a: string, b: string): number => {
  const pa = a.split(".")
  const pb = b.split(".")
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "0"
    const y = pb[i] ?? "0"
    const nx = Number(x)
    const ny = Number(y)
    const c = Number.isInteger(nx) && Number.isInteger(ny) ? nx - ny : x < y ? -1 : x > y ? 1 : 0
    if (c !== 0) return c < 0 ? -1 : 1
  }
  return 0
}

const key = (modelId: string, region: string) => `${modelId}\u0000${region}`

interface Found {
  readonly reason: Reason
  readonly detail: string
}

/** The reasons one latest result is due, each with its detail. Data: one entry per rule. */
const rules: ReadonlyArray<(r: LatestResult, o: Observation | undefined, s: Settings, now: number) => Found | null> = [
  (r, _o, _s, now) => {
    const expires = millisOf(r.expiresAt)
    return expires !== null && expires <= now ? { reason: "expired", detail: `expired at ${r.expiresAt}` } : null
  },
  (r, o) => changedSince("lifecycle", o?.lifecycle, r),
  (r, o) => changedSince("authorization", o?.authorization, r),
  (r, _o, s) =>
    r.suiteVersion !== null && compareVersions(r.suiteVersion, s.suiteVersion) < 0
      ? { reason: "older-suite", detail: `suite ${r.suiteVersion} < ${s.suiteVersion}` }
      : null,
  (r, _o, s, now) => {
    const completed = millisOf(r.completedAt)
    return r.status === "INCONCLUSIVE" && completed !== null && now - completed >= s.retryAfterHours * HOUR_MS
      ? { reason: "inconclusive", detail: `INCONCLUSIVE since ${r.completedAt}` }
      : null
  },
  (r, _o, s, now) => {
    const expires = millisOf(r.expiresAt)
    return expires !== null && expires > now && expires <= now + s.leadTimeDays * DAY_MS
      ? { reason: "expiring", detail: `expires at ${r.expiresAt}` }
      : null
  }
]

function changedSince(reason: "lifecycle" | "authorization", fact: ObservedFact | undefined, r: LatestResult): Found | null {
  if (fact === undefined) return null
  const changed = millisOf(fact.changedAt)
  const completed = millisOf(r.completedAt)
  return changed !== null && completed !== null && changed > completed
    ? { reason, detail: `${reason} ${fact.value} since ${fact.changedAt}` }
    : null
}

const passes = (filter: Filter | undefined, modelId: string, hostModelId: string | null, region: string, status: string | null) => {
  if (filter === undefined) return true
  if (filter.modelIds !== undefined && filter.modelIds.length > 0) {
    if (!filter.modelIds.includes(modelId) && (hostModelId === null || !filter.modelIds.includes(hostModelId))) return false
  }
  if (filter.regions !== undefined && filter.regions.length > 0 && !filter.regions.includes(region)) return false
  if (filter.verdicts !== undefined && filter.verdicts.length > 0) {
    if (status === null || !filter.verdicts.includes(status as Verdict)) return false
  }
  return true
}

const rank = (reason: Reason): number => reasons.indexOf(reason)

/**
 * Select the pairs to certify again. Deterministic: the same input gives the same selections in the
 * same order (most urgent reason first, then the earliest expiry, then model id and region), so a
 * tick's selection — and the idempotency key derived from it — is the same in every process.
 */
export const select = (input: Input): Result => {
  const { filter, now, settings } = input
  const enabled = new Set(settings.reasons)
  const observations = new Map(input.observations.map((o) => [key(o.modelId, o.region), o]))
  const candidates: Array<Selection & { readonly expiresAt: number }> = []
  const seen = new Set<string>()

  for (const r of input.latest) {
    const k = key(r.modelId, r.region)
    if (seen.has(k)) continue
    seen.add(k)
    const hostModelId = r.hostModelId ?? null
    if (r.status === "CANCELLED") continue // a cancelled run says nothing about the model
    if (!passes(filter, r.modelId, hostModelId, r.region, r.status)) continue
    const found = rules.map((rule) => rule(r, observations.get(k), settings, now)).filter(
      (f): f is Found => f !== null && enabled.has(f.reason)
    )
    if (found.length === 0 && enabled.has("requested")) {
      found.push({ reason: "requested", detail: `latest ${r.status} at ${r.completedAt}` })
    }
    if (found.length === 0) continue
    candidates.push({
      modelId: r.modelId,
      hostModelId,
      region: r.region,
      reason: found[0]!.reason,
      reasons: found.map((f) => f.reason),
      detail: found.map((f) => f.detail).join("; "),
      expiresAt: millisOf(r.expiresAt) ?? Number.MAX_SAFE_INTEGER
    })
  }

  if (enabled.has("discovered")) {
    for (const o of input.observations) {
      const k = key(o.modelId, o.region)
      if (seen.has(k) || o.discoveredAt === undefined || millisOf(o.discoveredAt) === null) continue
      seen.add(k)
      if (!passes(filter, o.modelId, null, o.region, null)) continue
      candidates.push({
        modelId: o.modelId,
        hostModelId: null,
        region: o.region,
        reason: "discovered",
        reasons: ["discovered"],
        detail: `discovered at ${o.discoveredAt}`,
        expiresAt: Number.MAX_SAFE_INTEGER
      })
    }
  }

  candidates.sort((a, b) =>
    rank(a.reason) - rank(b.reason) || a.expiresAt - b.expiresAt ||
    (a.modelId < b.modelId ? -1 : a.modelId > b.modelId ? 1 : a.region < b.region ? -1 : a.region > b.region ? 1 : 0)
  )

  const selected: Array<Selection> = []
  const regions = new Set<string>()
  const byReason: Partial<Record<Reason, number>> = {}
  for (const c of candidates) {
    if (selected.length >= settings.maxUnits) break
    if (!regions.has(c.region) && regions.size >= settings.maxRegions) continue
    regions.add(c.region)
    const { expiresAt: _expiresAt, ...selection } = c
    selected.push(selection)
    byReason[c.reason] = (byReason[c.reason] ?? 0) + 1
  }
  return { selected, deferred: candidates.length - selected.length, byReason }
}

/** "3 expiring, 1 lifecycle": the reasons of a run, for logs and progress events. */
export const describeReasons = (byReason: Readonly<Partial<Record<Reason, number>>>): string =>
  reasons.filter((r) => (byReason[r] ?? 0) > 0).map((r) => `${byReason[r]} ${r}`).join(", ") || "none"

// ---------------------------------------------------------------------------------------------
// Change tracking: from snapshots of the control plane to observations with change times
// ---------------------------------------------------------------------------------------------

/** What one look at the control plane said about a pair (no history). */
export interface Snapshot {
  readonly modelId: string
  readonly region: string
  readonly lifecycle?: string | undefined
  readonly authorization?: string | undefined
}

/** Before any change: a value first seen that matches what was declared is not a change. */
export const sinceEver = "1970-01-01T00:00:00.000Z"

/**
 * Fold a snapshot taken at `at` into the tracked observations: a value that differs from the last
 * one seen changes at `at`; a first value changes at `at` only when it differs from what the
 * registry declared (`declared`); a pair the registry does not know (`known` false) is discovered at
 * `at`, once. Pairs the snapshot does not cover keep their tracked facts.
 */
export const track = (
  previous: ReadonlyArray<Observation>,
  snapshot: ReadonlyArray<Snapshot>,
  at: string,
  registry: {
    readonly declared: (modelId: string) => { readonly lifecycle?: string | undefined }
    readonly known: (modelId: string, region: string) => boolean
  }
): ReadonlyArray<Observation> => {
  const out = new Map(previous.map((o) => [key(o.modelId, o.region), o]))
  const fold = (last: ObservedFact | undefined, value: string | undefined, declared: string | undefined) =>
    value === undefined
      ? last
      : last !== undefined
      ? last.value === value ? last : { value, changedAt: at }
      : { value, changedAt: declared === undefined || declared === value ? sinceEver : at }
  for (const s of snapshot) {
    const k = key(s.modelId, s.region)
    const last = out.get(k)
    const lifecycle = fold(last?.lifecycle, s.lifecycle, registry.declared(s.modelId).lifecycle)
    const authorization = fold(last?.authorization, s.authorization, undefined)
    const discoveredAt = last?.discoveredAt ?? (registry.known(s.modelId, s.region) ? undefined : at)
    out.set(k, {
      modelId: s.modelId,
      region: s.region,
      ...(lifecycle === undefined ? {} : { lifecycle }),
      ...(authorization === undefined ? {} : { authorization }),
      ...(discoveredAt === undefined ? {} : { discoveredAt })
    })
  }
  return [...out.values()]
}
