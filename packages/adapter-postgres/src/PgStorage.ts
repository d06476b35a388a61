/**
 * The Storage port on PostgreSQL through postgres.js: fenced, idempotent writes that stay fast at a
 * million unit rows.
 *
 * Every write that must not race is one SQL statement (or one transaction) whose `WHERE` is the
 * precondition: a status change lists its allowed source states, a terminal unit write presents its
 * lease, and the latest view is an upsert that only moves forward in `completed_at`. Progress counts
 * and stats are aggregates over unit rows, served by indexes. Timestamps come from Effect's `Clock`
 * (so `TestClock` drives them, as with the memory adapter) and are stored as `timestamptz`; rows are
 * decoded with the domain schemas at this edge.
 *
 * **Pagination**: bounded offset (limit ≤ 100) with an exact total from a separate `count(*)` run
 * concurrently, because the HTTP API pages by number (`page`, `totalPages`). Both queries walk the
 * `(created_at DESC, id DESC)` indexes; deep pages cost O(offset).
 *
 * @since 0.1.0
 */
import { Domain, JobStateMachine, Observation, Queue, Storage } from "@myia/certification"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type postgres from "postgres"
import * as PgClient from "./PgClient.ts"
import * as PgMigrations from "./PgMigrations.ts"

const MAX_LIMIT = 100

/** Options of `layer`. */
export interface Options {
  /** The PostgreSQL schema holding the tables (default `certification`). */
  readonly schema?: string | undefined
  /** Run pending migrations when the layer is built (default true). */
  readonly migrate?: boolean | undefined
}

// ---------------------------------------------------------------------------------------------
// Tables as data
// ---------------------------------------------------------------------------------------------

const inFlight = JobStateMachine.activeUnitStatuses

/** The column of each job timestamp that core's transition table stamps. */
const stampColumn = { startedAt: "started_at", completedAt: "completed_at", cancelledAt: "cancelled_at" } as const

const jobColumns = `id, type, status, model_ids AS "modelIds", regions, total_units AS "totalUnits", config,
  created_by AS "createdBy", parent_job_id AS "parentJobId", reason, created_at AS "createdAt",
  updated_at AS "updatedAt", started_at AS "startedAt", completed_at AS "completedAt", cancelled_at AS "cancelledAt"`

const unitFields = `job_id AS "jobId", model_id AS "modelId", host_model_id AS "hostModelId", region, status,
  invocation_target AS "invocationTarget", suite_version AS "suiteVersion", tests, score, grade, stars, error,
  findings, attempts, lease, created_at AS "createdAt", queued_at AS "queuedAt", started_at AS "startedAt",
  completed_at AS "completedAt", duration_ms AS "durationMs", expires_at AS "expiresAt"`

const prefixed = (alias: string, columns: string) =>
  columns.replace(/(^|,\s*)([a-z_]+)(?=[\s,]|$)/g, (_, sep: string, col: string) => `${sep}${alias}.${col}`)

const unitColumns = (alias: string) => prefixed(alias, `id, ${unitFields}`)

/** Unit columns with an empty `tests` (job detail pages leave test records out unless asked). */
const unitColumnsWithoutTests = unitColumns("u").replace("u.tests", `'[]'::jsonb AS tests`)

const latestColumns = prefixed("l", `unit_id AS "id", ${unitFields}`)

// ---------------------------------------------------------------------------------------------
// Row decoding (built once)
// ---------------------------------------------------------------------------------------------

const decodeJob = Schema.decodeUnknownEffect(Domain.Job)
const decodeUnit = Schema.decodeUnknownEffect(Domain.Unit)
const decodeUnits = Schema.decodeUnknownEffect(Schema.Array(Domain.Unit))
const encodeJob = Schema.encodeUnknownEffect(Domain.Job)
const encodeUnits = Schema.encodeUnknownEffect(Schema.Array(Domain.Unit))
const encodeOutcome = Schema.encodeUnknownEffect(Domain.UnitOutcome)
const encodeError = Schema.encodeUnknownEffect(Domain.CategorizedError)
const encodeTests = Schema.encodeUnknownEffect(Schema.Array(Domain.TestResult))
const encodeTarget = Schema.encodeUnknownEffect(Domain.InvocationTarget)
const decodeCells = Schema.decodeUnknownEffect(Schema.Array(Schema.Struct({
  modelId: Domain.ModelId,
  region: Domain.Region,
  status: Domain.UnitStatus,
  score: Schema.NullOr(Schema.Finite),
  grade: Schema.NullOr(Schema.String)
})))
const decodeProgress = Schema.decodeUnknownEffect(Queue.ProgressEvent)

const iso = (value: unknown): unknown => value instanceof Date ? value.toISOString() : value

const jobTimestamps = ["createdAt", "updatedAt", "startedAt", "completedAt", "cancelledAt"] as const
const unitTimestamps = ["createdAt", "queuedAt", "startedAt", "completedAt", "expiresAt"] as const

const withIsoTimes = (row: Record<string, unknown>, keys: ReadonlyArray<string>): Record<string, unknown> => {
  const out: Record<string, unknown> = { ...row }
  for (const key of keys) out[key] = iso(row[key])
  return out
}

const invalid = (operation: string, message: string, cause?: unknown) =>
  new Storage.StorageError({
    operation,
    reason: new Storage.StorageInvalid(cause === undefined ? { message } : { message, cause })
  })

const undecodable = (operation: string) => (cause: { readonly message: string }) =>
  new Storage.StorageError({
    operation,
    reason: new Storage.StorageUnknown({ message: `stored row did not decode: ${cause.message}`, cause })
  })

const toJob = (operation: string) => (row: Record<string, unknown>) =>
  decodeJob(withIsoTimes(row, jobTimestamps)).pipe(Effect.mapError(undecodable(operation)))

const toUnit = (operation: string) => (row: Record<string, unknown>) =>
  decodeUnit(withIsoTimes(row, unitTimestamps)).pipe(Effect.mapError(undecodable(operation)))

