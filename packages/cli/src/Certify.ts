/**
 * `bedrock-certify certify`: create a certification job, show its progress, print the results
 * table and summaries, write the requested reports, and exit with the gate's code (see `Failure`).
 *
 *     bedrock-certify certify --emulator --models amazon.nova-lite-v1:0 --regions us-east-1 -o out.xml
 *     bedrock-certify certify --all --regions us-east-1,eu-west-1 --profile prod --fail-on FAILED,INCONCLUSIVE
 *
 * Without `--models` it certifies every certifiable chat and embedding model of the registry in the
 * regions (`--all` says so explicitly); pairs the registry rules out are listed as skipped.
 *
 * @since 0.1.0
 */
import { Certification, Report } from "@myia/certification"
import type { Skipped, Verdict } from "@myia/certification"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { Command, Flag } from "effect/cli"
import { demoScenario } from "./DemoScenario.ts"
import * as Engine from "./Engine.ts"
import { GateFailed, JobFailed, UsageError } from "./Failure.ts"
import * as Flags from "./Flags.ts"
import * as Gate from "./Gate.ts"
import * as Outputs from "./Outputs.ts"
import * as Progress from "./Progress.ts"

const flags = {
  models: Flag.String("models").pipe(
    Flag.withMetavar("ID,ID"),
    Flag.withDescription("Bedrock model ids to certify (default: every certifiable model, as --all)"),
    Flag.optional
  ),
  all: Flag.Boolean("all").pipe(
    Flag.withDescription("Certify every certifiable chat and embedding model of the registry"),
    Flag.withDefault(false)
  ),
  regions: Flag.String("regions").pipe(
    Flag.withMetavar("REGION,REGION"),
    Flag.withDescription("AWS regions (default: CERTIFICATION_REGIONS, else AWS_REGION)"),
    Flag.withFallbackConfig(Config.String("CERTIFICATION_REGIONS").pipe(Config.orElse(() => Config.String("AWS_REGION")))),
    Flag.optional
  ),
  emulator: Flag.Boolean("emulator").pipe(
    Flag.withDescription("Run against the built-in Bedrock emulator (no AWS account, no cost)"),
    Flag.withDefault(false)
  ),
  scenario: Flag.String("scenario").pipe(
    Flag.withMetavar("FILE"),
    Flag.withDescription("Emulator scenario JSON (with --emulator; default: the built-in demo scenario)"),
    Flag.optional
  ),
  profile: Flag.String("profile").pipe(
    Flag.withDescription("AWS profile for the default credential chain (live only)"),
    Flag.optional
  ),
  endpoint: Flag.String("endpoint").pipe(
    Flag.withMetavar("URL"),
    Flag.withDescription("Bedrock endpoint override: a VPC endpoint or a running emulator (BEDROCK_ENDPOINT)"),
    Flag.withFallbackConfig(Config.String("BEDROCK_ENDPOINT")),
    Flag.optional
  ),
  store: Flag.Literals("store", ["memory", "postgres"]).pipe(
    Flag.withDescription("Where jobs and verdicts live: memory, or PostgreSQL at DATABASE_URL"),
    Flag.withDefault("memory")
  ),
  queue: Flag.Literals("queue", ["memory", "redis"]).pipe(
    Flag.withDescription("memory (this process certifies), or BullMQ at REDIS_URL with workers elsewhere"),
    Flag.withDefault("memory")
  ),
  pgSchema: Flags.pgSchema,
  concurrency: Flag.Int("concurrency").pipe(
    Flag.withDescription("Units certified at once in this process (CERTIFICATION_CONCURRENCY)"),
    Flag.withFallbackConfig(Config.Int("CERTIFICATION_CONCURRENCY")),
    Flag.withDefault(8)
  ),
  timeout: Flag.Int("timeout").pipe(
    Flag.withMetavar("MS"),
    Flag.withDescription("Per Bedrock call, in milliseconds (CERTIFICATION_TIMEOUT; default 60000, emulator 10000)"),
    Flag.withFallbackConfig(Config.Int("CERTIFICATION_TIMEOUT")),
    Flag.optional
  ),
  failOn: Flag.String("fail-on").pipe(
    Flag.withMetavar("VERDICT,…"),
    Flag.withDescription("Exit 100 when a unit ends with one of these verdicts, or none (CERTIFICATION_FAIL_ON)"),
    Flag.withFallbackConfig(Config.String("CERTIFICATION_FAIL_ON")),
    Flag.withDefault(Gate.defaultFailOn)
  ),
  outputs: Flags.outputs,
  table: Flag.Boolean("table").pipe(Flag.withDescription("Print the results table (--no-table: summaries only)"), Flag.withDefault(true)),
  verbose: Flags.verbose
}

