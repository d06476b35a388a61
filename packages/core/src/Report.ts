/**
 * What a user takes away from a certification: a JSON export of every unit, a capability manifest
 * (measured capabilities per account × region × model, for routers and apps), and a readable
 * terminal table with summaries by region and by verdict. Pure functions over job details.
 *
 * @since 0.1.0
 */
import type { Job, TestResult, Unit, Verdict } from "./Domain.ts"
import { verdicts, verdictOf } from "./Domain.ts"
import * as ErrorCategory from "./ErrorCategory.ts"

/** One unit as exported: flat fields a spreadsheet or a router can read. */
export interface ExportedUnit {
  readonly unitId: string
  readonly modelId: string
  readonly hostModelId: string | null
  readonly region: string
  readonly verdict: Verdict | null
  readonly score: number | null
  readonly grade: string | null
  readonly stars: number | null
  readonly errorCategory: string | null
  readonly errorMessage: string | null
  readonly awsErrorName: string | null
  readonly requestId: string | null
  readonly hint: string | null
  readonly invocationTarget: string | null
  readonly invocationKind: string | null
  readonly suiteVersion: string | null
  readonly findings: ReadonlyArray<string>
  readonly attempts: number
  readonly durationMs: number | null
  readonly completedAt: string | null
  readonly expiresAt: string | null
  readonly tests: ReadonlyArray<{
    readonly id: string
    readonly status: string
    readonly critical: boolean
    readonly latencyMs: number | null
    readonly ttftMs: number | null
    readonly outputTokensPerSecond: number | null
    readonly attempts: number
    readonly detail: string | null
    readonly errorCategory: string | null
  }>
}

export interface Summary {
  readonly byVerdict: Readonly<Partial<Record<Verdict, number>>>
  readonly byRegion: Readonly<Record<string, Readonly<Partial<Record<Verdict, number>>>>>
}

export interface ResultsFile {
  readonly job: Job
  readonly summary: Summary
  readonly units: ReadonlyArray<ExportedUnit>
}

/** Export one unit. */
export const exportUnit = (unit: Unit): ExportedUnit => ({
  unitId: unit.id,
  modelId: unit.modelId,
  hostModelId: unit.hostModelId,
  region: unit.region,
  verdict: verdictOf(unit),
  score: unit.score,
  grade: unit.grade,
  stars: unit.stars,
  errorCategory: unit.error?.category ?? null,
  errorMessage: unit.error?.message ?? null,
  awsErrorName: unit.error?.awsErrorName ?? null,
  requestId: unit.error?.requestId ?? null,
  hint: unit.error === null ? null : unit.error.hint || ErrorCategory.describe(unit.error.category).hint,
  invocationTarget: unit.invocationTarget?.id ?? null,
  invocationKind: unit.invocationTarget?.kind ?? null,
  suiteVersion: unit.suiteVersion,
  findings: unit.findings,
  attempts: unit.attempts,
  durationMs: unit.durationMs,
  completedAt: unit.completedAt,
  expiresAt: unit.expiresAt,
  tests: unit.tests.map((t) => ({
    id: t.id,
    status: t.status,
    critical: t.critical,
    latencyMs: t.latencyMs,
    ttftMs: t.ttftMs,
    outputTokensPerSecond: t.outputTokensPerSecond,
    attempts: t.attempts,
    detail: t.detail,
    errorCategory: t.error?.category ?? null
  }))
})

/** Counts by verdict and by region × verdict. */
export const summarize = (units: ReadonlyArray<Unit>): Summary => {
  const byVerdict: Partial<Record<Verdict, number>> = {}
  const byRegion: Record<string, Partial<Record<Verdict, number>>> = {}
  for (const unit of units) {
    const v = verdictOf(unit)
    if (v === null) continue
    byVerdict[v] = (byVerdict[v] ?? 0) + 1
    const r = (byRegion[unit.region] ??= {})
    r[v] = (r[v] ?? 0) + 1
  }
  return { byVerdict, byRegion }
}

/** The results file: the job, a summary and every unit. */
export const resultsFile = (job: Job, units: ReadonlyArray<Unit>): ResultsFile => ({
  job,
  summary: summarize(units),
  units: units.map(exportUnit)
})

// ---------------------------------------------------------------------------------------------
// Capability manifest
// ---------------------------------------------------------------------------------------------

/** A measured capability: `yes` (passed), `no` (failed, refused, or ruled out), `untested`. */
export type Measured = "yes" | "no" | "degraded" | "untested"

/** Which capability each suite test measures. */
export const capabilityOfTest: Readonly<Record<string, string>> = {
  connectivity: "converse",
  instruction: "instructionFollowing",
  "system-prompt": "systemPrompt",
  "multi-turn": "multiTurn",
  "max-tokens": "maxTokens",
  json: "json",
  streaming: "streaming",
  "tool-use": "toolUse",
  "tool-use-streaming": "streamingToolUse",
  vision: "vision",
  document: "documents",
  embedding: "embedding",
  "embedding-similarity": "embeddingSimilarity"
}

const measuredOf = (t: TestResult): Measured => {
  switch (t.status) {
    case "PASSED":
      return "yes"
    case "FAILED":
      return t.error?.category === "UNSUPPORTED_FEATURE" ? "no" : "degraded"
    case "SKIPPED":
      return t.detail !== null && /unsupported/.test(t.detail) ? "no" : "untested"
    default:
      return "untested"
  }
}

const median = (xs: ReadonlyArray<number>): number | null => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : Math.round(((s[m - 1]! + s[m]!) / 2) * 100) / 100
}

