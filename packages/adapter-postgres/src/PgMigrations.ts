/**
 * Numbered, forward-only migrations of the certification tables, run from code (`run`) or by the
 * `migrate` command.
 *
 * All tables live in one PostgreSQL schema (default `certification`) so they sit beside a host's
 * own (e.g. Prisma) tables without clashing. `run` takes a transaction-scoped advisory lock keyed by
 * the schema name, so concurrent runners (several workers booting at once) apply each migration once;
 * applied versions are recorded in `<schema>.schema_migrations` and running again is a no-op.
 *
 * @since 0.1.0
 */
import { Domain, JobStateMachine, Storage } from "@myia/certification"
import * as Effect from "effect/Effect"
import { PgClient } from "./PgClient.ts"

/** The schema the tables live in unless configured otherwise. */
export const defaultSchema = "certification"

/** One migration: a version number (never reused), a name, and its DDL for a given schema. */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: (schema: string) => string
}

const schemaPattern = /^[a-z_][a-z0-9_]{0,62}$/

/** Whether `schema` is a safe unquoted PostgreSQL identifier (lower case, digits, `_`, ≤ 63 bytes). */
export const isValidSchemaName = (schema: string): boolean => schemaPattern.test(schema) && !schema.startsWith("pg_")

/** Fail with `StorageInvalid` unless `schema` is a safe identifier (it is interpolated into SQL). */
export const validateSchemaName = (schema: string): Effect.Effect<string, Storage.StorageError> =>
  isValidSchemaName(schema)
    ? Effect.succeed(schema)
    : Effect.fail(
      new Storage.StorageError({
        operation: "PgMigrations.validateSchemaName",
        reason: new Storage.StorageInvalid({
          message: `schema name "${schema}" must match ${schemaPattern.source} and not start with "pg_"`
        })
      })
    )

const list = (values: ReadonlyArray<string>) => values.map((v) => `'${v}'`).join(", ")
const inFlight = list(["PENDING", "QUEUED", "PROCESSING"])