const emptyByVerdict = (): Record<Domain.Verdict, number> =>
  Object.fromEntries(Domain.verdicts.map((v) => [v, 0])) as Record<Domain.Verdict, number>

/** Progress counts from `status → count` of a job's unit rows. */
export const countsFromStatuses = (byStatus: Readonly<Record<string, number>>): Domain.JobCounts => {
  const byVerdict = emptyByVerdict()
  for (const verdict of Domain.verdicts) byVerdict[verdict] = byStatus[verdict] ?? 0
  const pending = byStatus["PENDING"] ?? 0
  const queued = byStatus["QUEUED"] ?? 0
  const processing = byStatus["PROCESSING"] ?? 0
  const completed = Domain.verdicts.reduce((n, v) => n + byVerdict[v], 0)
  return new Domain.JobCounts({
    total: pending + queued + processing + completed,
    pending,
    queued,
    processing,
    completed,
    passed: byVerdict.CERTIFIED + byVerdict.QUALITY_WARNING,
    byVerdict
  })
}

const pageOf = (request: Storage.PageRequest, max = MAX_LIMIT) => {
  const limit = Math.min(max, Math.max(1, Math.floor(request.limit)))
  const page = Math.max(1, Math.floor(request.page))
  return { limit, page, offset: (page - 1) * limit }
}

type Row = Record<string, unknown>

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

/** The tables and SQL helpers one Storage shares between its operations. */
const makeDb = (schema: string, client: PgClient.PgClient["Service"]) => {
  const sql = client.sql
  const jobs = sql(`${schema}.jobs`)
  const units = sql(`${schema}.units`)
  const latestTable = sql(`${schema}.latest_results`)
  const progressTable = sql(`${schema}.progress_events`)
  // Issue 16: each job's units per status, kept by triggers on units (migration 9).
  const countsTable = sql(`${schema}.job_unit_counts`)
  const raw = (text: string) => sql.unsafe(text)
  const textArray = (values: ReadonlyArray<string>) => sql.array(values as Array<string>)
  const json = (value: unknown) => sql.json(value as postgres.JSONValue)
  const nowIso = Effect.map(DateTime.now, DateTime.formatIso)
  // Issue 15: the sequence that orders results (migration 4).
  const resultSeq = `${schema}.result_seq`
  return { client, sql, jobs, units, latestTable, progressTable, countsTable, raw, textArray, json, nowIso, resultSeq }
}

type Db = ReturnType<typeof makeDb>