export interface ManifestEntry {
  readonly modelId: string
  readonly hostModelId: string | null
  readonly region: string
  readonly verdict: Verdict | null
  readonly usable: boolean
  /** The id or ARN to call: routers should use this, not the base id. */
  readonly invocationTarget: string | null
  readonly capabilities: Readonly<Record<string, Measured>>
  readonly medianLatencyMs: number | null
  readonly medianTtftMs: number | null
  readonly score: number | null
  readonly grade: string | null
  readonly certifiedAt: string | null
  readonly expiresAt: string | null
}

export interface CapabilityManifest {
  readonly kind: "myia.certification/capability-manifest"
  readonly version: 1
  readonly suiteVersion: string | null
  readonly generatedAt: string
  readonly account: string | null
  readonly entries: ReadonlyArray<ManifestEntry>
}

/** Measured capabilities per region × model, from terminal units. */
export const manifest = (
  units: ReadonlyArray<Unit>,
  options: { readonly generatedAt: string; readonly account?: string | null }
): CapabilityManifest => ({
  kind: "myia.certification/capability-manifest",
  version: 1,
  suiteVersion: units.find((u) => u.suiteVersion !== null)?.suiteVersion ?? null,
  generatedAt: options.generatedAt,
  account: options.account ?? null,
  entries: units.filter((u) => verdictOf(u) !== null).map((u) => {
    const v = verdictOf(u)
    const capabilities: Record<string, Measured> = {}
    for (const t of u.tests) capabilities[capabilityOfTest[t.id] ?? t.id] = measuredOf(t)
    return {
      modelId: u.modelId,
      hostModelId: u.hostModelId,
      region: u.region,
      verdict: v,
      usable: v === "CERTIFIED" || v === "QUALITY_WARNING",
      invocationTarget: u.invocationTarget?.id ?? null,
      capabilities,
      medianLatencyMs: median(u.tests.flatMap((t) => (t.latencyMs === null ? [] : [t.latencyMs]))),
      medianTtftMs: median(u.tests.flatMap((t) => (t.ttftMs === null ? [] : [t.ttftMs]))),
      score: u.score,
      grade: u.grade,
      certifiedAt: u.completedAt,
      expiresAt: u.expiresAt
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Terminal rendering
// ---------------------------------------------------------------------------------------------

const colours: Readonly<Record<Verdict, string>> = {
  CERTIFIED: "\x1b[32m",
  QUALITY_WARNING: "\x1b[33m",
  FAILED: "\x1b[31m",
  UNAVAILABLE: "\x1b[35m",
  UNSUPPORTED: "\x1b[90m",
  INCONCLUSIVE: "\x1b[36m",
  CANCELLED: "\x1b[90m"
}

const pad = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n))

/** A results table, one row per unit, sorted by region then model. */
export const renderTable = (units: ReadonlyArray<Unit>, options: { readonly colour?: boolean } = {}): string => {
  const paint = (v: Verdict | null, s: string) => (options.colour && v !== null ? `${colours[v]}${s}\x1b[0m` : s)
  const header = [
    pad("MODEL", 44),
    pad("REGION", 14),
    pad("VERDICT", 15),
    pad("SCORE", 6),
    pad("GR", 3),
    pad("LAT ms", 7),
    pad("TTFT ms", 8),
    pad("ERROR", 26),
    "HINT"
  ].join(" ")
  const rows = [...units]
    .sort((a, b) => a.region.localeCompare(b.region) || a.modelId.localeCompare(b.modelId))
    .map((u) => {
      const v = verdictOf(u)
      const lat = median(u.tests.flatMap((t) => (t.latencyMs === null ? [] : [t.latencyMs])))
      const ttft = median(u.tests.flatMap((t) => (t.ttftMs === null ? [] : [t.ttftMs])))
      const hint = u.error === null ? (u.findings[0] ?? "") : u.error.hint
      return [
        pad(u.hostModelId ?? u.modelId, 44),
        pad(u.region, 14),
        paint(v, pad(v ?? u.status, 15)),
        pad(u.score === null ? "-" : u.score.toFixed(1), 6),
        pad(u.grade ?? "-", 3),
        pad(lat === null ? "-" : String(Math.round(lat)), 7),
        pad(ttft === null ? "-" : String(Math.round(ttft)), 8),
        pad(u.error?.category ?? "", 26),
        hint.length > 90 ? `${hint.slice(0, 89)}…` : hint
      ].join(" ")
    })
  return [header, "-".repeat(header.length), ...rows].join("\n")
}

/** Summaries by verdict and by region. */
export const renderSummary = (units: ReadonlyArray<Unit>, options: { readonly colour?: boolean } = {}): string => {
  const { byRegion, byVerdict } = summarize(units)
  const paint = (v: Verdict, s: string) => (options.colour ? `${colours[v]}${s}\x1b[0m` : s)
  const shown = verdicts.filter((v) => (byVerdict[v] ?? 0) > 0)
  const lines: Array<string> = ["By verdict:"]
  for (const v of shown) lines.push(`  ${paint(v, pad(v, 16))} ${byVerdict[v]}`)
  lines.push("", "By region:", `  ${pad("REGION", 16)} ${shown.map((v) => pad(v.slice(0, 12), 13)).join(" ")}`)
  for (const region of Object.keys(byRegion).sort()) {
    const counts = byRegion[region]!
    lines.push(`  ${pad(region, 16)} ${shown.map((v) => pad(String(counts[v] ?? 0), 13)).join(" ")}`)
  }
  return lines.join("\n")
}

/** A one-line progress bar: `[#####.....] 120/270 units (44%)`. */
export const renderProgress = (done: number, total: number, width = 30): string => {
  const ratio = total === 0 ? 1 : Math.min(1, done / total)
  const filled = Math.round(ratio * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} units (${Math.round(ratio * 100)}%)`
}
