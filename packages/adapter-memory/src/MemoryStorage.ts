/**
 * The Storage port in process memory: for tests, demos and single-process embedding.
 *
 * Rows live in `Map`s. Every change that touches several rows (a job and its units, a cancel that
 * ends the units, a terminal write and the latest view) happens in one synchronous step, so no
 * other fiber can observe it half done: that is the whole of its atomicity. Timestamps come from
 * `Clock`, so `TestClock` drives them. Nothing survives the process.
 *
 * @since 0.1.0
 */
import { Domain, JobStateMachine, Observation, type Queue, Storage } from "@myia/certification"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const DAY_MS = 86_400_000
const MAX_LIMIT = 100

const terminalJob: ReadonlySet<Domain.JobStatus> = new Set(JobStateMachine.terminalJobStatuses)
const liveForClaim: ReadonlySet<Domain.JobStatus> = new Set(JobStateMachine.claimableJobStatuses)
const deadForWrites: ReadonlySet<Domain.JobStatus> = new Set(JobStateMachine.writeClosedJobStatuses)

const isTerminal = (unit: Domain.Unit): boolean => Domain.verdictOf(unit) !== null

const iso = (millis: number): Domain.Timestamp => DateTime.formatIso(DateTime.makeUnsafe(millis)) as Domain.Timestamp

const byModelThenRegion = (a: Domain.Unit, b: Domain.Unit): number =>
  a.modelId < b.modelId ? -1 : a.modelId > b.modelId ? 1 : a.region < b.region ? -1 : a.region > b.region ? 1 : 0

const newestFirst = (a: string | null, b: string | null): number => (a ?? "") < (b ?? "") ? 1 : (a ?? "") > (b ?? "") ? -1 : 0

const paginate = <A>(items: ReadonlyArray<A>, request: Storage.PageRequest, max = MAX_LIMIT): Storage.Page<A> => {
  const limit = Math.min(max, Math.max(1, Math.floor(request.limit)))
  const page = Math.max(1, Math.floor(request.page))
  return { items: items.slice((page - 1) * limit, page * limit), total: items.length, page, limit }
}

const countsOf = (units: ReadonlyArray<Domain.Unit>): Domain.JobCounts => {
  const byVerdict = Object.fromEntries(Domain.verdicts.map((v) => [v, 0])) as Record<Domain.Verdict, number>
  let pending = 0
  let queued = 0
  let processing = 0
  for (const unit of units) {
    const verdict = Domain.verdictOf(unit)
    if (verdict !== null) byVerdict[verdict]++
    else if (unit.status === "PENDING") pending++
    else if (unit.status === "QUEUED") queued++
    else processing++
  }
  const completed = units.length - pending - queued - processing
  const passed = byVerdict.CERTIFIED + byVerdict.QUALITY_WARNING
  return new Domain.JobCounts({ total: units.length, pending, queued, processing, completed, passed, byVerdict })
}

/** When a terminal job ended, for retention. */
const endedAt = (job: Domain.Job): string => job.completedAt ?? job.cancelledAt ?? job.updatedAt

/** The job holding a key, with what its first caller sent and was told. */
interface KeyHolder {
  readonly jobId: Domain.JobId
  readonly fingerprint: string
  readonly answer: string
}

/** The latest-view filters of continuous certification (issue 14); an empty list does not narrow. */
const matchesRecheckFilter = (filter: Storage.LatestFilter, unit: Domain.Unit): boolean => {
  const within = <A>(list: ReadonlyArray<A> | undefined, value: A) =>
    list === undefined || list.length === 0 || list.includes(value)
  return within(filter.verdicts, unit.status as Domain.Verdict) && within(filter.modelIds, unit.modelId) &&
    within(filter.regions, unit.region) &&
    (filter.expiringBefore === undefined || (unit.expiresAt !== null && unit.expiresAt < filter.expiringBefore)) &&
    (filter.suiteVersion === undefined || unit.suiteVersion === filter.suiteVersion) &&
    (filter.suiteVersionOtherThan === undefined || unit.suiteVersion !== filter.suiteVersionOtherThan)
}

const latestKey = (unit: Domain.Unit): string => `${unit.modelId}\u0000${unit.region}`