/** Creating jobs (once per key), and moving a job and its units through the state machine. */
const jobWrites = (db: Db) => {
  const { client, json, jobs, nowIso, raw, sql, textArray, units } = db

  const encodeRows = Effect.fnUntraced(function*(op: string, job: Domain.Job, rows: ReadonlyArray<Domain.Unit>) {
    if (rows.some((u) => u.jobId !== job.id)) return yield* invalid(op, `every unit must belong to job ${job.id}`)
    const j = yield* encodeJob(job).pipe(Effect.mapError((e) => invalid(op, e.message, e)))
    const us = yield* encodeUnits(rows).pipe(Effect.mapError((e) => invalid(op, e.message, e)))
    return { j, us }
  })

  type Encoded = Effect.Success<ReturnType<typeof encodeRows>>
  const noKeys: Storage.JobKeys = { idempotencyKey: null, activeKey: null, fingerprint: "", answer: "" }

  /** Insert the job row with its keys; with `onConflict`, a clash on any unique key inserts nothing. */
  const insertJob = (tx: postgres.Sql, { j }: Encoded, keys: Storage.JobKeys, onConflict: boolean) =>
    tx<Array<{ id: string }>>`INSERT INTO ${jobs} (id, type, status, model_ids, regions, total_units, config, created_by,
        parent_job_id, reason, created_at, updated_at, started_at, completed_at, cancelled_at, idempotency_key,
        active_key, request_fingerprint, created_answer)
      VALUES (${j.id}, ${j.type}, ${j.status}, ${json(j.modelIds)}, ${json(j.regions)}, ${j.totalUnits},
        ${json(j.config)}, ${j.createdBy}, ${j.parentJobId}, ${j.reason}, ${j.createdAt}, ${j.updatedAt},
        ${j.startedAt}, ${j.completedAt}, ${j.cancelledAt}, ${keys.idempotencyKey}, ${keys.activeKey},
        ${keys === noKeys ? null : keys.fingerprint}, ${keys === noKeys ? null : keys.answer})
      ${raw(onConflict ? "ON CONFLICT DO NOTHING" : "")}
      RETURNING id`

  // One parameter for all units: no 65,535-parameter limit, one round trip, one statement.
  const insertUnits = (tx: postgres.Sql, { us }: Encoded) =>
    tx`INSERT INTO ${units} (id, job_id, model_id, host_model_id, region, status, invocation_target,
        suite_version, tests, score, grade, stars, error, findings, attempts, lease, created_at, queued_at,
        started_at, completed_at, duration_ms, expires_at)
      SELECT x.id, x."jobId", x."modelId", x."hostModelId", x.region, x.status, x."invocationTarget",
        x."suiteVersion", x.tests, x.score, x.grade, x.stars, x.error, x.findings, x.attempts, x.lease,
        x."createdAt", x."queuedAt", x."startedAt", x."completedAt", x."durationMs", x."expiresAt"
      FROM jsonb_to_recordset(${json(us)}) AS x(id text, "jobId" text, "modelId" text, "hostModelId" text,
        region text, status text, "invocationTarget" jsonb, "suiteVersion" text, tests jsonb,
        score double precision, grade text, stars double precision, error jsonb, findings jsonb,
        attempts integer, lease text, "createdAt" timestamptz, "queuedAt" timestamptz,
        "startedAt" timestamptz, "completedAt" timestamptz, "durationMs" double precision,
        "expiresAt" timestamptz)`

  const createJob = Effect.fn("PgStorage.createJob")(function*(job: Domain.Job, rows: ReadonlyArray<Domain.Unit>) {
    const op = "createJob"
    const encoded = yield* encodeRows(op, job, rows)
    yield* client.transaction(op, (tx) =>
      Effect.gen(function*() {
        yield* client.run(op, () => insertJob(tx, encoded, noKeys, false))
        if (encoded.us.length > 0) yield* client.run(op, () => insertUnits(tx, encoded))
      }))
  })

  /** The job holding one of `keys` (the idempotency key first; the active key only on a live job). */
  const holderOf = (tx: postgres.Sql, keys: Storage.JobKeys) =>
    tx<Array<{ id: string; matched: "idempotencyKey" | "activeKey"; fingerprint: string; answer: string }>>`
      SELECT id, matched, fingerprint, answer FROM (
        SELECT id, 'idempotencyKey' AS matched, request_fingerprint AS fingerprint, created_answer AS answer, 0 AS rank
          FROM ${jobs} WHERE ${keys.idempotencyKey} :: text IS NOT NULL AND idempotency_key = ${keys.idempotencyKey}
        UNION ALL
        SELECT id, 'activeKey', request_fingerprint, created_answer, 1
          FROM ${jobs} WHERE ${keys.activeKey} :: text IS NOT NULL AND active_key = ${keys.activeKey}
            AND status NOT IN ${sql(JobStateMachine.terminalJobStatuses as Array<string>)}
      ) AS holders ORDER BY rank LIMIT 1`

  const createJobOnce = Effect.fn("PgStorage.createJobOnce")(function*(
    job: Domain.Job,
    rows: ReadonlyArray<Domain.Unit>,
    keys: Storage.JobKeys
  ) {
    const op = "createJobOnce"
    const encoded = yield* encodeRows(op, job, rows)
    const existing = (row: { id: string; matched: "idempotencyKey" | "activeKey"; fingerprint: string; answer: string }) => {
      const found: Storage.CreateOnce = {
        _tag: "Existing",
        jobId: row.id as Domain.JobId,
        matched: row.matched,
        fingerprint: row.fingerprint,
        answer: row.answer
      }
      return found
    }
    return yield* client.transaction(op, (tx) =>
      Effect.gen(function*() {
        const before = yield* client.run(op, () => holderOf(tx, keys))
        if (before[0] !== undefined) return existing(before[0])
        // A concurrent creator with the same key makes this insert wait for its commit, then do nothing.
        const inserted = yield* client.run(op, () => insertJob(tx, encoded, keys, true))
        if (inserted.length === 0) {
          const after = yield* client.run(op, () => holderOf(tx, keys))
          if (after[0] !== undefined) return existing(after[0])
          return yield* new Storage.StorageError({
            operation: op,
            reason: new Storage.StorageConflict({
              message: `job ${job.id} exists, or the job holding its key ended while this one was created`
            })
          })
        }
        if (encoded.us.length > 0) yield* client.run(op, () => insertUnits(tx, encoded))
        const created: Storage.CreateOnce = { _tag: "Created" }
        return created
      }))
  })

  const transitionJob = Effect.fn("PgStorage.transitionJob")(function*(
    id: Domain.JobId,
    transition: Storage.JobTransition & { readonly unitError?: Domain.UnitOutcome["error"] | undefined }
  ) {
    const op = "transitionJob"
    if (transition.from.length === 0) return Option.none()
    const at = yield* nowIso
    const to = transition.to
    const stampOf = JobStateMachine.jobTimestampOf[to]
    const stamp = stampOf === null ? null : stampColumn[stampOf]
    const ending = JobStateMachine.unitEndingOf[to]
    const unitError = ending === "INCONCLUSIVE" && transition.unitError != null
      ? json(yield* encodeError(transition.unitError).pipe(Effect.mapError((e) => invalid(op, e.message, e))))
      : null
    const stampSql = stamp === null
      ? sql``
      : stamp === "started_at"
      ? sql`, started_at = coalesce(started_at, ${at})`
      : sql`, ${sql(stamp)} = ${at}`
    // COMPLETED needs every unit terminal, checked in the same statement as the write.
    const allTerminal = to === "COMPLETED"
      ? sql`AND NOT EXISTS (SELECT 1 FROM ${units} WHERE job_id = ${id} AND status IN ${sql(inFlight)})`
      : sql``
    // The job row and its unfinished units change in one statement: atomic, and no half-cancelled job.
    const endUnits = ending === null
      ? sql``
      : sql`, ended AS (
          UPDATE ${units} u SET status = ${ending}, error = ${unitError}, lease = NULL, completed_at = ${at},
            duration_ms = CASE WHEN u.started_at IS NULL THEN NULL
              ELSE extract(epoch FROM (${at}::timestamptz - u.started_at)) * 1000 END
          FROM moved WHERE u.job_id = moved.id AND u.status IN ${sql(inFlight)}
          RETURNING 1)`
    const rows = yield* client.run(op, () =>
      sql<Array<Row>>`WITH moved AS (
          UPDATE ${jobs} SET status = ${to}, updated_at = ${at}, reason = coalesce(${transition.reason ?? null}, reason)
            ${stampSql}
          WHERE id = ${id} AND status IN ${sql(transition.from as Array<string>)} ${allTerminal}
          RETURNING ${raw(jobColumns)})
        ${endUnits}
        SELECT * FROM moved`)
    return rows.length === 0 ? Option.none() : Option.some(yield* toJob(op)(rows[0]!))
  })

  const markQueued = Effect.fn("PgStorage.markQueued")(function*(ids: ReadonlyArray<Domain.UnitId>) {
    if (ids.length === 0) return
    const at = yield* nowIso
    yield* client.run("markQueued", () =>
      sql`UPDATE ${units} SET status = 'QUEUED', queued_at = ${at}
        WHERE id = ANY(${textArray(ids)}::text[]) AND status = 'PENDING'`)
  })

  return { createJob, createJobOnce, transitionJob, markQueued }
}

