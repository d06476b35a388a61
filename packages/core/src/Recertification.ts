/**
 * Continuous certification: re-run what is due (`RecertificationPolicy`) as RECERTIFY jobs, on
 * request (`recertify`) or on a schedule (`tick`, driven by `RecertificationScheduler`).
 *
 * The schedule (interval or cron, lead time, retry-after, limits per run) starts from code and the
 * environment (`CERTIFICATION_SCHEDULE`) and can be changed at run time (`updateSchedule`, HTTP
 * `PUT /schedule`); the change is stored through `Storage.putSetting`, so every process sees it.
 * Each tick's job is created under a key derived from the tick and its selection, and under one
 * active key shared by every scheduled job: a repeated tick creates nothing, and while a scheduled
 * job is still running the next tick creates none (so two ticks never certify the same pairs at once).
 * The reasons of every selected pair are recorded beside the job (`reasonsOf`).
 *
 * What the control plane observed (lifecycle, authorization, discovered pairs) comes from the
 * optional `Observations` service; without it only the result-based reasons apply.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Cron from "effect/Cron"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { CertificationError, CreatedJob, IdempotencyConflict, RequestMeta } from "./Certification.ts"
import { type ModelId, type Region, Verdict } from "./Domain.ts"
import * as JobPlan from "./JobPlan.ts"
import { ProgressEvent, type Queue, type ScheduleOptions } from "./Queue.ts"
import * as QueueSchedule from "./QueueSchedule.ts"
import * as Progress from "./Progress.ts"
import * as Policy from "./RecertificationPolicy.ts"
import type { LatestFilter, Storage } from "./Storage.ts"
import { StorageError as StorageErrorClass, StorageUnknown } from "./Storage.ts"
import * as Suite from "./Suite.ts"

// ---------------------------------------------------------------------------------------------
// Schedule
// ---------------------------------------------------------------------------------------------

/** A parsed schedule: a fixed interval, or a cron expression (UTC). */
export type Spec =
  | { readonly _tag: "Every"; readonly text: string; readonly millis: number }
  | { readonly _tag: "Cron"; readonly text: string; readonly cron: Cron.Cron }

const units: Record<string, number> = {
  ms: 1,
  s: 1_000,
  sec: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000
}

/** The shortest interval a schedule may have (a tick re-reads every latest result). */
export const minimumIntervalMillis = 1_000

/**
 * Parse `every 1h` / `every 30 minutes` / `every 2d`, or a cron expression (`0 3 * * *`, UTC).
 * Fails with a sentence saying what is wrong.
 */
