/**
 * Seeds a PostgreSQL storage schema with a large, realistic history, server side (generate_series):
 * `jobs` jobs of `unitsPerJob` units (mixed statuses and verdicts), plus one "big" job (id
 * `job-<jobs>`) of `bigJobUnits` units that each carry a full v1 test record. Shared by
 * bench/history.ts and bench/http.ts.
 */
/** The part of a postgres.js `Sql` instance the seeding uses (bench/ has no direct driver dependency). */
export interface Sql {
  readonly unsafe: (query: string) => PromiseLike<ReadonlyArray<Record<string, unknown>>>
}

export interface SeedOptions {
  readonly sql: Sql
  readonly schema: string
  readonly jobs: number
  readonly unitsPerJob: number
  readonly bigJobUnits: number
  /** Model ids the units draw from. */
  readonly modelIds: ReadonlyArray<string>
  /** Regions the ordinary jobs' units cycle through. */
  readonly regions: ReadonlyArray<string>
  /** Regions the big job's units cycle through; its (model, region) pairs must stay unique. */
  readonly bigRegions: ReadonlyArray<string>
  /** Full test records on every unit (true), or only on the big job's (false). */
  readonly testsOnEveryUnit: boolean
  /** Also fill `latest_results` with the newest terminal unit per (model, region). */
  readonly latest: boolean
  /** Also seed a job (`hugeJobId`) of this many units with synthetic model ids and full test records (issue 16). */
  readonly hugeJobUnits?: number | undefined
}

export interface Seeded {
  readonly jobs: number
  readonly units: number
  readonly latest: number
  readonly seconds: number
}