/** The tables one in-memory Storage shares between its operations, and the row helpers over them. */
interface Tables {
  readonly jobs: Map<Domain.JobId, Domain.Job>
  readonly units: Map<Domain.UnitId, Domain.Unit>
  readonly unitsOfJob: Map<Domain.JobId, Array<Domain.UnitId>>
  /** The latest view holds its own copies so retention never removes it. */
  readonly latestView: Map<string, Domain.Unit>
  /** Keys → the job holding them. An active key whose job is terminal is free (and overwritten). */
  readonly idempotencyKeys: Map<string, KeyHolder>
  readonly activeKeys: Map<string, KeyHolder>
  /** Issue 18: each job's progress events, in sequence order (seq = index + 1). */
  readonly progress: Map<Domain.JobId, Array<Queue.ProgressEvent>>
  readonly jobUnits: (jobId: Domain.JobId) => Array<Domain.Unit>
  readonly update: (unit: Domain.Unit, patch: Partial<Domain.Unit>) => Domain.Unit
  /** Issue 15: when each job's enqueue finished; a job absent here was never fully enqueued. */
  readonly enqueuedAt: Map<Domain.JobId, string>
  /**
   * Issue 10: when the store wrote each job, on the store's clock (its `Clock`, which is its
   * `databaseTime`), not the caller's `createdAt`: what `unenqueuedJobs` compares with `before`.
   */
  readonly recordedAt: Map<Domain.JobId, string>
}

const makeTables = (): Tables => {
  const jobs = new Map<Domain.JobId, Domain.Job>()
  const units = new Map<Domain.UnitId, Domain.Unit>()
  const unitsOfJob = new Map<Domain.JobId, Array<Domain.UnitId>>()
  // The latest view holds its own copies so retention never removes it.
  const latestView = new Map<string, Domain.Unit>()
  const idempotencyKeys = new Map<string, KeyHolder>()
  const activeKeys = new Map<string, KeyHolder>()
  const progress = new Map<Domain.JobId, Array<Queue.ProgressEvent>>()

  const jobUnits = (jobId: Domain.JobId): Array<Domain.Unit> =>
    (unitsOfJob.get(jobId) ?? []).flatMap((id) => {
      const unit = units.get(id)
      return unit === undefined ? [] : [unit]
    })

  const update = (unit: Domain.Unit, patch: Partial<Domain.Unit>): Domain.Unit => {
    const next = new Domain.Unit({ ...unit, ...patch })
    units.set(next.id, next)
    return next
  }

  const enqueuedAt = new Map<Domain.JobId, string>()
  const recordedAt = new Map<Domain.JobId, string>()

  return {
    jobs,
    units,
    unitsOfJob,
    latestView,
    idempotencyKeys,
    activeKeys,
    progress,
    jobUnits,
    update,
    enqueuedAt,
    recordedAt
  }
}

const now = Clock.currentTimeMillis