export const parseSpec = (text: string): Result.Result<Spec, string> => {
  const trimmed = text.trim()
  const every = /^every\s+(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(trimmed)
  if (every !== null) {
    const unit = units[every[2]!.toLowerCase()]
    if (unit === undefined) return Result.fail(`unknown unit "${every[2]}" (use ms, s, m, h or d)`)
    const millis = Number(every[1]) * unit
    if (millis < minimumIntervalMillis) return Result.fail(`interval must be at least ${minimumIntervalMillis} ms`)
    return Result.succeed({ _tag: "Every", text: trimmed, millis })
  }
  if (/^every\b/i.test(trimmed)) return Result.fail(`"${trimmed}" is not an interval like "every 1h"`)
  const cron = Cron.parse(trimmed, "UTC")
  return Result.isSuccess(cron)
    ? Result.succeed({ _tag: "Cron", text: trimmed, cron: cron.success })
    : Result.fail(`"${trimmed}" is neither "every <n><unit>" nor a valid cron expression: ${cron.failure.message}`)
}

/** The recertification schedule and the policy's settings for scheduled runs. */
export const ScheduleSettings = Schema.Struct({
  /** Whether scheduled runs create jobs. */
  enabled: Schema.Boolean,
  /** `every 1h` or a cron expression; null: no schedule. */
  schedule: Schema.NullOr(Schema.String),
  leadTimeDays: Schema.Finite,
  retryAfterHours: Schema.Finite,
  maxUnits: Schema.Int,
  maxRegions: Schema.Int
})
export type ScheduleSettings = typeof ScheduleSettings.Type

/** What a scheduled run did. */
export const LastRun = Schema.Struct({
  tick: Schema.String,
  at: Schema.String,
  jobId: Schema.NullOr(Schema.String),
  pairs: Schema.Int,
  deferred: Schema.Int,
  reasons: Schema.Record(Schema.String, Schema.Int),
  message: Schema.String
})
export type LastRun = typeof LastRun.Type

/** The schedule as `GET /schedule` shows it. */
export interface ScheduleView extends ScheduleSettings {
  /** `stored` once changed at run time (`updateSchedule`), else `config` (code or environment). */
  readonly source: "config" | "stored"
  readonly nextRunAt: string | null
  readonly lastRun: LastRun | null
  readonly suiteVersion: string
}

/** Code and environment defaults: off, no schedule, the policy's default lead time and retry-after. */
export const defaultSchedule: ScheduleSettings = {
  enabled: false,
  schedule: null,
  leadTimeDays: Policy.defaults.leadTimeDays,
  retryAfterHours: Policy.defaults.retryAfterHours,
  maxUnits: Policy.defaults.maxUnits,
  maxRegions: Policy.defaults.maxRegions
}

/** The schedule before any run-time change (set from code or `CERTIFICATION_SCHEDULE`). */
export const ScheduleConfig = Context.Reference<ScheduleSettings>("@myia/certification/RecertificationSchedule", {
  defaultValue: () => defaultSchedule
})

/** A schedule text: `every <n><unit>`, a cron expression, or `off`. */
export const ScheduleText = Schema.String.check(
  Schema.makeFilter((s: string) => {
    if (s.trim() === "" || s.trim().toLowerCase() === "off") return undefined
    const spec = parseSpec(s)
    return Result.isFailure(spec) ? spec.failure : undefined
  })
)

/** `CERTIFICATION_SCHEDULE` (`every 1h`, a cron expression, or `off`); a bad value names the variable. */
export const scheduleEnvConfig: Config.Config<Option.Option<string>> = Config.option(
  Config.schema(ScheduleText, "CERTIFICATION_SCHEDULE")
)

/** The schedule a `CERTIFICATION_SCHEDULE` value means (`off`, empty: disabled). */
export const scheduleFromEnv = (value: string | undefined): Result.Result<ScheduleSettings, string> => {
  if (value === undefined || value.trim() === "" || value.trim().toLowerCase() === "off") {
    return Result.succeed(defaultSchedule)
  }
  return Result.map(parseSpec(value), (spec) => ({ ...defaultSchedule, enabled: true, schedule: spec.text }))
}

/** What control-plane observations the policy gets (the living registry provides them). */
export class Observations extends Context.Service<Observations, {
  readonly observe: Effect.Effect<ReadonlyArray<Policy.Observation>, unknown>
}>()("@myia/certification/RecertificationObservations") {}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** `POST /recertify`: which latest results to certify again. Every field optional. */
export interface Selection {
  /** Results expiring within this many days (or expired). */
  readonly expiringWithinDays?: number | undefined
  readonly modelIds?: ReadonlyArray<string> | undefined
  readonly regions?: ReadonlyArray<string> | undefined
  readonly verdicts?: ReadonlyArray<string> | undefined
  /** Results produced by an older suite version. */
  readonly olderSuite?: boolean | undefined
}

/** A partial schedule change (`PUT /schedule`). */
export type ScheduleUpdate = { readonly [K in keyof ScheduleSettings]?: ScheduleSettings[K] | undefined }

/** What a recertification (requested or scheduled) did. */
export interface RecertifyResult {
  /** The RECERTIFY job, or null when none was created. */
  readonly job: CreatedJob | null
  /** Why no job was created (null when one was). */
  readonly reason: string | null
  readonly selected: ReadonlyArray<Policy.Selection>
  readonly deferred: number
  readonly byReason: Readonly<Partial<Record<Policy.Reason, number>>>
}

/** One tick of a schedule: its name, a key unique per tick and equal in every process, its instant. */
export interface Tick {
  readonly name: string
  readonly key: string
  readonly at: DateTime.Utc
}

/** The reasons recorded for one unit of a RECERTIFY job. */
export const RecordedReasons = Schema.Array(Schema.Struct({
  modelId: Schema.String,
  region: Schema.String,
  reason: Schema.String,
  reasons: Schema.Array(Schema.String),
  detail: Schema.String
}))
export type RecordedReasons = typeof RecordedReasons.Type

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

const issue = (field: string, message: string) => new JobPlan.FieldIssue({ field, message })
const isVerdict = Schema.is(Verdict)

/** The policy inputs of a selection, or the issues of each bad field. */
export const validateSelection = (
  selection: Selection,
  limits: JobPlan.Limits
): Result.Result<{ readonly filter: Policy.Filter; readonly reasons: ReadonlyArray<Policy.Reason>; readonly leadTimeDays: number }, ReadonlyArray<JobPlan.FieldIssue>> => {
  const issues: Array<JobPlan.FieldIssue> = []
  const days = selection.expiringWithinDays
  if (days !== undefined && (typeof days !== "number" || !Number.isFinite(days) || days < 0 || days > 3650)) {
    issues.push(issue("expiringWithinDays", `must be a number of days from 0 to 3650 (got ${String(days)})`))
  }
  let modelIds: ReadonlyArray<string> | undefined
  if (selection.modelIds !== undefined) {
    const r = JobPlan.modelIds("modelIds", selection.modelIds, limits)
    if (Result.isFailure(r)) issues.push(...r.failure)
    else modelIds = r.success
  }
  let regions: ReadonlyArray<Region> | undefined
  if (selection.regions !== undefined) {
    const r = JobPlan.regions("regions", selection.regions, limits)
    if (Result.isFailure(r)) issues.push(...r.failure)
    else regions = r.success
  }
  const verdicts: Array<Verdict> = []
  ;(selection.verdicts ?? []).forEach((v, i) => {
    if (isVerdict(v)) verdicts.push(v)
    else issues.push(issue(`verdicts[${i}]`, `unknown verdict "${String(v)}" (one of ${Verdict.literals.join(", ")})`))
  })
  if (selection.olderSuite !== undefined && typeof selection.olderSuite !== "boolean") {
    issues.push(issue("olderSuite", "must be true or false"))
  }
  if (issues.length > 0) return Result.fail(issues)
  const reasons: Array<Policy.Reason> = []
  if (days !== undefined) reasons.push("expired", "expiring")
  if (selection.olderSuite === true) reasons.push("older-suite")
  return Result.succeed({
    filter: { modelIds, regions, verdicts: selection.verdicts === undefined ? undefined : verdicts },
    // Without a criterion, every result the filters keep is certified again.
    reasons: reasons.length > 0 ? reasons : ["requested"],
    leadTimeDays: days ?? 0
  })
}

/** The schedule after `update`, or the issues of each bad field. */
export const validateUpdate = (
  current: ScheduleSettings,
  update: ScheduleUpdate
): Result.Result<ScheduleSettings, ReadonlyArray<JobPlan.FieldIssue>> => {
  const issues: Array<JobPlan.FieldIssue> = []
  const next = { ...current }
  if (update.enabled !== undefined) next.enabled = update.enabled
  if (update.schedule !== undefined) {
    if (update.schedule === null) next.schedule = null
    else {
      const spec = parseSpec(update.schedule)
      if (Result.isFailure(spec)) issues.push(issue("schedule", spec.failure))
      else next.schedule = spec.success.text
    }
  }
  const number = (field: "leadTimeDays" | "retryAfterHours", max: number) => {
    const v = update[field]
    if (v === undefined) return
    if (!Number.isFinite(v) || v < 0 || v > max) issues.push(issue(field, `must be a number from 0 to ${max} (got ${v})`))
    else next[field] = v
  }
  number("leadTimeDays", 3650)
  number("retryAfterHours", 24 * 3650)
  const count = (field: "maxUnits" | "maxRegions", max: number) => {
    const v = update[field]
    if (v === undefined) return
    if (!Number.isInteger(v) || v < 1 || v > max) issues.push(issue(field, `must be a whole number from 1 to ${max} (got ${v})`))
    else next[field] = v
  }
  count("maxUnits", 100_000)
  count("maxRegions", 100)
  if (next.enabled && next.schedule === null && !issues.some((i) => i.field === "schedule")) {
    issues.push(issue("schedule", "is required when the schedule is enabled"))
  }
  return issues.length > 0 ? Result.fail(issues) : Result.succeed(next)
}

/** The options `Queue.schedule` takes for a schedule text (`name` is the scheduler's). */
export const scheduleOptionsOf = (name: string, spec: Spec): ScheduleOptions =>
  spec._tag === "Every" ? { name, every: Duration.millis(spec.millis) } : { name, cron: spec.text }

/**
 * The next run after `now` (null when off), on the instants `Queue.schedule` ticks at: multiples of
 * an interval since the epoch, or the cron's instants (UTC).
 */
export const nextRunAt = (settings: ScheduleSettings, now: number): string | null => {
  if (!settings.enabled || settings.schedule === null) return null
  const spec = parseSpec(settings.schedule)
  if (Result.isFailure(spec)) return null
  const next = spec.success._tag === "Every"
    ? QueueSchedule.nextTick({ _tag: "Every", name: "next", millis: spec.success.millis }, now)
    : QueueSchedule.nextTick({ _tag: "Cron", name: "next", cron: spec.success.cron, expression: spec.success.text }, now)
  return new Date(next).toISOString()
}

// ---------------------------------------------------------------------------------------------
// Service members (part of `Certification`)
// ---------------------------------------------------------------------------------------------

export const scheduleKey = "recertification/schedule"
export const lastRunKey = "recertification/last-run"
export const reasonsKey = (jobId: string) => `recertification/job/${jobId}`
/** Unique among live jobs: one scheduled RECERTIFY job at a time. */
export const scheduledActiveKey = "recertification:scheduled"
export const schedulerPrincipal = "scheduler"

const StoredSettings = Schema.fromJsonString(ScheduleSettings)
const StoredLastRun = Schema.fromJsonString(LastRun)
const StoredReasons = Schema.fromJsonString(RecordedReasons)
const encodeSettings = Schema.encodeSync(StoredSettings)
const encodeLastRun = Schema.encodeSync(StoredLastRun)
const encodeReasons = Schema.encodeSync(StoredReasons)

const decodeStored = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, key: string) =>
  (text: string) =>
    Schema.decodeUnknownEffect(schema)(text).pipe(
      Effect.mapError((cause) =>
        new StorageErrorClass({
          operation: "getSetting",
          reason: new StorageUnknown({ message: `stored ${key} did not decode`, cause })
        })
      )
    )