const verdicts = ["CERTIFIED", "CERTIFIED", "CERTIFIED", "QUALITY_WARNING", "FAILED", "UNAVAILABLE", "UNSUPPORTED", "INCONCLUSIVE", "CANCELLED"]
const jobStatuses = ["COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "CANCELLED", "PROCESSING", "QUEUED"]
const jobTypes = ["SINGLE_MODEL", "MULTIPLE_MODELS", "ALL_MODELS", "RECERTIFY"]
const arr = (xs: ReadonlyArray<string>) => `ARRAY[${xs.map((x) => `'${x}'`).join(",")}]`
const error = `'{"category":"NOT_OFFERED_IN_REGION","retryable":false,"blame":"configuration","verdict":"UNAVAILABLE","hint":"Pick another region.","message":"The provided model identifier is invalid.","awsErrorName":"ValidationException","httpStatus":400,"requestId":"req-1","systemic":false}'::jsonb`
const test = (id: string) =>
  `{"id":"${id}","name":"${id}","status":"PASSED","critical":true,"weight":1,"latencyMs":812.5,"ttftMs":210.25,"outputTokensPerSecond":55.5,"attempts":1,"detail":null,"error":null}`
const tests = `'[${
  ["connectivity", "instruction", "system-prompt", "multi-turn", "max-tokens", "json", "streaming", "tool-use", "tool-use-streaming", "vision", "document"]
    .map(test).join(",")
}]'::jsonb`

/** The id of the huge job (`hugeJobUnits`). */
export const hugeJobId = "job-huge"

/** The id of the big job. */
export const bigJobId = (jobs: number) => `job-${jobs}`

/** Seed the schema (migrated, empty) and analyze it; returns the row counts and the time taken. */
export const seed = async (o: SeedOptions): Promise<Seeded> => {
  const { sql } = o
  const t = (name: string) => `${o.schema}.${name}`
  const models = arr(o.modelIds)
  const started = performance.now()
  await sql.unsafe(`
INSERT INTO ${t("jobs")} (id, type, status, model_ids, regions, total_units, config, created_by, created_at, updated_at, started_at, completed_at, cancelled_at)
SELECT 'job-' || g, (${arr(jobTypes)})[1 + g % 4], (${arr(jobStatuses)})[1 + g % 8],
  jsonb_build_array((${models})[1 + g % ${o.modelIds.length}]), '["us-east-1","us-west-2"]'::jsonb,
  CASE WHEN g = ${o.jobs} THEN ${o.bigJobUnits} ELSE ${o.unitsPerJob} END,
  '{"certifyThreshold":80,"validityDays":30,"suiteVersion":"1.0.0"}'::jsonb, 'bench',
  timestamptz '2026-01-01' + g * interval '1 minute', timestamptz '2026-01-01' + g * interval '1 minute',
  timestamptz '2026-01-01' + g * interval '1 minute',
  CASE WHEN g % 8 < 5 THEN timestamptz '2026-01-01' + g * interval '1 minute' + interval '10 minutes' END,
  CASE WHEN g % 8 = 5 THEN timestamptz '2026-01-01' + g * interval '1 minute' + interval '5 minutes' END
FROM generate_series(1, ${o.jobs}) g`)
  await sql.unsafe(`
INSERT INTO ${t("units")} (id, job_id, model_id, region, status, tests, error, findings, attempts, lease, score, grade, stars,
  suite_version, created_at, queued_at, started_at, completed_at, duration_ms, expires_at)
SELECT 'u-' || g || '-' || k, 'job-' || g, (${models})[1 + (g * 7 + k) % ${o.modelIds.length}], (${arr(o.regions)})[1 + k % ${o.regions.length}],
  v.status, ${o.testsOnEveryUnit ? tests : "'[]'::jsonb"}, CASE WHEN v.status = 'UNAVAILABLE' THEN ${error} END, '[]'::jsonb, 1, 'lease',
  90, 'A', 4.5, '1.0.0',
  timestamptz '2026-01-01' + g * interval '1 minute', timestamptz '2026-01-01' + g * interval '1 minute',
  timestamptz '2026-01-01' + g * interval '1 minute',
  CASE WHEN v.status NOT IN ('PENDING', 'QUEUED', 'PROCESSING') THEN timestamptz '2026-01-01' + g * interval '1 minute' + k * interval '1 second' END,
  1000, timestamptz '2026-02-01' + g * interval '1 minute'
FROM generate_series(1, ${o.jobs - 1}) g, generate_series(0, ${o.unitsPerJob - 1}) k,
  LATERAL (SELECT CASE WHEN (${arr(jobStatuses)})[1 + g % 8] IN ('PROCESSING', 'QUEUED') AND k % 3 = 0 THEN 'QUEUED'
    ELSE (${arr(verdicts)})[1 + (g + k) % ${verdicts.length}] END AS status) v`)
  await sql.unsafe(`
INSERT INTO ${t("units")} (id, job_id, model_id, region, status, tests, error, findings, attempts, lease, score, grade, stars,
  suite_version, invocation_target, created_at, queued_at, started_at, completed_at, duration_ms, expires_at)
SELECT 'big-' || k, '${bigJobId(o.jobs)}', (${models})[1 + (k / ${o.bigRegions.length}) % ${o.modelIds.length}],
  (${arr(o.bigRegions)})[1 + k % ${o.bigRegions.length}],
  (${arr(verdicts)})[1 + k % ${verdicts.length}], ${tests},
  CASE WHEN (${arr(verdicts)})[1 + k % ${verdicts.length}] = 'UNAVAILABLE' THEN ${error} END,
  '["works only via profile us.x"]'::jsonb, 1, 'lease', 91.25, 'A', 4.5, '1.0.0', '{"kind":"ON_DEMAND","id":"bench.model"}'::jsonb,
  timestamptz '2026-03-01', timestamptz '2026-03-01', timestamptz '2026-03-01', timestamptz '2026-03-01' + k * interval '1 second',
  1000, timestamptz '2026-04-01'
FROM generate_series(0, ${o.bigJobUnits - 1}) k`)
  if (o.hugeJobUnits !== undefined && o.hugeJobUnits > 0) {
    // Synthetic models so that every (model, region) pair stays unique at any size.
    await sql.unsafe(`
INSERT INTO ${t("jobs")} (id, type, status, model_ids, regions, total_units, config, created_by, created_at, updated_at, started_at, completed_at)
VALUES ('${hugeJobId}', 'ALL_MODELS', 'COMPLETED', '[]'::jsonb, '[]'::jsonb, ${o.hugeJobUnits},
  '{"certifyThreshold":80,"validityDays":30,"suiteVersion":"1.0.0"}'::jsonb, 'bench', timestamptz '2026-05-01',
  timestamptz '2026-05-01', timestamptz '2026-05-01', timestamptz '2026-05-02')`)
    await sql.unsafe(`
INSERT INTO ${t("units")} (id, job_id, model_id, region, status, tests, error, findings, attempts, lease, score, grade, stars,
  suite_version, invocation_target, created_at, queued_at, started_at, completed_at, duration_ms, expires_at)
SELECT 'huge-' || k, '${hugeJobId}', 'bench.model-' || lpad((k / ${o.bigRegions.length})::text, 5, '0') || '-v1:0',
  (${arr(o.bigRegions)})[1 + k % ${o.bigRegions.length}],
  (${arr(verdicts)})[1 + k % ${verdicts.length}], ${tests},
  CASE WHEN (${arr(verdicts)})[1 + k % ${verdicts.length}] = 'UNAVAILABLE' THEN ${error} END,
  '[]'::jsonb, 1, 'lease', 91.25, 'A', 4.5, '1.0.0', '{"kind":"ON_DEMAND","id":"bench.model"}'::jsonb,
  timestamptz '2026-05-01', timestamptz '2026-05-01', timestamptz '2026-05-01', timestamptz '2026-05-01' + k * interval '1 second',
  1000, timestamptz '2026-06-01'
FROM generate_series(0, ${o.hugeJobUnits - 1}) k`)
  }
  if (o.latest) {
    await sql.unsafe(`
INSERT INTO ${t("latest_results")} (model_id, region, unit_id, job_id, host_model_id, status, invocation_target, suite_version,
  tests, score, grade, stars, error, findings, attempts, lease, created_at, queued_at, started_at, completed_at, duration_ms, expires_at)
SELECT DISTINCT ON (model_id, region) model_id, region, id, job_id, host_model_id, status, invocation_target, suite_version,
  tests, score, grade, stars, error, findings, attempts, lease, created_at, queued_at, started_at, completed_at, duration_ms, expires_at
FROM ${t("units")} WHERE completed_at IS NOT NULL ORDER BY model_id, region, completed_at DESC`)
  }
  for (const table of ["jobs", "units", "latest_results"]) await sql.unsafe(`VACUUM ANALYZE ${t(table)}`)
  const [counts] = await sql.unsafe(`SELECT (SELECT count(*) FROM ${t("jobs")})::int AS jobs,
    (SELECT count(*) FROM ${t("units")})::int AS units, (SELECT count(*) FROM ${t("latest_results")})::int AS latest`)
  return {
    jobs: counts!["jobs"] as number,
    units: counts!["units"] as number,
    latest: counts!["latest"] as number,
    seconds: Math.round((performance.now() - started) / 100) / 10
  }
}