type Input = {
  readonly [K in keyof typeof flags]: (typeof flags)[K] extends Flag.Flag<infer A> ? A : never
}

const usage = (message: string) => Effect.fail(new UsageError({ message }))

/** Read and check a scenario file. */

/** Check the flags together; every problem is a usage error before anything starts. */
const plan = Effect.fnUntraced(function*(input: Input) {
  const models = Option.map(input.models, Flags.list)
  if (input.all && Option.isSome(models)) return yield* usage("give either --models or --all, not both")
  if (Option.isSome(models) && models.value.length === 0) return yield* usage("--models: no model id given")
  const regions = Option.map(input.regions, Flags.list).pipe(Option.filter((r) => r.length > 0))
  if (Option.isNone(regions)) return yield* usage("--regions: none given and neither CERTIFICATION_REGIONS nor AWS_REGION is set")
  if (Option.isSome(input.scenario) && !input.emulator) return yield* usage("--scenario needs --emulator")
  if (input.emulator && (Option.isSome(input.profile) || Option.isSome(input.endpoint))) {
    return yield* usage("--emulator runs offline; drop --profile / --endpoint (or BEDROCK_ENDPOINT)")
  }
  if (!Number.isInteger(input.concurrency) || input.concurrency < 1 || input.concurrency > 64) {
    return yield* usage(`--concurrency must be a whole number from 1 to 64 (got ${input.concurrency})`)
  }
  if (Option.isSome(input.timeout) && input.timeout.value < 1) return yield* usage("--timeout must be at least 1 ms")
  const failOn = Gate.parse(input.failOn)
  if (Result.isFailure(failOn)) return yield* usage(failOn.failure)
  const outputs = yield* Flags.parseOutputs(input.outputs)
  if (input.store === "postgres") yield* Flags.requireDatabaseUrl("--store postgres")
  const target: Engine.Target = input.emulator
    ? {
      _tag: "Emulator",
      scenario: Option.isSome(input.scenario) ? yield* Flags.readScenario(input.scenario.value) : demoScenario
    }
    : { _tag: "Aws", endpoint: input.endpoint, profile: input.profile }
  const settings: Engine.Settings = {
    target,
    store: input.store,
    pgSchema: input.pgSchema,
    queue: input.queue,
    concurrency: input.concurrency,
    timeoutMillis: input.timeout,
    logLevel: input.verbose ? "Info" : "Error"
  }
  return { models, regions: regions.value, failOn: failOn.success, outputs, settings }
})

/**
 * The skipped pairs by reason, one line each; models past their end of life are named with the date
 * (the registry's message carries it), since those are the ones a user may not expect.
 */
export const skippedSummary = (skipped: ReadonlyArray<Skipped>): ReadonlyArray<string> => {
  const byReason = new Map<string, number>()
  const retired = new Map<string, string>()
  for (const s of skipped) {
    byReason.set(s.reason, (byReason.get(s.reason) ?? 0) + 1)
    const date = /end of life on (\d{4}-\d{2}-\d{2})/.exec(s.message)?.[1]
    if (s.reason === "END_OF_LIFE") retired.set(s.modelId, date === undefined ? "end of life, date unknown" : `end of life ${date}`)
  }
  return [...byReason].map(([reason, n]) =>
    reason === "END_OF_LIFE"
      ? `${reason} (${n}): ${[...retired].map(([id, date]) => `${id} (${date})`).join(", ")}`
      : `${reason} (${n})`
  )
}

const isTty = (stream: NodeJS.WriteStream) => stream.isTTY === true
const noColour = () => (process.env["NO_COLOR"] ?? "") !== ""

