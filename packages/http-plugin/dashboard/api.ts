/**
 * The dashboard's one door to the certification API: every call goes through the API (and so
 * through the host's authorize hook), relative to the page, so the page works under any base path.
 * The page lives at `<base>/ui`; `new URL("history", location)` is `<base>/history`.
 *
 * Auth: a bearer token (kept by the caller in `sessionStorage`) goes in the `Authorization` header,
 * never in a URL; without one, the browser's own cookies apply (`credentials: "same-origin"`), so
 * hosts with cookie or session auth work as they are. Progress streams are read with `fetch` (an
 * `EventSource` cannot send a header).
 *
 * Endpoints that other work may add (paged job detail, `/schedule`) are probed: a 404 means
 * "not there", and the page hides what needs them.
 */

import { readSse } from "./sse.ts"

/** The API's error envelope, with the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown
  ) {
    super(message)
  }
}

export type Verdict =
  | "CERTIFIED"
  | "QUALITY_WARNING"
  | "FAILED"
  | "UNAVAILABLE"
  | "UNSUPPORTED"
  | "INCONCLUSIVE"
  | "CANCELLED"

export const verdicts: ReadonlyArray<Verdict> = [
  "CERTIFIED",
  "QUALITY_WARNING",
  "FAILED",
  "UNAVAILABLE",
  "UNSUPPORTED",
  "INCONCLUSIVE",
  "CANCELLED"
]

export const terminalJob: ReadonlyArray<string> = ["COMPLETED", "FAILED", "CANCELLED"]

export interface Principal {
  readonly id: string
  readonly canRead: boolean
  readonly canWrite: boolean
}

export interface TestRecord {
  readonly id: string
  readonly name: string
  readonly status: string
  readonly critical: boolean
  readonly latencyMs: number | null
  readonly ttftMs: number | null
  readonly attempts: number
  readonly detail: string | null
  readonly error: CategorizedError | null
}

export interface CategorizedError {
  readonly category: string
  readonly hint: string
  readonly message: string
}

export interface UnitRow {
  readonly id: string
  readonly jobId: string
  readonly modelId: string
  readonly region: string
  readonly status: string
  readonly invocationTarget: { readonly kind: string; readonly id: string } | null
  readonly tests: ReadonlyArray<TestRecord>
  readonly score: number | null
  readonly rating: string | null
  readonly error: CategorizedError | null
  readonly findings: ReadonlyArray<string>
  readonly completedAt: string | null
  readonly expiresAt: string | null
  readonly duration: number | null
  readonly model: { readonly id: string; readonly name: string; readonly vendor: string }
  /** Present once the API reports what changed since the previous run. */
  readonly previousStatus?: string | null
}

export interface Counts {
  readonly total: number
  readonly pending: number
  readonly queued: number
  readonly processing: number
  readonly completed: number
  readonly passed: number
  readonly byVerdict: Readonly<Record<string, number>>
}

export interface JobSummary {
  readonly id: string
  readonly type: string
  readonly status: string
  readonly modelIds: ReadonlyArray<string>
  readonly regions: ReadonlyArray<string>
  readonly totalUnits: number
  readonly createdBy: string | null
  readonly reason: string | null
  readonly createdAt: string
  readonly completedAt: string | null
  readonly counts: Counts
}

/** The model × region letters of a job (when the API sends its summary): `rows[i][j]` is `codes` of `modelIds[i]` in `regions[j]`. */
export interface JobMatrix {
  readonly modelIds: ReadonlyArray<string>
  readonly regions: ReadonlyArray<string>
  readonly rows: ReadonlyArray<string>
  readonly codes: Readonly<Record<string, string>>
}

export interface JobDetail extends JobSummary {
  readonly certifications: ReadonlyArray<UnitRow>
  readonly unitsPagination?: Pagination
  readonly testsIncluded?: boolean
  readonly summary?: { readonly matrix: Omit<JobMatrix, "codes">; readonly codes: Readonly<Record<string, string>> }
}

export interface Pagination {
  readonly page: number
  readonly limit: number
  readonly total: number
  readonly totalPages: number
}

export interface Stats {
  readonly jobsByStatus: Readonly<Record<string, number>>
  readonly unitsByVerdict: Readonly<Record<string, number>>
  readonly unitsByRegion: ReadonlyArray<{
    readonly region: string
    readonly total: number
    readonly passed: number
    readonly byVerdict: Readonly<Record<string, number>>
  }>
  readonly errorsByCategory: Readonly<Record<string, number>>
  readonly queue: Readonly<Record<string, number>>
}

