/**
 * How `bedrock-certify` ends: the errors its commands fail with and the exit code and one-line
 * reason each maps to — 0 when nothing matched `--fail-on`, 100 when some unit did (promptfoo's
 * convention), 1 for a failed job or a systemic error (credentials, database, Redis), 2 for a usage
 * error. The reason goes to stderr; stdout keeps the command's own output.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { CliError } from "effect/cli"

/** A flag or argument is wrong (exit 2). */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { message: Schema.String }) {}

/** Some units ended with a verdict listed in `--fail-on` (exit 100). */
export class GateFailed extends Schema.TaggedError<GateFailed>()("GateFailed", {
  message: Schema.String,
  matched: Schema.Int
}) {}

/** The job ended FAILED: a systemic error such as invalid credentials stopped it (exit 1). */
export class JobFailed extends Schema.TaggedError<JobFailed>()("JobFailed", {
  message: Schema.String,
  jobId: Schema.String
}) {}

/** Exit codes, by name. */
export const ExitCode = { ok: 0, failure: 1, usage: 2, gate: 100 } as const

const tagged = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : undefined

const messageOf = (error: unknown): string => {
  if (Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== "") {
    return error.message
  }
  return String(error)
}

/** The exit code of an error a command failed with. */
export const exitCodeOf = (error: unknown): number => {
  // Help shown without a problem (`bedrock-certify` alone) is not a failure.
  if (CliError.isCliError(error)) return error._tag === "ShowHelp" && error.errors.length === 0 ? ExitCode.ok : ExitCode.usage
  switch (tagged(error)) {
    case "UsageError":
      return ExitCode.usage
    case "GateFailed":
      return ExitCode.gate
    default:
      return ExitCode.failure
  }
}

/** The one-line reason of an error, or undefined when it was already shown (the CLI module's own usage output). */
export const reasonOf = (error: unknown): string | undefined => {
  if (CliError.isCliError(error)) {
    if (error._tag !== "ShowHelp") return error.message.split("\n")[0]
    const first = error.errors[0]
    return first === undefined ? undefined : `${first.message.split("\n")[0]} (see: ${error.commandPath.join(" ")} --help)`
  }
  const tag = tagged(error)
  // A ConfigError's message spans lines (which variable, why): keep all of it, on one line.
  const line = tag === "ConfigError"
    ? messageOf(error).replace(/\s*\n\s*/g, " ")
    : messageOf(error).split("\n")[0]!
  return tag === undefined || tag === "UsageError" || tag === "GateFailed" || tag === "JobFailed"
    ? line
    : `${tag}: ${line}`
}

/** The exit code and reason of a finished program. */
export const outcome = (exit: Exit.Exit<unknown, unknown>): { readonly code: number; readonly reason?: string } => {
  if (Exit.isSuccess(exit)) return { code: ExitCode.ok }
  if (Cause.hasInterruptsOnly(exit.cause)) return { code: 130, reason: "interrupted" }
  const error = Cause.squash(exit.cause)
  const reason = reasonOf(error)
  return reason === undefined ? { code: exitCodeOf(error) } : { code: exitCodeOf(error), reason }
}
