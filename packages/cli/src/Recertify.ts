/**
 * `bedrock-certify recertify`: certify again the stored latest results a selection picks (continuous
 * certification, issue 14) — expiring within N days, produced by an older suite, of some models,
 * regions or verdicts. The RECERTIFY job goes to the workers on Redis (`REDIS_URL`, or
 * `REDIS_HOST`/`REDIS_PORT`; `CERTIFICATION_QUEUE_NAME`); the results are read from PostgreSQL at
 * `DATABASE_URL`. Nothing matching is not an error: it prints why and exits 0.
 *
 * @since 0.1.0
 */
import { Certification, CertificationClient, Domain } from "@myia/certification"
import { BullMqQueue } from "@myia/certification-bullmq"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Command, Flag } from "effect/cli"
import * as Engine from "./Engine.ts"
import { UsageError } from "./Failure.ts"
import * as Flags from "./Flags.ts"

const optionalList = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

/** `recertify`. */
export const command = Command.make(
  "recertify",
  {
    expiringWithin: Flag.Finite("expiring-within").pipe(
      Flag.withMetavar("DAYS"),
      Flag.withDescription("Results that expire within this many days (or have expired)"),
      Flag.optional
    ),
    olderSuite: Flag.Boolean("older-suite").pipe(
      Flag.withDescription("Results produced by an older suite version"),
      Flag.withDefault(false)
    ),
    models: optionalList("models", "Only these models (comma-separated ids)"),
    regions: optionalList("regions", "Only these regions (comma-separated)"),
    verdicts: optionalList("verdicts", `Only results with these verdicts (${Domain.Verdict.literals.join(", ")})`),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print the result as JSON"), Flag.withDefault(false)),
    pgSchema: Flags.pgSchema,
    verbose: Flags.verbose
  },
  Effect.fnUntraced(function*(input) {
    if (Option.isSome(input.expiringWithin) && !(input.expiringWithin.value >= 0)) {
      return yield* new UsageError({ message: `--expiring-within must be a number of days ≥ 0 (got ${input.expiringWithin.value})` })
    }
    yield* Flags.requireDatabaseUrl("recertify reads the stored results and")
    const selection = {
      ...(Option.isSome(input.expiringWithin) ? { expiringWithinDays: input.expiringWithin.value } : {}),
      ...(input.olderSuite ? { olderSuite: true } : {}),
      ...(Option.isSome(input.models) ? { modelIds: Flags.list(input.models.value) } : {}),
      ...(Option.isSome(input.regions) ? { regions: Flags.list(input.regions.value) } : {}),
      ...(Option.isSome(input.verdicts) ? { verdicts: Flags.list(input.verdicts.value) } : {})
    }
    const result = yield* Effect.flatMap(Effect.service(Certification.Certification), (s) =>
      s.recertify(selection, { createdBy: "bedrock-certify" })).pipe(
        // A bad region or verdict is the caller's mistake: a usage error naming the flag's field.
        Effect.catchTag("InvalidRequest", (e) => Effect.fail(new UsageError({ message: e.message }))),
        Effect.provide(CertificationClient.layer({
          storage: Engine.pgStorage(input.pgSchema),
          queue: BullMqQueue.layerConfig(),
          worker: false,
          logLevel: input.verbose ? "Info" : "Error"
        }))
      )
    if (input.json) return yield* Console.log(JSON.stringify(result, null, 2))
    if (result.job === null) return yield* Console.log(`Nothing to recertify: ${result.reason}`)
    yield* Console.log(`Job ${result.job.jobId}: RECERTIFY of ${result.selected.length} pairs, queued for the workers`)
    for (const s of result.selected) yield* Console.log(`  ${s.modelId} ${s.region}: ${s.reason} (${s.detail})`)
    if (result.deferred > 0) yield* Console.log(`${result.deferred} more pairs are due; the next run takes them`)
  })
).pipe(Command.withDescription(
  "Certify again the stored results a selection picks (PostgreSQL at DATABASE_URL; workers on Redis)"
))
