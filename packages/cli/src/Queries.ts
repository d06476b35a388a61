/**
 * The commands that read stored jobs (PostgreSQL at `DATABASE_URL`, schema `--pg-schema`):
 * `status JOB` (the job, its counts and its units), `history` (recent jobs, filtered), and
 * `export JOB -o FILE…` (any report format of a finished job, as `certify -o` writes it).
 *
 * @since 0.1.0
 */
import { Certification, Domain, Report } from "@myia/certification"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Argument, Command, Flag } from "effect/cli"
import * as Engine from "./Engine.ts"
import { UsageError } from "./Failure.ts"
import * as Flags from "./Flags.ts"
import * as Outputs from "./Outputs.ts"

const job = Argument.String("job").pipe(Argument.withDescription("The job id (printed by certify, listed by history)"))
const json = Flag.Boolean("json").pipe(Flag.withDescription("Print JSON instead of a table"), Flag.withDefault(false))

const colour = () => process.stdout.isTTY === true && (process.env["NO_COLOR"] ?? "") === ""

const withService = <A, E, R>(
  pgSchema: string,
  verbose: boolean,
  f: (service: Certification.Certification["Service"]) => Effect.Effect<A, E, R>
) =>
  // Checked before the layer is built, since building it reads DATABASE_URL.
  Effect.andThen(
    Flags.requireDatabaseUrl("this command reads stored jobs and"),
    Effect.flatMap(Effect.service(Certification.Certification), f).pipe(
      Effect.provide(Engine.queryLayer(pgSchema, verbose ? "Info" : "Error"))
    )
  )

/** `status JOB`. */
export const status = Command.make(
  "status",
  { job, json, pgSchema: Flags.pgSchema, verbose: Flags.verbose },
  Effect.fnUntraced(function*(input) {
    yield* withService(input.pgSchema, input.verbose, (service) =>
      Effect.gen(function*() {
        const detail = yield* service.getJob(input.job)
        if (input.json) {
          return yield* Console.log(JSON.stringify(Report.resultsFile(detail.job, detail.units), null, 2))
        }
        const { job, counts } = detail
        yield* Console.log(`Job ${job.id} ${job.status}${job.reason === null ? "" : ` (${job.reason})`} — ${job.type}, created ${job.createdAt}`)
        yield* Console.log(`${counts.completed}/${counts.total} units done: ${JSON.stringify(Report.summarize(detail.units).byVerdict)}`)
        if (detail.units.length > 0) yield* Console.log(`\n${Report.renderTable(detail.units, { colour: colour() })}`)
      }))
  })
).pipe(Command.withDescription("Show a stored job, its counts and its units (PostgreSQL at DATABASE_URL)"))

/** `history`. */
export const history = Command.make(
  "history",
  {
    status: Flag.Literals("status", Domain.JobStatus.literals).pipe(Flag.withDescription("Only jobs in this status"), Flag.optional),
    type: Flag.Literals("type", Domain.JobType.literals).pipe(Flag.withDescription("Only jobs of this type"), Flag.optional),
    limit: Flag.Int("limit").pipe(Flag.withDescription("Jobs per page (1-100)"), Flag.withDefault(20)),
    page: Flag.Int("page").pipe(Flag.withDescription("Page number, from 1"), Flag.withDefault(1)),
    json,
    pgSchema: Flags.pgSchema,
    verbose: Flags.verbose
  },
  Effect.fnUntraced(function*(input) {
    if (input.limit < 1 || input.limit > 100) return yield* new UsageError({ message: "--limit must be from 1 to 100" })
    if (input.page < 1) return yield* new UsageError({ message: "--page must be at least 1" })
    const filter = {
      ...(Option.isSome(input.status) ? { status: input.status.value } : {}),
      ...(Option.isSome(input.type) ? { type: input.type.value } : {})
    }
    yield* withService(input.pgSchema, input.verbose, (service) =>
      Effect.gen(function*() {
        const page = yield* service.history(filter, { page: input.page, limit: input.limit })
        if (input.json) return yield* Console.log(JSON.stringify(page, null, 2))
        yield* Console.log(`${"JOB".padEnd(38)} ${"STATUS".padEnd(10)} ${"TYPE".padEnd(16)} ${"UNITS".padEnd(9)} CREATED`)
        for (const { counts, job } of page.items) {
          yield* Console.log(
            `${job.id.padEnd(38)} ${job.status.padEnd(10)} ${job.type.padEnd(16)} ${`${counts.completed}/${counts.total}`.padEnd(9)} ${job.createdAt}`
          )
        }
        yield* Console.log(`page ${page.page} of ${Math.max(1, Math.ceil(page.total / page.limit))} (${page.total} jobs)`)
      }))
  })
).pipe(Command.withDescription("List stored jobs, newest first (PostgreSQL at DATABASE_URL)"))

/** `export JOB -o FILE…`. */
export const exportJob = Command.make(
  "export",
  { job, outputs: Flags.outputs, pgSchema: Flags.pgSchema, verbose: Flags.verbose },
  Effect.fnUntraced(function*(input) {
    const outputs = yield* Flags.parseOutputs(input.outputs)
    if (outputs.length === 0) return yield* new UsageError({ message: "export needs at least one -o FILE" })
    yield* withService(input.pgSchema, input.verbose, (service) =>
      Effect.gen(function*() {
        const detail = yield* service.getJob(input.job)
        const generatedAt = DateTime.formatIso(yield* DateTime.now)
        const written = yield* Outputs.write(outputs, { job: detail.job, units: detail.units, generatedAt, account: null })
        for (const path of written) yield* Console.log(`Wrote ${path}`)
      }))
  })
).pipe(Command.withDescription("Write reports of a stored job: -o FILE with .json, .manifest.json, .xml, .csv or .md"))