/** The fenced unit writes: claim, complete (feeding the latest view), release. */
const unitWrites = (db: Db) => {
  const { client, json, jobs, latestTable, nowIso, raw, resultSeq, sql, units } = db

  const claimUnit = Effect.fn("PgStorage.claimUnit")(function*(id: Domain.UnitId, lease: string) {
    const at = yield* nowIso
    const rows = yield* client.run("claimUnit", () =>
      sql<Array<Row>>`UPDATE ${units} u SET status = 'PROCESSING', lease = ${lease}, attempts = u.attempts + 1,
          started_at = coalesce(u.started_at, ${at})
        FROM ${jobs} j
        WHERE u.id = ${id} AND j.id = u.job_id AND u.status IN ${sql(inFlight)}
          AND j.status IN ${sql(JobStateMachine.claimableJobStatuses as Array<string>)}
        RETURNING ${raw(unitColumns("u"))}`)
    return rows.length === 0 ? Option.none() : Option.some(yield* toUnit("claimUnit")(rows[0]!))
  })

  const completeUnit = Effect.fn("PgStorage.completeUnit")(function*(
    id: Domain.UnitId,
    lease: string,
    outcome: Domain.UnitOutcome
  ) {
    const op = "completeUnit"
    const millis = yield* Clock.currentTimeMillis
    const at = DateTime.formatIso(DateTime.makeUnsafe(millis))
    const o = yield* encodeOutcome(outcome).pipe(Effect.mapError((e) => invalid(op, e.message, e)))
    // One statement: the fenced unit write, then the latest upsert fed only by the row it returned.
    // The latest view follows the result sequence (the order of writes), as in the memory adapter.
    const rows = yield* client.run(op, () =>
      sql<Array<{ n: number }>>`WITH done AS (
          UPDATE ${units} u SET status = ${o.verdict}, invocation_target = ${o.invocationTarget === null ? null : json(o.invocationTarget)},
            suite_version = ${o.suiteVersion}, tests = ${json(o.tests)}, score = ${o.score}, grade = ${o.grade},
            stars = ${o.stars}, error = ${o.error === null ? null : json(o.error)}, findings = ${json(o.findings)},
            completed_at = ${at}, result_seq = nextval(${resultSeq}::regclass),
            duration_ms = CASE WHEN u.started_at IS NULL THEN NULL
              ELSE extract(epoch FROM (${at}::timestamptz - u.started_at)) * 1000 END,
            expires_at = ${at}::timestamptz + make_interval(hours => (j.config ->> 'validityDays')::int * 24)
          FROM ${jobs} j
          WHERE u.id = ${id} AND u.lease = ${lease} AND u.status = 'PROCESSING'
            AND j.id = u.job_id AND j.status NOT IN ${sql(JobStateMachine.writeClosedJobStatuses as Array<string>)}
          RETURNING u.*),
        latest AS (
          INSERT INTO ${latestTable} (model_id, region, unit_id, job_id, host_model_id, status, invocation_target,
            suite_version, tests, score, grade, stars, error, findings, attempts, lease, created_at, queued_at,
            started_at, completed_at, duration_ms, expires_at, result_seq)
          SELECT model_id, region, id, job_id, host_model_id, status, invocation_target, suite_version, tests, score,
            grade, stars, error, findings, attempts, lease, created_at, queued_at, started_at, completed_at,
            duration_ms, expires_at, result_seq
          FROM done
          ON CONFLICT (model_id, region) DO UPDATE SET unit_id = EXCLUDED.unit_id, job_id = EXCLUDED.job_id,
            host_model_id = EXCLUDED.host_model_id, status = EXCLUDED.status,
            invocation_target = EXCLUDED.invocation_target, suite_version = EXCLUDED.suite_version,
            tests = EXCLUDED.tests, score = EXCLUDED.score, grade = EXCLUDED.grade, stars = EXCLUDED.stars,
            error = EXCLUDED.error, findings = EXCLUDED.findings, attempts = EXCLUDED.attempts,
            lease = EXCLUDED.lease, created_at = EXCLUDED.created_at, queued_at = EXCLUDED.queued_at,
            started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at,
            duration_ms = EXCLUDED.duration_ms, expires_at = EXCLUDED.expires_at, result_seq = EXCLUDED.result_seq
          -- Issue 15: the later write wins, whatever the writers' clocks (rows from before the sequence: NULL).
          WHERE ${latestTable}.result_seq IS NULL OR ${latestTable}.result_seq < EXCLUDED.result_seq)
        SELECT count(*)::int AS n FROM done`)
    return (rows[0]?.n ?? 0) > 0
  })

  const releaseUnit = Effect.fn("PgStorage.releaseUnit")(function*(id: Domain.UnitId, lease: string) {
    const rows = yield* client.run("releaseUnit", () =>
      sql`UPDATE ${units} SET status = 'QUEUED', lease = NULL
        WHERE id = ${id} AND lease = ${lease} AND status = 'PROCESSING' RETURNING 1`)
    return rows.length > 0
  })

  /** `WHERE a AND b …` over the given conditions (nulls dropped), or nothing when none remain. */
  return { claimUnit, completeUnit, releaseUnit }
}

/** Reads, stats and retention. */
/** The latest-view filters of continuous certification (issue 14); an empty list does not narrow. */
const recheckConditions = ({ raw, sql, textArray }: Db, filter: Storage.LatestFilter) => {
  const any = (column: string, list: ReadonlyArray<string> | undefined) =>
    list === undefined || list.length === 0 ? null : sql`${raw(column)} = ANY(${textArray(list)}::text[])`
  return [
    any("l.status", filter.verdicts),
    any("l.model_id", filter.modelIds),
    any("l.region", filter.regions),
    // Served by latest_results_expires_idx (migration 5).
    filter.expiringBefore === undefined ? null : sql`l.expires_at < ${filter.expiringBefore}::timestamptz`,
    filter.suiteVersion === undefined ? null : sql`l.suite_version = ${filter.suiteVersion}`,
    filter.suiteVersionOtherThan === undefined
      ? null
      : sql`l.suite_version IS DISTINCT FROM ${filter.suiteVersionOtherThan}`
  ]
}