/** Everything the members need from the certification service. */
export interface Deps {
  readonly storage: Storage["Service"]
  readonly queue: Queue["Service"]
  readonly limits: JobPlan.Limits
  readonly schedule: ScheduleSettings
  readonly observations: Option.Option<Observations["Service"]>
  /** Create the RECERTIFY job (units committed, then queued) under the given keys. */
  readonly createJob: (
    pairs: ReadonlyArray<JobPlan.Pair>,
    meta: RequestMeta,
    idempotence: { readonly request: unknown; readonly activeKey: string | null }
  ) => Effect.Effect<CreatedJob, IdempotencyConflict | CertificationError>
}

const hashOf = (value: unknown): string => createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 32)

/** Build the recertification members of the certification service. */
/** The stored records of recertification: every latest result, the schedule, the last run. */
const makeReads = (storage: Storage["Service"], config: ScheduleSettings) => {

  /** Every latest result the filter keeps (pages of 100, bounded). */
  const allLatest = Effect.fnUntraced(function*(filter: LatestFilter) {
    const first = yield* storage.latest(filter, { page: 1, limit: 100 })
    const pages = Math.min(Math.ceil(first.total / 100), 1_000)
    const rest = yield* Effect.forEach(
      Array.from({ length: Math.max(pages - 1, 0) }, (_, i) => i + 2),
      (page) => storage.latest(filter, { page, limit: 100 }).pipe(Effect.map((p) => p.items)),
      { concurrency: 4 }
    )
    return [...first.items, ...rest.flat()]
  })

  const stored = Effect.fnUntraced(function*() {
    const text = yield* storage.getSetting(scheduleKey)
    if (Option.isNone(text)) return { settings: config, source: "config" as const }
    return { settings: yield* decodeStored(StoredSettings, scheduleKey)(text.value), source: "stored" as const }
  })

  const lastRun = Effect.fnUntraced(function*() {
    const text = yield* storage.getSetting(lastRunKey)
    return Option.isNone(text) ? null : yield* decodeStored(StoredLastRun, lastRunKey)(text.value)
  })

  const view = Effect.fnUntraced(function*() {
    const { settings, source } = yield* stored()
    const last = yield* lastRun()
    const now = yield* DateTime.now
    const out: ScheduleView = {
      ...settings,
      source,
      nextRunAt: nextRunAt(settings, DateTime.toEpochMillis(now)),
      lastRun: last,
      suiteVersion: Suite.version
    }
    return out
  })

  return { allLatest, stored, lastRun, view }
}