/** Creating jobs (once per key), and moving a job and its units through the state machine. */
const jobWrites = (tables: Tables) => {
  const { activeKeys, idempotencyKeys, jobUnits, jobs, recordedAt, units, unitsOfJob, update } = tables

  /** Why a job and its units cannot be written, or `undefined`. */
  const creationProblem = (job: Domain.Job, newUnits: ReadonlyArray<Domain.Unit>): string | undefined =>
    jobs.has(job.id)
      ? `job ${job.id} already exists`
      : newUnits.find((u) => u.jobId !== job.id) !== undefined
      ? `every unit must belong to job ${job.id}`
      : newUnits.find((u) => units.has(u.id)) !== undefined || new Set(newUnits.map((u) => u.id)).size !== newUnits.length
      ? "a unit id already exists"
      : undefined

  /** Write a job and its units recorded at `at` (the store's clock), or fail (writing nothing) when they clash with stored rows. */
  const write = (
    operation: string,
    job: Domain.Job,
    newUnits: ReadonlyArray<Domain.Unit>,
    at: number
  ): Effect.Effect<void, Storage.StorageError> => {
    const problem = creationProblem(job, newUnits)
    if (problem !== undefined) {
      return Effect.fail(new Storage.StorageError({ operation, reason: new Storage.StorageInvalid({ message: problem }) }))
    }
    jobs.set(job.id, job)
    recordedAt.set(job.id, iso(at))
    unitsOfJob.set(job.id, newUnits.map((u) => u.id))
    for (const unit of newUnits) units.set(unit.id, unit)
    return Effect.void
  }

  const createJob = Effect.fn("MemoryStorage.createJob")(function*(job: Domain.Job, newUnits: ReadonlyArray<Domain.Unit>) {
    return yield* write("createJob", job, newUnits, yield* now)
  })


  const holderOf = (keys: Storage.JobKeys): Storage.CreateOnce | undefined => {
    const byKey = keys.idempotencyKey === null ? undefined : idempotencyKeys.get(keys.idempotencyKey)
    if (byKey !== undefined) return { _tag: "Existing", matched: "idempotencyKey", ...byKey }
    const active = keys.activeKey === null ? undefined : activeKeys.get(keys.activeKey)
    const activeJob = active === undefined ? undefined : jobs.get(active.jobId)
    if (active !== undefined && activeJob !== undefined && !terminalJob.has(activeJob.status)) {
      return { _tag: "Existing", matched: "activeKey", ...active }
    }
    return undefined
  }

  const createJobOnce = Effect.fn("MemoryStorage.createJobOnce")(function*(
    job: Domain.Job,
    newUnits: ReadonlyArray<Domain.Unit>,
    keys: Storage.JobKeys
  ) {
    const at = yield* now
    // One synchronous step from the lookup to the write: no other fiber runs in between.
    const existing = holderOf(keys)
    if (existing !== undefined) return existing
    yield* write("createJobOnce", job, newUnits, at)
    const holder: KeyHolder = { jobId: job.id, fingerprint: keys.fingerprint, answer: keys.answer }
    if (keys.idempotencyKey !== null) idempotencyKeys.set(keys.idempotencyKey, holder)
    if (keys.activeKey !== null) activeKeys.set(keys.activeKey, holder)
    const created: Storage.CreateOnce = { _tag: "Created" }
    return created
  })

  const transitionJob = Effect.fn("MemoryStorage.transitionJob")(function*(
    id: Domain.JobId,
    transition: Storage.JobTransition & { readonly unitError?: Domain.UnitOutcome["error"] | undefined }
  ) {
    const millis = yield* now
    const at = iso(millis)
    const job = jobs.get(id)
    if (job === undefined || !transition.from.includes(job.status)) return Option.none()
    const rows = jobUnits(id)
    if (transition.to === "COMPLETED" && !rows.every(isTerminal)) return Option.none()
    const stamp = JobStateMachine.jobTimestampOf[transition.to]
    const next = new Domain.Job({
      ...job,
      status: transition.to,
      reason: transition.reason ?? job.reason,
      updatedAt: at,
      // startedAt is stamped on the first start only; the others on every move to their status.
      ...(stamp === null ? {} : { [stamp]: stamp === "startedAt" ? job.startedAt ?? at : at })
    })
    jobs.set(id, next)
    const status = JobStateMachine.unitEndingOf[transition.to]
    if (status !== null) {
      const error = status === "INCONCLUSIVE" ? transition.unitError ?? null : null
      for (const unit of rows) {
        if (isTerminal(unit)) continue
        update(unit, {
          status,
          error,
          lease: null,
          completedAt: at,
          durationMs: unit.startedAt === null ? null : millis - Date.parse(unit.startedAt)
        })
      }
    }
    return Option.some(next)
  })

  const markQueued = Effect.fn("MemoryStorage.markQueued")(function*(ids: ReadonlyArray<Domain.UnitId>) {
    const at = iso(yield* now)
    for (const id of ids) {
      const unit = units.get(id)
      if (unit !== undefined && unit.status === "PENDING") update(unit, { status: "QUEUED", queuedAt: at })
    }
  })

  return { createJob, createJobOnce, transitionJob, markQueued }
}

