/**
 * `-o FILE` (repeatable): the format comes from the file's extension — `.manifest.json` the
 * capability manifest, `.json` the results file, `.xml` JUnit XML, `.csv` one row per unit, `.md`
 * Markdown. An unknown extension is a usage error before anything runs.
 *
 * @since 0.1.0
 */
import { Report } from "@myia/certification"
import type { Job, Unit } from "@myia/certification"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Path from "effect/Path"
import * as Result from "effect/Result"
import * as Csv from "./Csv.ts"
import * as Junit from "./Junit.ts"
import * as Markdown from "./Markdown.ts"

/** The formats, by the extension that selects them (longest first: `.manifest.json` before `.json`). */
export const formats = [
  { extension: ".manifest.json", format: "manifest" },
  { extension: ".json", format: "results" },
  { extension: ".xml", format: "junit" },
  { extension: ".csv", format: "csv" },
  { extension: ".md", format: "markdown" }
] as const

export type Format = (typeof formats)[number]["format"]

/** One requested output. */
export interface Output {
  readonly path: string
  readonly format: Format
}

/** The output for a path, or why its extension is not one. */
export const parse = (path: string): Result.Result<Output, string> => {
  const found = formats.find((f) => path.toLowerCase().endsWith(f.extension))
  return found === undefined
    ? Result.fail(`-o ${path}: unknown format; use ${formats.map((f) => f.extension).join(", ")}`)
    : Result.succeed({ path, format: found.format })
}

/** What every format is rendered from. */
export interface Content {
  readonly job: Job
  readonly units: ReadonlyArray<Unit>
  readonly generatedAt: string
  /** The account the manifest names (STS `GetCallerIdentity`; offline, the emulator scenario's), none when unknown. */
  readonly account: string | null
}

/** The document of one format. */
export const render = (format: Format, content: Content): string => {
  switch (format) {
    case "results":
      return `${JSON.stringify(Report.resultsFile(content.job, content.units, { generatedAt: content.generatedAt }), null, 2)}\n`
    case "manifest":
      return `${
        JSON.stringify(
          Report.manifest(content.units, { generatedAt: content.generatedAt, account: content.account }),
          null,
          2
        )
      }\n`
    case "junit":
      return Junit.render(content.job, content.units)
    case "csv":
      return Csv.render(content.units)
    case "markdown":
      return Markdown.render(content.job, content.units)
  }
}

/** Write every output (parent folders created); returns the absolute paths written. */
export const write = Effect.fn("Outputs.write")(function*(outputs: ReadonlyArray<Output>, content: Content) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const written: Array<string> = []
  for (const output of outputs) {
    const target = path.resolve(output.path)
    yield* fs.makeDirectory(path.dirname(target), { recursive: true })
    yield* fs.writeFileString(target, render(output.format, content))
    written.push(target)
  }
  return written
})
