/**
 * `--fail-on`: which verdicts make `bedrock-certify certify` exit 100, so a CI job can gate on a
 * certification. Default `FAILED`; `none` never fails the gate (the demo uses it).
 *
 * @since 0.1.0
 */
import { Domain } from "@myia/certification"
import type { Verdict } from "@myia/certification"
import * as Result from "effect/Result"

/** The default gate: a unit whose model failed a critical test. */
export const defaultFailOn = "FAILED"

/** Parse `--fail-on`: a comma list of verdicts, or `none`. */
export const parse = (input: string): Result.Result<ReadonlyArray<Verdict>, string> => {
  const items = input.split(",").map((s) => s.trim().toUpperCase()).filter((s) => s.length > 0)
  if (items.length === 1 && items[0] === "NONE") return Result.succeed([])
  if (items.length === 0) return Result.fail(`--fail-on: give verdicts (e.g. FAILED,INCONCLUSIVE) or none`)
  const unknown = items.filter((s) => !Domain.verdicts.includes(s as Verdict))
  return unknown.length === 0
    ? Result.succeed(items as ReadonlyArray<Verdict>)
    : Result.fail(`--fail-on: unknown verdict ${unknown.join(", ")} (one of ${Domain.verdicts.join(", ")}, or none)`)
}

/** The units whose verdict is in the gate. */
export const matched = <U extends { readonly status: string }>(
  units: ReadonlyArray<U>,
  failOn: ReadonlyArray<Verdict>
): ReadonlyArray<U> => units.filter((u) => failOn.includes(u.status as Verdict))