/** Shared records (issue 14: the recertification schedule, its runs, the reasons of its jobs). */
const settingRecords = ({ client, nowIso, sql }: Db, schema: string) => {
  const settingsTable = sql(`${schema}.settings`)

  const getSetting = Effect.fn("PgStorage.getSetting")(function*(key: string) {
    const rows = yield* client.run("getSetting", () =>
      sql<Array<{ value: string }>>`SELECT value FROM ${settingsTable} WHERE key = ${key}`)
    return Option.fromUndefinedOr(rows[0]?.value)
  })

  const putSetting = Effect.fn("PgStorage.putSetting")(function*(key: string, value: string) {
    const at = yield* nowIso
    yield* client.run("putSetting", () =>
      sql`INSERT INTO ${settingsTable} (key, value, updated_at) VALUES (${key}, ${value}, ${at})
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`)
  })

  return { getSetting, putSetting }
}

const reads = (db: Db) => {
  const { client, countsTable, jobs, latestTable, raw, sql, units } = db

  const getJob = Effect.fn("PgStorage.getJob")(function*(id: Domain.JobId) {
    const rows = yield* client.run("getJob", () => sql<Array<Row>>`SELECT ${raw(jobColumns)} FROM ${jobs} WHERE id = ${id}`)
    return rows.length === 0 ? Option.none() : Option.some(yield* toJob("getJob")(rows[0]!))
  })

  const getUnits = Effect.fn("PgStorage.getUnits")(function*(jobId: Domain.JobId) {
    const rows = yield* client.run("getUnits", () =>
      sql<Array<Row>>`SELECT ${raw(unitColumns("u"))} FROM ${units} u WHERE u.job_id = ${jobId}
        ORDER BY u.model_id, u.region`)
    return yield* Effect.forEach(rows, toUnit("getUnits"))
  })

  const getUnit = Effect.fn("PgStorage.getUnit")(function*(id: Domain.UnitId) {
    const rows = yield* client.run("getUnit", () =>
      sql<Array<Row>>`SELECT ${raw(unitColumns("u"))} FROM ${units} u WHERE u.id = ${id}`)
    return rows.length === 0 ? Option.none() : Option.some(yield* toUnit("getUnit")(rows[0]!))
  })

  // The per-job counts the unit triggers keep (migration 9): a few primary-key rows, whatever the job's size.
  const counts = Effect.fn("PgStorage.counts")(function*(jobId: Domain.JobId) {
    const rows = yield* client.run("counts", () =>
      sql<Array<{ status: string; n: number }>>`SELECT status, n FROM ${countsTable} WHERE job_id = ${jobId}`)
    return countsFromStatuses(Object.fromEntries(rows.map((r) => [r.status, r.n])))
  })

  const whereAll = (conditions: ReadonlyArray<postgres.PendingQuery<Array<postgres.Row>> | null>) => {
    const cs = conditions.filter((c) => c !== null)
    return cs.length === 0 ? sql`` : sql`WHERE ${cs.reduce((all, c) => sql`${all} AND ${c}`)}`
  }

  const history = Effect.fn("PgStorage.history")(function*(filter: Storage.HistoryFilter, request: Storage.PageRequest) {
    const op = "history"
    const { limit, offset, page } = pageOf(request)
    const where = () =>
      whereAll([
        filter.status === undefined ? null : sql`j.status = ${filter.status}`,
        filter.type === undefined ? null : sql`j.type = ${filter.type}`,
        filter.from === undefined ? null : sql`j.created_at >= ${filter.from}`,
        filter.to === undefined ? null : sql`j.created_at < ${filter.to}`
      ])
    const [rows, totals] = yield* Effect.all([
      client.run(op, () =>
        sql<Array<Row>>`SELECT ${raw(prefixed("j", jobColumns))},
            (SELECT coalesce(jsonb_object_agg(c.status, c.n), '{}'::jsonb)
               FROM ${countsTable} c WHERE c.job_id = j.id AND c.n > 0
            ) AS "unitCounts"
          FROM ${jobs} j ${where()}
          ORDER BY j.created_at DESC, j.id DESC LIMIT ${limit} OFFSET ${offset}`),
      client.run(op, () => sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${jobs} j ${where()}`)
    ], { concurrency: 2 })
    const items = yield* Effect.forEach(rows, ({ unitCounts, ...row }) =>
      toJob(op)(row).pipe(
        Effect.map((job): Storage.JobSummary => ({
          job,
          counts: countsFromStatuses(unitCounts as Record<string, number>)
        }))
      ))
    return { items, total: totals[0]?.n ?? 0, page, limit }
  })

  const latest = Effect.fn("PgStorage.latest")(function*(filter: Storage.LatestFilter, request: Storage.PageRequest) {
    const op = "latest"
    const { limit, offset, page } = pageOf(request)
    const where = () =>
      whereAll([
        filter.modelId === undefined ? null : sql`l.model_id = ${filter.modelId}`,
        filter.region === undefined ? null : sql`l.region = ${filter.region}`,
        filter.status === undefined ? null : sql`l.status = ${filter.status}`,
        ...recheckConditions(db, filter)
      ])
    const [rows, totals] = yield* Effect.all([
      client.run(op, () =>
        sql<Array<Row>>`SELECT ${raw(latestColumns)} FROM ${latestTable} l ${where()}
          ORDER BY l.completed_at DESC, l.unit_id DESC LIMIT ${limit} OFFSET ${offset}`),
      client.run(op, () => sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${latestTable} l ${where()}`)
    ], { concurrency: 2 })
    const items = yield* Effect.forEach(rows, toUnit(op))
    return { items, total: totals[0]?.n ?? 0, page, limit }
  })

  const stats = Effect.gen(function*() {
    const op = "stats"
    const [jobRows, unitRows] = yield* Effect.all([
      client.run(op, () =>
        sql<Array<{ status: Domain.JobStatus; n: number }>>`SELECT status, count(*)::int AS n FROM ${jobs}
          GROUP BY status`),
      client.run(op, () =>
        sql<Array<{ region: Domain.Region; status: Domain.Verdict; category: Domain.ErrorCategory | null; n: number }>>`
          SELECT region, status, error_category AS category, count(*)::int AS n FROM ${units}
          WHERE status NOT IN ${sql(inFlight)}
          GROUP BY region, status, error_category ORDER BY region`)
    ], { concurrency: 2 })
    const jobsByStatus = Object.fromEntries(Domain.JobStatus.literals.map((s) => [s, 0])) as Record<
      Domain.JobStatus,
      number
    >
    for (const row of jobRows) jobsByStatus[row.status] = row.n
    const unitsByVerdict = emptyByVerdict()
    const regions = new Map<Domain.Region, { total: number; passed: number; byVerdict: Partial<Record<Domain.Verdict, number>> }>()
    const errorsByCategory: Partial<Record<Domain.ErrorCategory, number>> = {}
    for (const row of unitRows) {
      unitsByVerdict[row.status] += row.n
      const region = regions.get(row.region) ?? { total: 0, passed: 0, byVerdict: {} }
      region.total += row.n
      if (Domain.isPassed(row.status)) region.passed += row.n
      region.byVerdict[row.status] = (region.byVerdict[row.status] ?? 0) + row.n
      regions.set(row.region, region)
      if (row.category !== null) errorsByCategory[row.category] = (errorsByCategory[row.category] ?? 0) + row.n
    }
    const unitsByRegion = Array.from(regions, ([region, r]) => ({ region, ...r }))
    return { jobsByStatus, unitsByVerdict, unitsByRegion, errorsByCategory } satisfies Storage.Stats
  }).pipe(Effect.withSpan("PgStorage.stats"))

  const cleanup = Effect.fn("PgStorage.cleanup")(function*(before: Domain.Timestamp) {
    // Units go with their job (ON DELETE CASCADE); latest_results keeps its own copies.
    const rows = yield* client.run("cleanup", () =>
      sql<Array<{ n: number }>>`WITH deleted AS (
          DELETE FROM ${jobs} WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')
            AND coalesce(completed_at, cancelled_at, updated_at) < ${before}
          RETURNING 1)
        SELECT count(*)::int AS n FROM deleted`)
    return rows[0]?.n ?? 0
  })

  return { getJob, getUnits, getUnit, counts, history, latest, stats, cleanup }
}