/** The fenced unit writes: claim, complete (feeding the latest view), release. */
const unitWrites = (tables: Tables) => {
  const { jobs, latestView, units, update } = tables

  const claimUnit = Effect.fn("MemoryStorage.claimUnit")(function*(id: Domain.UnitId, lease: string) {
    const at = iso(yield* now)
    const unit = units.get(id)
    const job = unit === undefined ? undefined : jobs.get(unit.jobId)
    if (unit === undefined || job === undefined || isTerminal(unit) || !liveForClaim.has(job.status)) {
      return Option.none()
    }
    return Option.some(update(unit, {
      status: "PROCESSING",
      lease,
      attempts: unit.attempts + 1,
      startedAt: unit.startedAt ?? at
    }))
  })

  const completeUnit = Effect.fn("MemoryStorage.completeUnit")(function*(
    id: Domain.UnitId,
    lease: string,
    outcome: Domain.UnitOutcome
  ) {
    const millis = yield* now
    const unit = units.get(id)
    const job = unit === undefined ? undefined : jobs.get(unit.jobId)
    if (
      unit === undefined || job === undefined || unit.status !== "PROCESSING" || unit.lease !== lease ||
      deadForWrites.has(job.status)
    ) {
      return false
    }
    const completedAt = iso(millis)
    const done = update(unit, {
      status: outcome.verdict,
      invocationTarget: outcome.invocationTarget,
      suiteVersion: outcome.suiteVersion,
      tests: outcome.tests,
      score: outcome.score,
      grade: outcome.grade,
      stars: outcome.stars,
      error: outcome.error,
      findings: outcome.findings,
      completedAt,
      durationMs: unit.startedAt === null ? null : millis - Date.parse(unit.startedAt),
      expiresAt: iso(millis + job.config.validityDays * DAY_MS)
    })
    // Issue 15: the later write is the latest, whatever the writer's clock says (one process: the
    // order of these synchronous writes is the real order).
    latestView.set(latestKey(done), done)
    return true
  })

  const releaseUnit = Effect.fn("MemoryStorage.releaseUnit")(function*(id: Domain.UnitId, lease: string) {
    const unit = units.get(id)
    if (unit === undefined || unit.status !== "PROCESSING" || unit.lease !== lease) return false
    update(unit, { status: "QUEUED", lease: null })
    return true
  })

  return { claimUnit, completeUnit, releaseUnit }
}

/** Reads, stats and retention. */
const reads = (tables: Tables) => {
  const { activeKeys, idempotencyKeys, jobUnits, jobs, latestView, progress, units, unitsOfJob } = tables

  const getJob = Effect.fn("MemoryStorage.getJob")(function*(id: Domain.JobId) {
    return Option.fromNullishOr(jobs.get(id))
  })

  const getUnits = Effect.fn("MemoryStorage.getUnits")(function*(jobId: Domain.JobId) {
    return jobUnits(jobId).sort(byModelThenRegion)
  })

  const getUnit = Effect.fn("MemoryStorage.getUnit")(function*(id: Domain.UnitId) {
    return Option.fromNullishOr(units.get(id))
  })

  const counts = Effect.fn("MemoryStorage.counts")(function*(jobId: Domain.JobId) {
    return countsOf(jobUnits(jobId))
  })

  const history = Effect.fn("MemoryStorage.history")(function*(
    filter: Storage.HistoryFilter,
    page: Storage.PageRequest
  ) {
    const rows = Array.from(jobs.values()).filter((job) =>
      (filter.status === undefined || job.status === filter.status) &&
      (filter.type === undefined || job.type === filter.type) &&
      (filter.from === undefined || job.createdAt >= filter.from) &&
      (filter.to === undefined || job.createdAt < filter.to)
    ).sort((a, b) => newestFirst(a.createdAt, b.createdAt) || newestFirst(a.id, b.id))
    const result = paginate(rows, page)
    return { ...result, items: result.items.map((job) => ({ job, counts: countsOf(jobUnits(job.id)) })) }
  })

  const latest = Effect.fn("MemoryStorage.latest")(function*(filter: Storage.LatestFilter, page: Storage.PageRequest) {
    const rows = Array.from(latestView.values()).filter((unit) =>
      (filter.modelId === undefined || unit.modelId === filter.modelId) &&
      (filter.region === undefined || unit.region === filter.region) &&
      (filter.status === undefined || unit.status === filter.status) &&
      matchesRecheckFilter(filter, unit)
    ).sort((a, b) => newestFirst(a.completedAt, b.completedAt) || newestFirst(a.id, b.id))
    return paginate(rows, page)
  })

  const stats = Effect.sync((): Storage.Stats => {
    const jobsByStatus = Object.fromEntries(Domain.JobStatus.literals.map((s) => [s, 0])) as Record<Domain.JobStatus, number>
    for (const job of jobs.values()) jobsByStatus[job.status]++
    const unitsByVerdict = Object.fromEntries(Domain.verdicts.map((v) => [v, 0])) as Record<Domain.Verdict, number>
    const regions = new Map<Domain.Region, { total: number; passed: number; byVerdict: Partial<Record<Domain.Verdict, number>> }>()
    const errorsByCategory: Partial<Record<Domain.ErrorCategory, number>> = {}
    for (const unit of units.values()) {
      const verdict = Domain.verdictOf(unit)
      if (verdict === null) continue
      unitsByVerdict[verdict]++
      const region = regions.get(unit.region) ?? { total: 0, passed: 0, byVerdict: {} }
      region.total++
      if (Domain.isPassed(verdict)) region.passed++
      region.byVerdict[verdict] = (region.byVerdict[verdict] ?? 0) + 1
      regions.set(unit.region, region)
      if (unit.error !== null) {
        errorsByCategory[unit.error.category] = (errorsByCategory[unit.error.category] ?? 0) + 1
      }
    }
    const unitsByRegion = Array.from(regions, ([region, r]) => ({ region, ...r }))
      .sort((a, b) => (a.region < b.region ? -1 : 1))
    return { jobsByStatus, unitsByVerdict, unitsByRegion, errorsByCategory }
  }).pipe(Effect.withSpan("MemoryStorage.stats"))

  const cleanup = Effect.fn("MemoryStorage.cleanup")(function*(before: Domain.Timestamp) {
    let deleted = 0
    for (const job of Array.from(jobs.values())) {
      if (!terminalJob.has(job.status) || endedAt(job) >= before) continue
      for (const id of unitsOfJob.get(job.id) ?? []) units.delete(id)
      unitsOfJob.delete(job.id)
      progress.delete(job.id)
      jobs.delete(job.id)
      tables.enqueuedAt.delete(job.id)
      tables.recordedAt.delete(job.id)
      for (const keys of [idempotencyKeys, activeKeys]) {
        for (const [key, holder] of keys) if (holder.jobId === job.id) keys.delete(key)
      }
      deleted++
    }
    return deleted
  })

  return { getJob, getUnits, getUnit, counts, history, latest, stats, cleanup }
}

