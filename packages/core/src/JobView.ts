/**
 * The job detail a UI polls, built so that it stays small and fast for a 20,000-unit job (issue 16).
 *
 * A detail read is the job row, its counts, one page of its units (filtered, at most
 * `Storage.maxUnitsPageSize`, test records only when asked) and a compact summary: units per
 * region and per verdict, and the model × region matrix as one status code per cell. The summary
 * comes from `Storage.unitCells` (no test records); it is cached per job and rebuilt only when the
 * job's counts or status change. The job, its counts and the page come from one `Storage.jobDetail`
 * read (PostgreSQL: one statement, counts kept by the unit writes), so polling a large job costs about
 * one page read.
 *
 * @since 0.2.0
 */
import type { JobCounts, JobStatus, ModelId, Region, UnitStatus, Verdict } from "./Domain.ts"
import * as Domain from "./Domain.ts"
import * as JobStateMachine from "./JobStateMachine.ts"
import type { UnitCell } from "./Storage.ts"

/** One letter per unit status, for the matrix (the legend travels with it as `JobSummaryView.codes`). */
export const statusCodes: { readonly [S in UnitStatus]: string } = {
  PENDING: "P",
  QUEUED: "Q",
  PROCESSING: "R",
  CERTIFIED: "C",
  QUALITY_WARNING: "W",
  FAILED: "F",
  UNAVAILABLE: "A",
  UNSUPPORTED: "U",
  INCONCLUSIVE: "I",
  CANCELLED: "X"
}

/** The letter of a matrix cell with no unit (that model was not run in that region). */
export const noUnitCode = "."

/** Units of one region of a job, by status. */
export interface RegionSummary {
  readonly region: Region
  readonly total: number
  /** Units with a verdict. */
  readonly completed: number
  /** CERTIFIED or QUALITY_WARNING. */
  readonly passed: number
  readonly byStatus: Readonly<Partial<Record<UnitStatus, number>>>
}

/**
 * The model × region matrix: `rows[i]` is `modelIds[i]`, its j-th letter the status code of that
 * model in `regions[j]` (`noUnitCode` where the job has no such unit).
 */
export interface Matrix {
  readonly modelIds: ReadonlyArray<ModelId>
  readonly regions: ReadonlyArray<Region>
  readonly rows: ReadonlyArray<string>
}

/** The compact summary of a job. */
export interface JobSummaryView {
  readonly byRegion: ReadonlyArray<RegionSummary>
  readonly byVerdict: Readonly<Record<Verdict, number>>
  readonly matrix: Matrix
  /** Status code → status, the legend of `matrix.rows`. */
  readonly codes: Readonly<Record<string, UnitStatus>>
}

const legend: Readonly<Record<string, UnitStatus>> = Object.fromEntries(
  Object.entries(statusCodes).map(([status, code]) => [code, status as UnitStatus])
)

/** The summary of a job from its cells (ordered by model id then region, as storage returns them). */
export const summarize = (cells: ReadonlyArray<UnitCell>): JobSummaryView => {
  const regionIndex = new Map<Region, number>()
  const modelIndex = new Map<ModelId, number>()
  for (const cell of cells) {
    if (!regionIndex.has(cell.region)) regionIndex.set(cell.region, 0)
    if (!modelIndex.has(cell.modelId)) modelIndex.set(cell.modelId, modelIndex.size)
  }
  const regions = Array.from(regionIndex.keys()).sort()
  regions.forEach((r, i) => regionIndex.set(r, i))
  const modelIds = Array.from(modelIndex.keys())
  const grid = modelIds.map(() => Array.from({ length: regions.length }, () => noUnitCode))
  const byVerdict = Object.fromEntries(Domain.verdicts.map((v) => [v, 0])) as Record<Verdict, number>
  const byRegion = regions.map((region) => ({
    region,
    total: 0,
    completed: 0,
    passed: 0,
    byStatus: {} as Partial<Record<UnitStatus, number>>
  }))
  for (const cell of cells) {
    const r = regionIndex.get(cell.region)!
    grid[modelIndex.get(cell.modelId)!]![r] = statusCodes[cell.status]
    const summary = byRegion[r]!
    summary.total++
    summary.byStatus[cell.status] = (summary.byStatus[cell.status] ?? 0) + 1
    const verdict = Domain.verdictOf(cell)
    if (verdict === null) continue
    summary.completed++
    byVerdict[verdict]++
    if (Domain.isPassed(verdict)) summary.passed++
  }
  return { byRegion, byVerdict, matrix: { modelIds, regions, rows: grid.map((row) => row.join("")) }, codes: legend }
}

/** What a cached summary was built from: it is rebuilt when either changes. */
const versionOf = (status: JobStatus, counts: JobCounts): string =>
  `${status}|${counts.pending}|${counts.queued}|${counts.processing}|${
    Domain.verdicts.map((v) => counts.byVerdict[v]).join(",")
  }`

interface Entry {
  readonly version: string
  readonly summary: JobSummaryView
  readonly builtAt: number
}

/** How long a live job's summary may lag its counts (default of `makeSummaryCache`). */
export const defaultMaxStaleMillis = 1_000

/**
 * A bounded per-process cache of job summaries (LRU, `capacity` jobs).
 *
 * **Details**: a summary is checked against the job's status and counts, read fresh (with the job
 * row and the page) on every detail request. While the job is live (not COMPLETED, FAILED or
 * CANCELLED) a summary built less than `maxStaleMillis` ago is served even if the counts moved
 * since, so a running 20,000-unit job polled by many clients rebuilds it (one read of every cell)
 * at most about once per `maxStaleMillis`, not once per request; the counts beside it are always
 * exact. A terminal job's summary is rebuilt once for its final counts and then kept (its units
 * never change again, `Storage`'s contract).
 *
 * **Gotchas**: two units of a live job moving in opposite directions between two reads (one
 * claimed, another given back) leave the counts equal; such a summary is stale until the next
 * change of counts.
 */
export const makeSummaryCache = (capacity = 256, maxStaleMillis = defaultMaxStaleMillis) => {
  const entries = new Map<string, Entry>()
  const touch = (jobId: string, entry: Entry): void => {
    // Map keeps insertion order: the first key is the least recently used.
    entries.delete(jobId)
    entries.set(jobId, entry)
  }
  return {
    /** The summary for these counts, or a recent one of the live job (`nowMillis`: the caller's clock). */
    get: (jobId: string, status: JobStatus, counts: JobCounts, nowMillis: number): JobSummaryView | undefined => {
      const entry = entries.get(jobId)
      if (entry === undefined) return undefined
      const usable = entry.version === versionOf(status, counts) ||
        (!JobStateMachine.isTerminalJob(status) && nowMillis - entry.builtAt < maxStaleMillis)
      if (!usable) return undefined
      touch(jobId, entry)
      return entry.summary
    },
    set: (jobId: string, status: JobStatus, counts: JobCounts, summary: JobSummaryView, nowMillis: number): void => {
      touch(jobId, { version: versionOf(status, counts), summary, builtAt: nowMillis })
      if (entries.size > capacity) entries.delete(entries.keys().next().value!)
    }
  }
}