/** Issue #13 — control-plane observations: one row per (account, region), only ever moved forward in time. */
const observationRows = (db: Db, schema: string) => {
  const { client, json, sql } = db
  const table = sql(`${schema}.registry_observations`)
  const saveObservation = Effect.fn("PgStorage.saveObservation")(function*(observation: Observation.RegionObservation) {
    const encoded = Observation.encode(observation)
    const rows = yield* client.run("saveObservation", () =>
      sql`INSERT INTO ${table} AS o (account, region, observed_at, observation)
        VALUES (${observation.account}, ${observation.region}, ${observation.observedAt}, ${json(encoded)})
        ON CONFLICT (account, region) DO UPDATE SET observed_at = EXCLUDED.observed_at, observation = EXCLUDED.observation
          WHERE o.observed_at <= EXCLUDED.observed_at
        RETURNING 1`)
    return rows.length > 0
  })
  const getObservation = Effect.fn("PgStorage.getObservation")(function*(account: string, region: Domain.Region) {
    const rows = yield* client.run("getObservation", () =>
      sql<Array<{ observation: unknown }>>`SELECT observation FROM ${table}
        WHERE account = ${account} AND region = ${region}`)
    if (rows.length === 0) return Option.none()
    return Option.some(yield* Effect.try({
      try: () => Observation.decode(rows[0]!.observation),
      catch: (cause) => undecodable("getObservation")(cause as { readonly message: string })
    }))
  })
  return { saveObservation, getObservation }
}

/** A timestamptz as `Date.prototype.toISOString` writes it (UTC, milliseconds), in SQL. */
const isoSql = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/** One unit row as the JSON object of its `Domain.Unit` encoding (`tests` as given), in SQL. */
const unitJson = (tests: string) =>
  `json_build_object('id', u.id, 'jobId', u.job_id, 'modelId', u.model_id, 'hostModelId', u.host_model_id,
    'region', u.region, 'status', u.status, 'invocationTarget', u.invocation_target, 'suiteVersion', u.suite_version,
    'tests', ${tests}, 'score', u.score, 'grade', u.grade, 'stars', u.stars, 'error', u.error, 'findings', u.findings,
    'attempts', u.attempts, 'lease', u.lease, 'createdAt', ${isoSql("u.created_at")}, 'queuedAt', ${isoSql("u.queued_at")},
    'startedAt', ${isoSql("u.started_at")}, 'completedAt', ${isoSql("u.completed_at")}, 'durationMs', u.duration_ms,
    'expiresAt', ${isoSql("u.expires_at")})`
const unitJsonWithTests = unitJson("u.tests")
const unitJsonWithoutTests = unitJson(`'[]'::jsonb`)