export interface ModelEntry {
  readonly id: string
  readonly name: string
  readonly vendor: string
  readonly modality: string
  readonly lifecycle: string
  readonly capabilities: Readonly<Record<string, string>>
}

export interface RegionInfo {
  readonly id: string
  readonly name: string
}

export interface CreatedJob {
  readonly jobId: string
  readonly totalJobs: number
  readonly skipped: ReadonlyArray<{ readonly modelId: string; readonly region: string; readonly message: string }>
}

export interface ProgressEvent {
  readonly jobId: string
  readonly type: string
  readonly unitId: string | null
  readonly status: string
}

/** A page of a job's units: from the API when it pages, else cut from the whole list. */
export interface UnitsPage {
  readonly units: ReadonlyArray<UnitRow>
  readonly page: number
  readonly totalPages: number
  readonly total: number
}

export interface Client {
  readonly principal: () => Promise<Principal>
  readonly latest: () => Promise<ReadonlyArray<UnitRow>>
  readonly models: () => Promise<ReadonlyArray<ModelEntry>>
  readonly regions: () => Promise<ReadonlyArray<RegionInfo>>
  readonly history: (page: number) => Promise<{ jobs: ReadonlyArray<JobSummary>; pagination: Pagination }>
  readonly job: (jobId: string, page: number, limit: number) => Promise<{ job: JobDetail; units: UnitsPage; matrix: JobMatrix | null }>
  /** A unit with its test records (fetched when a paged job detail left them out). */
  readonly unit: (row: UnitRow) => Promise<UnitRow>
  /** Which optional operations the API has (from `/openapi.json`): `"POST /jobs/{jobId}/pause"`… */
  readonly operations: () => Promise<ReadonlySet<string>>
  readonly stats: () => Promise<Stats>
  /** The recertification schedule, or `undefined` when the host does not serve one (404). */
  readonly schedule: () => Promise<unknown>
  readonly previousVerdict: (unit: UnitRow) => Promise<string | null>
  readonly certify: (modelIds: ReadonlyArray<string>, regions: ReadonlyArray<string>) => Promise<CreatedJob>
  readonly cancel: (jobId: string) => Promise<unknown>
  readonly retry: (jobId: string) => Promise<CreatedJob>
  readonly pause: (jobId: string) => Promise<unknown>
  readonly resume: (jobId: string) => Promise<unknown>
  /** Follow a job's progress until it ends or `signal` aborts; resolves when the stream closes. */
  readonly events: (jobId: string, onEvent: (event: ProgressEvent) => void, signal: AbortSignal) => Promise<void>
}

const pageLimit = 100

