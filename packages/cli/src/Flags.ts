/**
 * Flags several commands share, each with its environment fallback (`Config`), so a flag, the
 * variable of the same setting, and the default agree across `certify`, `export` and the rest.
 *
 * @since 0.1.0
 */
import { Scenario } from "@myia/certification/emulator"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { Flag } from "effect/cli"
import * as Outputs from "./Outputs.ts"
import { UsageError } from "./Failure.ts"

/** A comma list: trimmed, empty items dropped. */
export const list = (s: string): ReadonlyArray<string> =>
  s.split(",").map((x) => x.trim()).filter((x) => x.length > 0)

/** `-o FILE`, repeatable; the format from the extension. */
export const outputs = Flag.String("output").pipe(
  Flag.withAlias("o"),
  Flag.withMetavar("FILE"),
  Flag.withDescription(
    "Write a report; repeatable. Format by extension: .json (results), .manifest.json (capability manifest), " +
      ".xml (JUnit), .csv (one row per unit), .md (Markdown)"
  ),
  Flag.atLeast(0)
)

/** Parse every `-o` value, or fail with the first bad one. */
export const parseOutputs = (paths: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Outputs.Output>, UsageError> => {
  const parsed = paths.map(Outputs.parse)
  const bad = parsed.find(Result.isFailure)
  return bad === undefined
    ? Effect.succeed(parsed.map((r) => (r as Result.Success<Outputs.Output, string>).success))
    : Effect.fail(new UsageError({ message: bad.failure }))
}

/** `--log-level`-independent: the SDK's own logs (stderr) at this level or above. */
export const verbose = Flag.Boolean("verbose").pipe(
  Flag.withDescription("Show the SDK's own logs (info and above) on stderr"),
  Flag.withDefault(false)
)

/** `--pg-schema` (`CERTIFICATION_PG_SCHEMA`, default `certification`). */
export const pgSchema = Flag.String("pg-schema").pipe(
  Flag.withDescription("PostgreSQL schema holding the tables (database: DATABASE_URL)"),
  Flag.withFallbackConfig(Config.String("CERTIFICATION_PG_SCHEMA")),
  Flag.withDefault("certification")
)

/** `DATABASE_URL` must be set for a command on PostgreSQL: a usage error naming it otherwise. */
export const requireDatabaseUrl = Effect.fnUntraced(function*(what: string) {
  const url = yield* Config.option(Config.String("DATABASE_URL")).pipe(Effect.orElseSucceed(() => Option.none()))
  if (Option.isNone(url) || url.value.trim() === "") {
    return yield* new UsageError({ message: `${what} needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)` })
  }
})

/** Read a scenario file (JSON) for the emulator; a usage error naming the file otherwise. */
export const readScenario = Effect.fnUntraced(function*(file: string) {
  const fs = yield* FileSystem.FileSystem
  const text = yield* fs.readFileString(file).pipe(
    Effect.mapError(() => new UsageError({ message: `--scenario ${file}: cannot read the file` }))
  )
  const parsed = Result.try(() => JSON.parse(text) as unknown)
  if (Result.isFailure(parsed)) {
    return yield* new UsageError({ message: `--scenario ${file}: not JSON (${String(parsed.failure)})` })
  }
  const invalid = Scenario.validate(parsed.success)
  if (invalid !== undefined) return yield* new UsageError({ message: `--scenario ${file}: ${invalid.split("\n")[0]}` })
  return parsed.success as Scenario.ScenarioInput
})