/** Every migration, in order. Append new ones; never edit or renumber an applied one. */
export const migrations: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: "jobs_units_latest",
    sql: (s) => `
CREATE TABLE ${s}.jobs (
  id text COLLATE "C" PRIMARY KEY,
  type text NOT NULL CHECK (type IN (${list(Domain.JobType.literals)})),
  status text NOT NULL CHECK (status IN (${list(Domain.JobStatus.literals)})),
  model_ids jsonb NOT NULL,
  regions jsonb NOT NULL,
  total_units integer NOT NULL,
  config jsonb NOT NULL,
  created_by text,
  parent_job_id text,
  reason text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  started_at timestamptz,
  completed_at timestamptz,
  cancelled_at timestamptz
);
-- History: newest first, optionally filtered by status or type.
CREATE INDEX jobs_history_idx ON ${s}.jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status_history_idx ON ${s}.jobs (status, created_at DESC, id DESC);
CREATE INDEX jobs_type_history_idx ON ${s}.jobs (type, created_at DESC, id DESC);
-- Retention: terminal jobs by the time they ended.
CREATE INDEX jobs_retention_idx ON ${s}.jobs ((coalesce(completed_at, cancelled_at, updated_at)))
  WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED');

CREATE TABLE ${s}.units (
  id text COLLATE "C" PRIMARY KEY,
  job_id text COLLATE "C" NOT NULL REFERENCES ${s}.jobs (id) ON DELETE CASCADE,
  model_id text COLLATE "C" NOT NULL,
  host_model_id text,
  region text COLLATE "C" NOT NULL,
  status text NOT NULL CHECK (status IN (${list(Domain.UnitStatus.literals)})),
  invocation_target jsonb,
  suite_version text,
  tests jsonb NOT NULL DEFAULT '[]',
  score double precision,
  grade text,
  stars double precision,
  error jsonb,
  error_category text GENERATED ALWAYS AS (error ->> 'category') STORED,
  findings jsonb NOT NULL DEFAULT '[]',
  attempts integer NOT NULL DEFAULT 0,
  lease text,
  created_at timestamptz NOT NULL,
  queued_at timestamptz,
  started_at timestamptz,
  completed_at timestamptz,
  duration_ms double precision,
  expires_at timestamptz,
  -- One row per job × model × region; also serves "units of a job ordered by model, region".
  CONSTRAINT units_job_model_region_key UNIQUE (job_id, model_id, region)
);
-- Progress counts per job without touching the heap.
CREATE INDEX units_job_status_idx ON ${s}.units (job_id, status);
-- Stats: terminal units by region, verdict and error category (index-only aggregate).
CREATE INDEX units_stats_idx ON ${s}.units (region, status, error_category)
  WHERE status NOT IN (${inFlight});

CREATE TABLE ${s}.latest_results (
  model_id text COLLATE "C" NOT NULL,
  region text COLLATE "C" NOT NULL,
  unit_id text COLLATE "C" NOT NULL,
  job_id text NOT NULL,
  host_model_id text,
  status text NOT NULL,
  invocation_target jsonb,
  suite_version text,
  tests jsonb NOT NULL,
  score double precision,
  grade text,
  stars double precision,
  error jsonb,
  findings jsonb NOT NULL,
  attempts integer NOT NULL,
  lease text,
  created_at timestamptz NOT NULL,
  queued_at timestamptz,
  started_at timestamptz,
  completed_at timestamptz NOT NULL,
  duration_ms double precision,
  expires_at timestamptz,
  PRIMARY KEY (model_id, region)
);
CREATE INDEX latest_results_completed_idx ON ${s}.latest_results (completed_at DESC, unit_id DESC);
CREATE INDEX latest_results_region_idx ON ${s}.latest_results (region, completed_at DESC, unit_id DESC);
CREATE INDEX latest_results_status_idx ON ${s}.latest_results (status, completed_at DESC, unit_id DESC);
CREATE INDEX latest_results_model_idx ON ${s}.latest_results (model_id, completed_at DESC, unit_id DESC);
`
  },
  {
    version: 2,
    name: "job_keys",
    sql: (s) => `
-- Storage.createJobOnce: a job created under an Idempotency-Key, or under a key that is unique only
-- while its job is not terminal (one running retry per job), with what the first caller sent and got.
ALTER TABLE ${s}.jobs
  ADD COLUMN idempotency_key text COLLATE "C",
  ADD COLUMN active_key text COLLATE "C",
  ADD COLUMN request_fingerprint text,
  ADD COLUMN created_answer text;
CREATE UNIQUE INDEX jobs_idempotency_key_idx ON ${s}.jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX jobs_active_key_idx ON ${s}.jobs (active_key)
  WHERE active_key IS NOT NULL AND status NOT IN (${list(JobStateMachine.terminalJobStatuses)});
`
  },
  {
    version: 3,
    name: "registry_observations",
    sql: (s) => `
-- Issue #13, the living registry: what the control plane said per (account, region), and when.
CREATE TABLE ${s}.registry_observations (
  account text COLLATE "C" NOT NULL,
  region text COLLATE "C" NOT NULL,
  observed_at timestamptz NOT NULL,
  observation jsonb NOT NULL,
  PRIMARY KEY (account, region)
);
`
  },
  {
    version: 4,
    name: "reconciliation",
    sql: (s) => `
-- Issue 15. Crash-safe creation: a job is created not yet enqueued (enqueued_at NULL); jobs from
-- before this migration went through the old create-then-enqueue path and count as enqueued.
ALTER TABLE ${s}.jobs ADD COLUMN enqueued_at timestamptz;
UPDATE ${s}.jobs SET enqueued_at = created_at;
CREATE INDEX jobs_unenqueued_idx ON ${s}.jobs (created_at)
  WHERE enqueued_at IS NULL AND status NOT IN (${list(JobStateMachine.terminalJobStatuses)});
-- The reconciler walks non-terminal units by id.
CREATE INDEX units_active_idx ON ${s}.units (id) WHERE status IN (${inFlight});
-- Time: results are ordered by the order they were written (a sequence), not by a worker's clock.
CREATE SEQUENCE ${s}.result_seq;
ALTER TABLE ${s}.units ADD COLUMN result_seq bigint;
ALTER TABLE ${s}.latest_results ADD COLUMN result_seq bigint;
`
  },
  {
    version: 5,
    name: "recertification",
    sql: (s) => `
-- Continuous certification (issue 14): latest results by expiry, suite version and verdict, and the
-- shared records of the scheduler (its schedule, last run, the reasons of each scheduled job).
CREATE INDEX latest_results_expires_idx ON ${s}.latest_results (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX latest_results_suite_idx ON ${s}.latest_results (suite_version);
CREATE TABLE ${s}.settings (
  key text COLLATE "C" PRIMARY KEY,
  value text NOT NULL,
  updated_at timestamptz NOT NULL
);
`
  },
  {
    version: 6,
    name: "large_job_detail",
    sql: (s) => `
-- Job detail (issue 16): the model × region cells of a job without touching the heap's test records,
-- and a page of its units filtered by status or region, each ordered by model id then region.
CREATE INDEX units_job_cells_idx ON ${s}.units (job_id, model_id, region) INCLUDE (status, score, grade);
CREATE INDEX units_job_status_page_idx ON ${s}.units (job_id, status, model_id, region);
CREATE INDEX units_job_region_page_idx ON ${s}.units (job_id, region, model_id);
`
  },
  {
    version: 7,
    name: "progress_events",
    sql: (s) => `
-- Issue 18, Storage.appendProgress / progressAfter: each job's progress events with a per-job
-- sequence. The counter lives on the job row, so appending locks that row until commit and the
-- numbers of one job commit in order (an SSE reader resuming after n never misses a late n - 1).
ALTER TABLE ${s}.jobs ADD COLUMN progress_seq integer NOT NULL DEFAULT 0;
CREATE TABLE ${s}.progress_events (
  job_id text COLLATE "C" NOT NULL REFERENCES ${s}.jobs (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  type text NOT NULL,
  unit_id text COLLATE "C",
  status text NOT NULL,
  at text NOT NULL,
  PRIMARY KEY (job_id, seq)
);
`
  },
  {
    version: 8,
    name: "database_clock_stamps",
    sql: (s) => `
-- Issue 10: what the reconciler compares with the database's clock is stamped by the database's clock.
-- recorded_at is when the database wrote the job (created_at stays the caller's, as shown in the API);
-- unenqueuedJobs reads it, and markEnqueued now stamps enqueued_at with now(). Jobs from before this
-- migration keep their caller-clock created_at as the best estimate.
ALTER TABLE ${s}.jobs ADD COLUMN recorded_at timestamptz;
UPDATE ${s}.jobs SET recorded_at = created_at;
ALTER TABLE ${s}.jobs ALTER COLUMN recorded_at SET DEFAULT now(), ALTER COLUMN recorded_at SET NOT NULL;
DROP INDEX IF EXISTS ${s}.jobs_unenqueued_idx;
CREATE INDEX jobs_unenqueued_idx ON ${s}.jobs (recorded_at)
  WHERE enqueued_at IS NULL AND status NOT IN (${list(JobStateMachine.terminalJobStatuses)});
`
  },
  {
    version: 9,
    name: "job_unit_counts",
    sql: (s) => `
-- Issue 16, job detail: each job's units per status, kept by statement triggers on units in the same
-- transaction as every unit write (the fenced terminal write included), so reading a job's counts is
-- a few primary-key rows instead of a GROUP BY over its units. One statement's changes are summed
-- per (job, status) from its transition tables and applied in (job, status) order; a write that moves
-- no unit between statuses (saveProgress) changes no row. Writers are held off while it backfills.
LOCK TABLE ${s}.units IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE ${s}.job_unit_counts (
  job_id text COLLATE "C" NOT NULL REFERENCES ${s}.jobs (id) ON DELETE CASCADE,
  status text NOT NULL,
  n integer NOT NULL,
  PRIMARY KEY (job_id, status)
);
INSERT INTO ${s}.job_unit_counts (job_id, status, n) SELECT job_id, status, count(*) FROM ${s}.units GROUP BY job_id, status;
CREATE FUNCTION ${s}.units_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ${s}.job_unit_counts AS c (job_id, status, n)
    SELECT job_id, status, count(*) FROM new_units GROUP BY job_id, status ORDER BY job_id, status
    ON CONFLICT (job_id, status) DO UPDATE SET n = c.n + EXCLUDED.n;
  RETURN NULL;
END $$;
CREATE FUNCTION ${s}.units_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ${s}.job_unit_counts AS c (job_id, status, n)
    SELECT job_id, status, sum(d) FROM (
        SELECT job_id, status, 1 AS d FROM new_units
        UNION ALL
        SELECT job_id, status, -1 FROM old_units
      ) moved
    GROUP BY job_id, status HAVING sum(d) <> 0 ORDER BY job_id, status
    ON CONFLICT (job_id, status) DO UPDATE SET n = c.n + EXCLUDED.n;
  RETURN NULL;
END $$;
-- A job's deletion cascades to its counts: only rows still there are decremented (never re-inserted).
CREATE FUNCTION ${s}.units_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ${s}.job_unit_counts AS c SET n = c.n - gone.n
    FROM (SELECT job_id, status, count(*) AS n FROM old_units GROUP BY job_id, status ORDER BY job_id, status) gone
    WHERE c.job_id = gone.job_id AND c.status = gone.status;
  RETURN NULL;
END $$;
CREATE TRIGGER units_counts_inserted AFTER INSERT ON ${s}.units
  REFERENCING NEW TABLE AS new_units FOR EACH STATEMENT EXECUTE FUNCTION ${s}.units_counts_inserted();
CREATE TRIGGER units_counts_updated AFTER UPDATE ON ${s}.units
  REFERENCING OLD TABLE AS old_units NEW TABLE AS new_units FOR EACH STATEMENT EXECUTE FUNCTION ${s}.units_counts_updated();
CREATE TRIGGER units_counts_deleted AFTER DELETE ON ${s}.units
  REFERENCING OLD TABLE AS old_units FOR EACH STATEMENT EXECUTE FUNCTION ${s}.units_counts_deleted();
`
  }
]

