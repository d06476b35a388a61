#!/usr/bin/env node
/**
 * A certification worker on PostgreSQL and BullMQ: the process operators run (and scale out).
 *
 *     DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 \
 *       WORKER_HEALTH_PORT=9464 pnpm --filter @myia/example-worker start
 *
 * Every setting comes from the environment (see `WorkerProcess.settingsConfig` in
 * `@myia/certification-bullmq`); `DATABASE_URL` is required here, `CERTIFICATION_PG_SCHEMA` optional.
 * Recertification runs every hour unless `CERTIFICATION_SCHEDULE` says otherwise (a cron, or `off`).
 * The fault tests in `test/` spawn this script.
 *
 * @since 0.1.0
 */
import { WorkerProcess } from "@myia/certification-bullmq"
import { PgStorage } from "@myia/certification-postgres"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

const code = await WorkerProcess.runWorker({
  storage: (settings) =>
    PgStorage.layerFromUrl(
      Option.getOrElse(settings.databaseUrl, () => Redacted.make("postgres://postgres@127.0.0.1:5432/test")),
      { schema: Option.getOrUndefined(settings.pgSchema), max: 4 }
    ),
  // Continuous certification: on here (`CERTIFICATION_SCHEDULE=off` turns it off), off in library use.
  recertification: { defaultSchedule: "every 1h" }
})
process.exit(code)