/** Shared records (issue 14: the recertification schedule, its runs, the reasons of its jobs). */
const settingRecords = () => {
  const settings = new Map<string, string>()
  return {
    getSetting: (key: string) => Effect.sync(() => Option.fromUndefinedOr(settings.get(key))),
    putSetting: (key: string, value: string) => Effect.sync(() => void settings.set(key, value))
  }
}

/** Issue #13 — control-plane observations per (account, region); the newest observation wins. */
const observationStore = () => {
  const observations = new Map<string, Observation.RegionObservation>()
  const keyOf = (account: string, region: string) => `${account}\u0000${region}`
  const saveObservation = Effect.fn("MemoryStorage.saveObservation")(function*(observation: Observation.RegionObservation) {
    const key = keyOf(observation.account, observation.region)
    const stored = observations.get(key)
    if (stored !== undefined && Date.parse(stored.observedAt) > Date.parse(observation.observedAt)) return false
    observations.set(key, observation)
    return true
  })
  const getObservation = (account: string, region: Domain.Region) =>
    Effect.sync(() => Option.fromUndefinedOr(observations.get(keyOf(account, region))))
  return { saveObservation, getObservation }
}

/** Large jobs (issue 16): paged detail, the matrix cells, per-test progress. */
const largeJobs = ({ jobs, jobUnits, units, update }: Tables) => {
  const unitsPage = Effect.fn("MemoryStorage.unitsPage")(function*(jobId: Domain.JobId, query: Storage.UnitsQuery) {
    const { modelId, region, status } = query.filter
    const rows = jobUnits(jobId).filter((u) =>
      (status === undefined || u.status === status) && (region === undefined || u.region === region) &&
      (modelId === undefined || u.modelId === modelId)
    ).sort(byModelThenRegion)
    const result = paginate(rows, query.page, Storage.maxUnitsPageSize)
    return query.withTests === true
      ? result
      : { ...result, items: result.items.map((u) => u.tests.length === 0 ? u : new Domain.Unit({ ...u, tests: [] })) }
  })

  const unitCells = Effect.fn("MemoryStorage.unitCells")(function*(jobId: Domain.JobId) {
    return jobUnits(jobId).sort(byModelThenRegion).map((u): Storage.UnitCell => ({
      modelId: u.modelId,
      region: u.region,
      status: u.status,
      score: u.score,
      grade: u.grade
    }))
  })

  const saveProgress = Effect.fn("MemoryStorage.saveProgress")(function*(
    id: Domain.UnitId,
    lease: string,
    progress: Storage.UnitProgress
  ) {
    const unit = units.get(id)
    const job = unit === undefined ? undefined : jobs.get(unit.jobId)
    if (
      unit === undefined || job === undefined || unit.status !== "PROCESSING" || unit.lease !== lease ||
      deadForWrites.has(job.status)
    ) {
      return false
    }
    const given = new Set(progress.tests.map((t) => t.id))
    update(unit, {
      tests: [...unit.tests.filter((t) => !given.has(t.id)), ...progress.tests],
      invocationTarget: progress.invocationTarget ?? unit.invocationTarget
    })
    return true
  })

  // The three reads at one instant (nothing interleaves a synchronous read of the maps).
  const jobDetail = Effect.fn("MemoryStorage.jobDetail")(function*(jobId: Domain.JobId, query: Storage.UnitsQuery) {
    const job = jobs.get(jobId)
    if (job === undefined) return Option.none()
    const page = yield* unitsPage(jobId, query)
    const detail: Storage.JobDetailRead = {
      job,
      counts: countsOf(jobUnits(jobId)),
      units: query.countTotal === false ? { ...page, total: -1 } : page
    }
    return Option.some(detail)
  })

  return { unitsPage, unitCells, saveProgress, jobDetail }
}