/**
 * Apply every pending migration to `schema` (creating it if needed) under an advisory lock.
 * Returns the versions this call applied (empty when already up to date).
 */
export const run = Effect.fn("PgMigrations.run")(function*(schema: string = defaultSchema) {
  yield* validateSchemaName(schema)
  const client = yield* PgClient
  const op = "PgMigrations.run"
  return yield* client.transaction(op, (tx) =>
    Effect.gen(function*() {
      // Transaction-scoped: released by COMMIT/ROLLBACK even if this process dies.
      yield* client.run(op, () => tx`SELECT pg_advisory_xact_lock(hashtext(${"myia-certification:" + schema}))`)
      yield* client.run(op, () =>
        tx.unsafe(`
CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);`).simple())
      const applied = yield* client.run(
        op,
        () => tx<Array<{ version: number }>>`SELECT version FROM ${tx(schema + ".schema_migrations")}`
      )
      const done = new Set(applied.map((row) => row.version))
      const pending = migrations.filter((m) => !done.has(m.version))
      for (const migration of pending) {
        yield* client.run(op, () => tx.unsafe(migration.sql(schema)).simple())
        yield* client.run(
          op,
          () =>
            tx`INSERT INTO ${tx(schema + ".schema_migrations")} (version, name) VALUES (${migration.version}, ${migration.name})`
        )
      }
      return pending.map((m) => m.version)
    }))
})
