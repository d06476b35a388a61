/**
 * `bedrock-certify migrate`: apply pending PostgreSQL migrations to `--pg-schema` (default
 * `certification`, or `CERTIFICATION_PG_SCHEMA`) in the database at `DATABASE_URL`. Safe to run
 * concurrently and repeatedly: a second run is a no-op.
 *
 * @since 0.1.0
 */
import { PgClient, PgMigrations } from "@myia/certification-postgres"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Command } from "effect/cli"
import * as Flags from "./Flags.ts"

/** The `migrate` command. */
export const command = Command.make(
  "migrate",
  { pgSchema: Flags.pgSchema },
  Effect.fnUntraced(function*(input) {
    yield* Flags.requireDatabaseUrl("migrate")
    const schema = yield* PgMigrations.validateSchemaName(input.pgSchema)
    const applied = yield* PgMigrations.run(schema).pipe(Effect.provide(PgClient.layerConfig({ max: 1 })))
    yield* Console.log(
      applied.length === 0
        ? `schema "${schema}" is up to date`
        : `schema "${schema}": applied migration(s) ${applied.join(", ")}`
    )
  })
).pipe(Command.withDescription("Apply pending PostgreSQL migrations (DATABASE_URL, --pg-schema)"))