// ---------------------------------------------------------------------------------------------
// Progress events (issue 18): one process, so appending is already in commit order
// ---------------------------------------------------------------------------------------------

const progressEvents = ({ jobs, progress }: Tables) => {
  const appendProgress = Effect.fn("MemoryStorage.appendProgress")(function*(event: Queue.ProgressEvent) {
    if (!jobs.has(event.jobId)) return Option.none()
    const list = progress.get(event.jobId) ?? []
    list.push(event)
    progress.set(event.jobId, list)
    return Option.some(list.length)
  })

  const progressAfter = Effect.fn("MemoryStorage.progressAfter")(
    function*(jobId: Domain.JobId, after: number, limit: number) {
      const list = progress.get(jobId) ?? []
      const from = Math.max(0, Math.floor(after))
      return list.slice(from, from + Math.max(0, limit)).map((event, i) => ({ seq: from + i + 1, event }))
    }
  )

  return { appendProgress, progressAfter }
}

/** Issue 15: what the reconciler reads and marks, and the store's clock. */
const reconciliation = ({ enqueuedAt, jobUnits, jobs, recordedAt, units }: Tables) => {
  const claimable = (job: Domain.Job | undefined) => job !== undefined && liveForClaim.has(job.status)

  const markEnqueued = Effect.fn("MemoryStorage.markEnqueued")(function*(jobId: Domain.JobId) {
    const at = iso(yield* now)
    if (jobs.has(jobId) && !enqueuedAt.has(jobId)) enqueuedAt.set(jobId, at)
  })

  const unenqueuedJobs = Effect.fn("MemoryStorage.unenqueuedJobs")(function*(before: Domain.Timestamp, limit: number) {
    return Array.from(jobs.values())
      .flatMap((job) => {
        const at = recordedAt.get(job.id)
        return at !== undefined && at < before && !enqueuedAt.has(job.id) && !terminalJob.has(job.status)
          ? [{ id: job.id, at }]
          : []
      })
      // Map order is insertion order, so equal stamps stay in the order the jobs were written.
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
      .slice(0, Math.max(0, limit))
      .map((job) => job.id)
  })

  const activeUnits = Effect.fn("MemoryStorage.activeUnits")(function*(
    options: { readonly before: Domain.Timestamp; readonly after: Domain.UnitId | null; readonly limit: number }
  ) {
    const after = options.after
    return Array.from(units.values())
      .filter((unit) => {
        const at = enqueuedAt.get(unit.jobId)
        return !isTerminal(unit) && (after === null || unit.id > after) && at !== undefined && at < options.before &&
          claimable(jobs.get(unit.jobId))
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, Math.max(0, options.limit))
  })

  const finishableJobs = Effect.fn("MemoryStorage.finishableJobs")(function*(limit: number) {
    return Array.from(jobs.values())
      .filter((job) => claimable(job) && jobUnits(job.id).every(isTerminal))
      .slice(0, Math.max(0, limit))
      .map((job) => job.id)
  })

  return { markEnqueued, unenqueuedJobs, activeUnits, finishableJobs, databaseTime: now }
}

/** Build an in-memory Storage with empty tables. */
export const make: Effect.Effect<Storage.Storage["Service"]> = Effect.sync(() => {
  const tables = makeTables()
  return Storage.Storage.of({
    ...jobWrites(tables),
    ...unitWrites(tables),
    ...reads(tables),
    ...progressEvents(tables),
    ...reconciliation(tables),
    ...settingRecords(),
    ...observationStore(),
    ...largeJobs(tables)
  })
})
/** An in-memory Storage; each build of the layer starts empty. */
export const layer: Layer.Layer<Storage.Storage> = Layer.effect(Storage.Storage, make)