/** A client of the API under the page's base path, authenticating with `token` when given. */
export const makeClient = (token: string | null, base: URL = new URL(".", location.href)): Client => {
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    accept: "application/json",
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...extra
  })
  const url = (path: string, query: Record<string, string | number | undefined> = {}) => {
    const u = new URL(path, base)
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v))
    return u
  }

  const call = async <A>(method: string, path: string, options: { query?: Record<string, string | number | undefined>; body?: unknown } = {}): Promise<A> => {
    const response = await fetch(url(path, options.query), {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: headers(options.body === undefined ? {} : { "content-type": "application/json" }),
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
    })
    const envelope = await response.json().catch(() => null) as
      | { status: "success"; data: A }
      | { status: "error"; error: { code: string; message: string; details?: unknown } }
      | null
    if (envelope === null) throw new ApiError(response.status, "BAD_RESPONSE", `the server answered ${response.status}`)
    if (envelope.status === "error") {
      throw new ApiError(response.status, envelope.error.code, envelope.error.message, envelope.error.details)
    }
    return envelope.data
  }
  const get = <A>(path: string, query?: Record<string, string | number | undefined>) =>
    call<A>("GET", path, query === undefined ? {} : { query })

  // The largest page the host allows: 100 unless its `maxPageSize` is lower (then its default).
  let limit: number | undefined = pageLimit
  const paged = async <A>(path: string, query: Record<string, string | number | undefined>) => {
    try {
      return await get<A>(path, { ...query, limit })
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 400 || limit === undefined) throw e
      limit = undefined
      return get<A>(path, query)
    }
  }

  const latest = async () => {
    const first = await paged<{ certifications: ReadonlyArray<UnitRow>; pagination: Pagination }>("certifications", { page: 1 })
    const rest = await Promise.all(
      Array.from({ length: Math.min(first.pagination.totalPages, 50) - 1 }, (_, i) =>
        paged<{ certifications: ReadonlyArray<UnitRow> }>("certifications", { page: i + 2 }))
    )
    return [...first.certifications, ...rest.flatMap((p) => p.certifications)]
  }

  const job = async (jobId: string, page: number, limit: number) => {
    const detail = await get<JobDetail & { unitsPagination?: Pagination }>(`jobs/${encodeURIComponent(jobId)}`, {
      unitsPage: page,
      unitsLimit: limit
    })
    // A paging API answers one page and says so; one without paging answers every unit, cut here.
    const p = detail.unitsPagination
    const units: UnitsPage = p !== undefined
      ? { units: detail.certifications, page: p.page, totalPages: Math.max(p.totalPages, 1), total: p.total }
      : {
        units: detail.certifications.slice((page - 1) * limit, page * limit),
        page,
        totalPages: Math.max(Math.ceil(detail.certifications.length / limit), 1),
        total: detail.certifications.length
      }
    const matrix = detail.summary === undefined ? null : { ...detail.summary.matrix, codes: detail.summary.codes }
    return { job: detail, units, matrix }
  }

  const unit = async (row: UnitRow): Promise<UnitRow> => {
    if (row.tests.length > 0) return row
    try {
      return await get<UnitRow>(`jobs/${encodeURIComponent(row.jobId)}/units/${encodeURIComponent(row.id)}`)
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return row
      throw e
    }
  }

  // The API's own description says which optional operations (pause, resume…) this host has.
  let operations: Promise<ReadonlySet<string>> | undefined
  const loadOperations = () =>
    operations ??= fetch(url("openapi.json"), { credentials: "same-origin", headers: headers() })
      .then((r) => (r.ok ? r.json() : { paths: {} }) as Promise<{ paths?: Record<string, Record<string, unknown>> }>)
      .then((spec) =>
        new Set(Object.entries(spec.paths ?? {}).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)))
      )
      .catch(() => new Set<string>())

  const previousVerdict = async (unit: UnitRow): Promise<string | null> => {
    if (unit.previousStatus !== undefined) return unit.previousStatus
    // Walk recent history for an earlier job of this model in this region.
    const { jobs } = await paged<{ jobs: ReadonlyArray<JobSummary> }>("history", { page: 1 })
    const earlier = jobs.filter((j) =>
      j.id !== unit.jobId && j.createdAt < (unit.completedAt ?? "9") && j.modelIds.includes(unit.modelId) &&
      j.regions.includes(unit.region) && terminalJob.includes(j.status)
    ).slice(0, 5)
    for (const candidate of earlier) {
      const detail = await get<JobDetail>(`jobs/${encodeURIComponent(candidate.id)}`, { modelId: unit.modelId, region: unit.region })
      const match = detail.certifications.find((u) =>
        u.modelId === unit.modelId && u.region === unit.region && (verdicts as ReadonlyArray<string>).includes(u.status)
      )
      if (match !== undefined) return match.status
    }
    return null
  }

  const events = async (jobId: string, onEvent: (event: ProgressEvent) => void, signal: AbortSignal) => {
    let lastId: string | undefined
    // Reconnect (resuming from the last id) until the job ends or the page stops listening.
    for (let attempt = 0; attempt < 20 && !signal.aborted; attempt++) {
      let ended = false
      try {
        const response = await fetch(url(`jobs/${encodeURIComponent(jobId)}/events`), {
          credentials: "same-origin",
          cache: "no-store",
          headers: headers({ accept: "text/event-stream", ...(lastId === undefined ? {} : { "last-event-id": lastId }) }),
          signal
        })
        if (!response.ok || response.body === null) return
        await readSse(response.body, (id, data) => {
          if (id !== undefined) lastId = id
          const event = JSON.parse(data) as ProgressEvent
          onEvent(event)
          if (event.type === "job-status" && terminalJob.includes(event.status)) ended = true
        })
        if (ended) return
      } catch {
        if (signal.aborted) return
      }
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  }

  return {
    principal: () => get("principal"),
    latest,
    models: () => get("models"),
    regions: () => get("regions"),
    history: (page) => get("history", { page, limit: 20 }),
    job,
    unit,
    operations: loadOperations,
    stats: () => get("stats"),
    schedule: () =>
      get("schedule").catch((e: unknown) => {
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return undefined
        throw e
      }),
    previousVerdict,
    certify: (modelIds, regions) => call("POST", "certify-multiple", { body: { modelIds, regions } }),
    cancel: (jobId) => call("DELETE", `jobs/${encodeURIComponent(jobId)}`),
    retry: (jobId) => call("POST", `jobs/${encodeURIComponent(jobId)}/retry`),
    pause: (jobId) => call("POST", `jobs/${encodeURIComponent(jobId)}/pause`),
    resume: (jobId) => call("POST", `jobs/${encodeURIComponent(jobId)}/resume`),
    events
  }
}