export const make = (deps: Deps) => {
  const { limits, queue, storage } = deps
  const { allLatest, stored, view } = makeReads(storage, deps.schedule)

  /** Create the job for a selection (or say why not) and record each pair's reasons. */
  const createFor = Effect.fnUntraced(function*(
    result: Policy.Result,
    meta: RequestMeta,
    idempotence: { readonly request: unknown; readonly activeKey: string | null }
  ) {
    if (result.selected.length === 0) {
      const none: RecertifyResult = {
        job: null,
        reason: result.deferred > 0
          ? `${result.deferred} pairs are due but the limits per run select none`
          : "no latest result matches the selection",
        selected: [],
        deferred: result.deferred,
        byReason: {}
      }
      return none
    }
    const pairs = result.selected.map((s): JobPlan.Pair => ({
      modelId: s.modelId,
      hostModelId: s.hostModelId,
      region: s.region as Region
    }))
    const job = yield* deps.createJob(pairs, meta, idempotence)
    if (job.replayed !== true) {
      const recorded: RecordedReasons = result.selected.map((s) => ({
        modelId: s.modelId,
        region: s.region,
        reason: s.reason,
        reasons: s.reasons,
        detail: s.detail
      }))
      yield* storage.putSetting(reasonsKey(job.jobId), encodeReasons(recorded))
    }
    const out: RecertifyResult = {
      job,
      reason: null,
      selected: result.selected,
      deferred: result.deferred,
      byReason: result.byReason
    }
    return out
  })

  const recertify = Effect.fn("Certification.recertify")(function*(selection: Selection, meta: RequestMeta = {}) {
    const valid = validateSelection(selection, limits)
    if (Result.isFailure(valid)) return yield* JobPlan.invalid(valid.failure)
    const { filter, leadTimeDays, reasons } = valid.success
    const latest = yield* allLatest({
      modelIds: filter.modelIds as ReadonlyArray<ModelId> | undefined,
      regions: filter.regions as ReadonlyArray<Region> | undefined,
      verdicts: filter.verdicts
    })
    const result = Policy.select({
      now: DateTime.toEpochMillis(yield* DateTime.now),
      latest,
      observations: [],
      filter,
      settings: {
        ...Policy.defaults,
        suiteVersion: Suite.version,
        leadTimeDays,
        reasons,
        maxUnits: limits.maxUnitsPerJob,
        maxRegions: limits.maxRegionsPerJob
      }
    })
    return yield* createFor(result, meta, { request: ["RECERTIFY-selection", selection], activeKey: null })
  })

  const tick = Effect.fn("Certification.recertificationTick")(function*(t: Tick) {
    const { settings } = yield* stored()
    const at = DateTime.formatIso(t.at)
    if (!settings.enabled) {
      const off: RecertifyResult = { job: null, reason: "the schedule is disabled", selected: [], deferred: 0, byReason: {} }
      return off
    }
    const observations = Option.isNone(deps.observations)
      ? []
      : yield* deps.observations.value.observe.pipe(
        Effect.tapCause((cause) => Effect.logWarning("recertification: observations unavailable", cause)),
        Effect.orElseSucceed((): ReadonlyArray<Policy.Observation> => [])
      )
    const latest = yield* allLatest({})
    const policy = Policy.select({
      now: DateTime.toEpochMillis(t.at),
      latest,
      observations,
      settings: {
        ...Policy.defaults,
        suiteVersion: Suite.version,
        leadTimeDays: settings.leadTimeDays,
        retryAfterHours: settings.retryAfterHours,
        maxUnits: Math.min(settings.maxUnits, limits.maxUnitsPerJob),
        maxRegions: settings.maxRegions
      }
    })
    const pairsKey = hashOf(policy.selected.map((s) => [s.modelId, s.region, s.reason]))
    const result = yield* createFor(policy, {
      createdBy: schedulerPrincipal,
      idempotencyKey: `${t.name}:${t.key}:${pairsKey}`
    }, { request: ["RECERTIFY-scheduled", t.name, t.key, pairsKey], activeKey: scheduledActiveKey }).pipe(
      Effect.catchTag("IdempotencyConflict", (e) =>
        Effect.succeed<RecertifyResult>({ job: null, reason: e.message, selected: [], deferred: 0, byReason: {} }))
    )
    const replayed = result.job?.replayed === true
    const jobId = result.job === null || replayed ? null : result.job.jobId
    const reasons = Policy.describeReasons(result.byReason)
    const message = jobId !== null
      ? `scheduled recertification: ${result.selected.length} pairs, reasons ${reasons}`
      : replayed
      ? `scheduled recertification: no new job, job ${result.job!.jobId} is still running`
      : `scheduled recertification: nothing due (${result.reason})`
    yield* storage.putSetting(
      lastRunKey,
      encodeLastRun({
        tick: t.key,
        at,
        jobId,
        pairs: jobId === null ? 0 : result.selected.length,
        deferred: result.deferred,
        reasons: result.byReason as Record<string, number>,
        message
      })
    )
    yield* Effect.logInfo(message).pipe(
      Effect.annotateLogs({ schedule: t.name, tick: t.key, jobId: jobId ?? "none", deferred: result.deferred })
    )
    if (jobId !== null) {
      yield* Progress.record(storage, queue)(
        new ProgressEvent({ jobId: result.job!.jobId, type: "recertification-scheduled", unitId: null, status: message, at })
      )
    }
    return replayed ? { ...result, job: null, reason: message } : result
  })

  const updateSchedule = Effect.fn("Certification.updateSchedule")(function*(update: ScheduleUpdate) {
    const { settings } = yield* stored()
    const next = validateUpdate(settings, update)
    if (Result.isFailure(next)) return yield* JobPlan.invalid(next.failure)
    yield* storage.putSetting(scheduleKey, encodeSettings(next.success))
    yield* Effect.logInfo("recertification schedule changed").pipe(
      Effect.annotateLogs({ enabled: next.success.enabled, schedule: next.success.schedule ?? "none" })
    )
    return yield* view()
  })

  const reasonsOf = Effect.fn("Certification.recertificationReasons")(function*(jobId: string) {
    const text = yield* storage.getSetting(reasonsKey(jobId))
    return Option.isNone(text) ? [] : yield* decodeStored(StoredReasons, reasonsKey(jobId))(text.value)
  })

  return {
    recertify,
    recertificationTick: tick,
    schedule: Effect.suspend(view).pipe(Effect.withSpan("Certification.schedule")),
    /** The effective schedule settings (stored, else config). */
    scheduleSettings: Effect.map(Effect.suspend(stored), (s) => s.settings),
    updateSchedule,
    recertificationReasons: reasonsOf
  }
}