/** Create the job, follow it to the end, report, and decide the exit. */
const run = Effect.fnUntraced(function*(input: Input) {
  const planned = yield* plan(input)
  const engine = yield* Engine.make(planned.settings)
  return yield* Effect.gen(function*() {
    const service = yield* Certification.Certification
    yield* Console.log(
      Option.match(engine.emulatorUrl, {
        onNone: () => `Certifying against AWS Bedrock in ${planned.regions.join(", ")}`,
        onSome: (url) => `Bedrock emulator on ${url} — certifying in ${planned.regions.join(", ")}`
      })
    )
    const meta = { createdBy: "bedrock-certify" }
    const created = Option.isSome(planned.models)
      ? yield* service.certifyMultiple({ modelIds: planned.models.value, regions: planned.regions }, meta)
      : yield* service.certifyAll({ regions: planned.regions }, meta)
    yield* Console.log(
      `Job ${created.jobId}: ${created.totalUnits} units (model × region), ${created.skipped.length} pairs skipped as not certifiable`
    )
    for (const line of skippedSummary(created.skipped)) yield* Console.log(`  skipped ${line}`)

    const initial = yield* service.getJob(created.jobId)
    const display = yield* Progress.make(new Map(initial.units.map((u) => [u.id, u.region])), {
      tty: isTty(process.stderr),
      colour: isTty(process.stderr) && !noColour(),
      write: (text) => process.stderr.write(text)
    })
    yield* service.events(created.jobId).pipe(Stream.runForEach(display.onEvent))
    yield* display.finish
    const detail = yield* service.getJob(created.jobId)

    const colour = isTty(process.stdout) && !noColour()
    if (input.table) yield* Console.log(`\n${Report.renderTable(detail.units, { colour })}`)
    yield* Console.log(`\n${Report.renderSummary(detail.units, { colour })}\n`)
    const generatedAt = DateTime.formatIso(yield* DateTime.now)
    // Issue #18: STS is asked only when a manifest is written, in the job's first region.
    const account = planned.outputs.some((o) => o.format === "manifest")
      ? yield* engine.account(planned.regions[0]!)
      : null
    const content = { job: detail.job, units: detail.units, generatedAt, account }
    const written = yield* Outputs.write(planned.outputs, content)
    yield* Console.log(`Job ${detail.job.status}${detail.job.reason === null ? "" : ` (${detail.job.reason})`}`)
    for (const path of written) yield* Console.log(`Wrote ${path}`)
    return { detail, failOn: planned.failOn }
  }).pipe(Effect.provide(engine.layer))
}, Effect.scoped)

/** The exit decision after the job: a failed job, then the gate. */
const decide = (detail: Certification.JobDetail, failOn: ReadonlyArray<Verdict>) => {
  if (detail.job.status === "FAILED") {
    return Effect.fail(new JobFailed({ jobId: detail.job.id, message: `job ${detail.job.id} FAILED: ${detail.job.reason ?? "no reason"}` }))
  }
  const matched = Gate.matched(detail.units, failOn)
  if (matched.length === 0) return Effect.void
  const names = matched.slice(0, 5).map((u) => `${u.modelId}@${u.region} ${u.status}`).join(", ")
  return Effect.fail(
    new GateFailed({
      matched: matched.length,
      message: `${matched.length} unit(s) matched --fail-on ${failOn.join(",")}: ${names}${matched.length > 5 ? ", …" : ""}`
    })
  )
}

/** The `certify` command. */
export const command = Command.make(
  "certify",
  flags,
  Effect.fnUntraced(function*(input) {
    const { detail, failOn } = yield* run(input)
    return yield* decide(detail, failOn)
  })
).pipe(
  Command.withDescription("Certify Bedrock models per region; exit 0, 100 when a unit matched --fail-on, 1 on a failed job, 2 on usage"),
  Command.withExamples([
    { command: "bedrock-certify certify --emulator --models amazon.nova-lite-v1:0 --regions us-east-1 -o out.xml", description: "Offline, JUnit report" },
    { command: "bedrock-certify certify --all --regions us-east-1,eu-west-1 --fail-on FAILED,INCONCLUSIVE -o out.json", description: "Live, stricter gate" }
  ])
)
