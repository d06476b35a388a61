#!/usr/bin/env node
/**
 * The `migrate` command: applies pending migrations to the schema named by
 * `CERTIFICATION_PG_SCHEMA` (default `certification`) in the database at `DATABASE_URL`.
 *
 * Run it with `pnpm --filter @myia/certification-postgres migrate` (or `certification-pg-migrate`
 * from the published package). Safe to run concurrently and repeatedly: a second run is a no-op.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as PgClient from "./PgClient.ts"
import * as PgMigrations from "./PgMigrations.ts"

const program = Effect.gen(function*() {
  const schema = yield* Config.String("CERTIFICATION_PG_SCHEMA").pipe(Config.withDefault(PgMigrations.defaultSchema))
  const applied = yield* PgMigrations.run(schema)
  yield* Console.log(
    applied.length === 0
      ? `schema "${schema}" is up to date`
      : `schema "${schema}": applied migration(s) ${applied.join(", ")}`
  )
}).pipe(Effect.provide(PgClient.layerConfig({ max: 1 })))

Effect.runPromiseExit(program).then((exit) => {
  if (exit._tag === "Failure") {
    console.error(String(exit.cause))
    process.exitCode = 1
  }
})