/** Large jobs (issue 16): paged detail, the matrix cells, per-test progress. */
const largeJobs = (db: Db) => {
  const { client, countsTable, json, jobs, raw, sql, textArray, units } = db

  /** `WHERE` of a page of a job's units (alias `u`). */
  const unitsWhere = (jobId: Domain.JobId, { modelId, region, status }: Storage.UnitsFilter) =>
    sql`WHERE u.job_id = ${jobId} ${status === undefined ? sql`` : sql`AND u.status = ${status}`}
      ${region === undefined ? sql`` : sql`AND u.region = ${region}`}
      ${modelId === undefined ? sql`` : sql`AND u.model_id = ${modelId}`}`

  const unitsPage = Effect.fn("PgStorage.unitsPage")(function*(jobId: Domain.JobId, query: Storage.UnitsQuery) {
    const op = "unitsPage"
    const { limit, offset, page } = pageOf(query.page, Storage.maxUnitsPageSize)
    const where = () => unitsWhere(jobId, query.filter)
    const columns = query.withTests === true ? unitColumns("u") : unitColumnsWithoutTests
    const [rows, totals] = yield* Effect.all([
      client.run(op, () =>
        sql<Array<Row>>`SELECT ${raw(columns)} FROM ${units} u ${where()}
          ORDER BY u.model_id, u.region LIMIT ${limit} OFFSET ${offset}`),
      query.countTotal === false
        ? Effect.succeed([{ n: -1 }])
        : client.run(op, () => sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${units} u ${where()}`)
    ], { concurrency: 2 })
    const items = yield* Effect.forEach(rows, toUnit(op))
    return { items, total: totals[0]?.n ?? 0, page, limit }
  })

  const unitCells = Effect.fn("PgStorage.unitCells")(function*(jobId: Domain.JobId) {
    const op = "unitCells"
    // Served by units_job_cells_idx (migration 6) without reading test records.
    const rows = yield* client.run(op, () =>
      sql<Array<Row>>`SELECT model_id AS "modelId", region, status, score, grade FROM ${units}
        WHERE job_id = ${jobId} ORDER BY model_id, region`)
    return yield* decodeCells(rows).pipe(Effect.mapError(undecodable(op)))
  })

  const saveProgress = Effect.fn("PgStorage.saveProgress")(function*(
    id: Domain.UnitId,
    lease: string,
    progress: Storage.UnitProgress
  ) {
    const op = "saveProgress"
    const tests = yield* encodeTests(progress.tests).pipe(Effect.mapError((e) => invalid(op, e.message, e)))
    const target = progress.invocationTarget === null
      ? null
      : json(yield* encodeTarget(progress.invocationTarget).pipe(Effect.mapError((e) => invalid(op, e.message, e))))
    // Fenced like completeUnit; the stored tests keep their order, replaced ids drop out, new ones follow.
    const rows = yield* client.run(op, () =>
      sql`UPDATE ${units} u SET
          tests = (SELECT coalesce(jsonb_agg(t.value ORDER BY t.rank, t.ord), '[]'::jsonb) FROM (
              SELECT e.value, e.ord, 0 AS rank FROM jsonb_array_elements(u.tests) WITH ORDINALITY AS e(value, ord)
                WHERE NOT (e.value ->> 'id' = ANY(${textArray(progress.tests.map((t) => t.id))}::text[]))
              UNION ALL
              SELECT g.value, g.ord, 1 FROM jsonb_array_elements(${json(tests)}) WITH ORDINALITY AS g(value, ord)
            ) t),
          invocation_target = coalesce(${target}, u.invocation_target)
        FROM ${jobs} j
        WHERE u.id = ${id} AND u.lease = ${lease} AND u.status = 'PROCESSING'
          AND j.id = u.job_id AND j.status NOT IN ${sql(JobStateMachine.writeClosedJobStatuses as Array<string>)}
        RETURNING 1`)
    return rows.length > 0
  })

  // One statement, one round trip: the job row, its counts (migration 9) and the page as one JSON array
  // (one JSON.parse instead of per-row, per-column parsing), ordered like unitsPage. The JSON is built
  // outside the paged subquery, so the rows an OFFSET skips are never turned into JSON.
  const jobDetail = Effect.fn("PgStorage.jobDetail")(function*(jobId: Domain.JobId, query: Storage.UnitsQuery) {
    const op = "jobDetail"
    const { limit, offset, page } = pageOf(query.page, Storage.maxUnitsPageSize)
    const unit = raw(query.withTests === true ? unitJsonWithTests : unitJsonWithoutTests)
    const total = query.countTotal === false
      ? sql`-1`
      : sql`(SELECT count(*)::int FROM ${units} u ${unitsWhere(jobId, query.filter)})`
    const rows = yield* client.run(op, () =>
      sql<Array<Row>>`SELECT ${raw(jobColumns)},
          (SELECT coalesce(json_object_agg(c.status, c.n), '{}'::json) FROM ${countsTable} c WHERE c.job_id = ${jobId})
            AS "unitCounts",
          (SELECT coalesce(json_agg(${unit} ORDER BY u.model_id, u.region), '[]'::json) FROM (
              SELECT * FROM ${units} u ${unitsWhere(jobId, query.filter)}
              ORDER BY u.model_id, u.region LIMIT ${limit} OFFSET ${offset}) u) AS "pageUnits",
          ${total} AS "pageTotal"
        FROM ${jobs} WHERE id = ${jobId}`)
    const row = rows[0]
    if (row === undefined) return Option.none()
    const { pageTotal, pageUnits, unitCounts, ...jobRow } = row
    const job = yield* toJob(op)(jobRow)
    const items = yield* decodeUnits(pageUnits).pipe(Effect.mapError(undecodable(op)))
    const detail: Storage.JobDetailRead = {
      job,
      counts: countsFromStatuses(unitCounts as Record<string, number>),
      units: { items, total: pageTotal as number, page, limit }
    }
    return Option.some(detail)
  })

  return { unitsPage, unitCells, saveProgress, jobDetail }
}

// ---------------------------------------------------------------------------------------------
// Progress events (issue 18)
// ---------------------------------------------------------------------------------------------

const progressEvents = ({ client, jobs, progressTable, sql }: Db) => {
  // One statement bumps the job's counter (locking its row until commit) and stores the event.
  const appendProgress = Effect.fn("PgStorage.appendProgress")(function*(event: Queue.ProgressEvent) {
    const rows = yield* client.run("appendProgress", () =>
      sql<Array<{ seq: number }>>`WITH next AS (
          UPDATE ${jobs} SET progress_seq = progress_seq + 1 WHERE id = ${event.jobId} RETURNING id, progress_seq)
        INSERT INTO ${progressTable} (job_id, seq, type, unit_id, status, at)
          SELECT id, progress_seq, ${event.type}, ${event.unitId}, ${event.status}, ${event.at} FROM next
        RETURNING seq`)
    return rows.length === 0 ? Option.none() : Option.some(rows[0]!.seq)
  })

  const progressAfter = Effect.fn("PgStorage.progressAfter")(
    function*(jobId: Domain.JobId, after: number, limit: number) {
      const rows = yield* client.run("progressAfter", () =>
        sql<Array<Row>>`SELECT seq, job_id AS "jobId", type, unit_id AS "unitId", status, at FROM ${progressTable}
          WHERE job_id = ${jobId} AND seq > ${Math.floor(after)} ORDER BY seq LIMIT ${Math.max(0, Math.floor(limit))}`)
      return yield* Effect.forEach(rows, ({ seq, ...event }) =>
        decodeProgress(event).pipe(
          Effect.map((decoded) => ({ seq: seq as number, event: decoded })),
          Effect.mapError(undecodable("progressAfter"))
        ))
    }
  )

  return { appendProgress, progressAfter }
}

/**
 * Issue 15: what the reconciler reads and marks, and the database's clock. Issue 10: the stamps these
 * reads compare with `before` (a cut-off on `databaseTime`) come from the database's clock too —
 * `enqueued_at = now()` and the job's `recorded_at` (column default `now()`) — never from the
 * caller's, so a process whose clock is off still waits the reconciler's grace, no more, no less.
 */
const reconciliation = (db: Db) => {
  const { client, jobs, raw, sql, units } = db

  const markEnqueued = Effect.fn("PgStorage.markEnqueued")(function*(jobId: Domain.JobId) {
    yield* client.run("markEnqueued", () =>
      sql`UPDATE ${jobs} SET enqueued_at = now() WHERE id = ${jobId} AND enqueued_at IS NULL`)
  })

  const unenqueuedJobs = Effect.fn("PgStorage.unenqueuedJobs")(function*(before: Domain.Timestamp, limit: number) {
    const rows = yield* client.run("unenqueuedJobs", () =>
      sql<Array<{ id: Domain.JobId }>>`SELECT id FROM ${jobs}
        WHERE enqueued_at IS NULL AND status NOT IN ${sql(JobStateMachine.terminalJobStatuses as Array<string>)}
          AND recorded_at < ${before}
        ORDER BY recorded_at, id LIMIT ${Math.max(0, Math.floor(limit))}`)
    return rows.map((r) => r.id)
  })

  const activeUnits = Effect.fn("PgStorage.activeUnits")(function*(
    options: { readonly before: Domain.Timestamp; readonly after: Domain.UnitId | null; readonly limit: number }
  ) {
    const op = "activeUnits"
    const rows = yield* client.run(op, () =>
      sql<Array<Row>>`SELECT ${raw(unitColumns("u"))} FROM ${units} u JOIN ${jobs} j ON j.id = u.job_id
        WHERE u.status IN ${sql(inFlight)} AND u.id > ${options.after ?? ""}
          AND j.status IN ${sql(JobStateMachine.claimableJobStatuses as Array<string>)}
          AND j.enqueued_at < ${options.before}
        ORDER BY u.id LIMIT ${Math.max(0, Math.floor(options.limit))}`)
    return yield* Effect.forEach(rows, toUnit(op))
  })

  const finishableJobs = Effect.fn("PgStorage.finishableJobs")(function*(limit: number) {
    const rows = yield* client.run("finishableJobs", () =>
      sql<Array<{ id: Domain.JobId }>>`SELECT j.id FROM ${jobs} j
        WHERE j.status IN ${sql(JobStateMachine.claimableJobStatuses as Array<string>)}
          AND NOT EXISTS (SELECT 1 FROM ${units} u WHERE u.job_id = j.id AND u.status IN ${sql(inFlight)})
        ORDER BY j.created_at LIMIT ${Math.max(0, Math.floor(limit))}`)
    return rows.map((r) => r.id)
  })

  const databaseTime = client.run("databaseTime", () =>
    sql<Array<{ ms: number }>>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`
  ).pipe(Effect.map((rows) => Math.round(rows[0]?.ms ?? NaN)), Effect.withSpan("PgStorage.databaseTime"))

  return { markEnqueued, unenqueuedJobs, activeUnits, finishableJobs, databaseTime }
}

/** Build the Storage service on the `PgClient` (runs migrations first unless `migrate: false`). */
export const make = Effect.fn("PgStorage.make")(function*(options: Options = {}) {
  const schema = yield* PgMigrations.validateSchemaName(options.schema ?? PgMigrations.defaultSchema)
  if (options.migrate !== false) yield* PgMigrations.run(schema)
  const client = yield* PgClient.PgClient
  const db = makeDb(schema, client)
  return Storage.Storage.of({
    ...jobWrites(db),
    ...unitWrites(db),
    ...reads(db),
    ...progressEvents(db),
    ...reconciliation(db),
    ...settingRecords(db, schema),
    ...observationRows(db, schema),
    ...largeJobs(db)
  })
})

/** The Storage layer on a `PgClient`; migrates the schema on build unless `migrate: false`. */
export const layer = (options: Options = {}): Layer.Layer<Storage.Storage, Storage.StorageError, PgClient.PgClient> =>
  Layer.effect(Storage.Storage, make(options))

/** Storage plus its own pool from a connection URL; the pool closes with the layer. */
export const layerFromUrl = (
  url: Redacted.Redacted<string> | string,
  options: Options & { readonly max?: number | undefined } = {}
): Layer.Layer<Storage.Storage, Storage.StorageError> =>
  layer(options).pipe(Layer.provide(PgClient.layer({ url, max: options.max })))
