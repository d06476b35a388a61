/**
 * Preflight (issue #13, SPEC §3a): before a unit's first runtime call, what the control plane already
 * says about this account decides the units it rules out, and every unit records where its registry
 * facts came from.
 *
 * {@link decide} is pure: from the merged view of (model, region) — `LivingRegistry.view` — it ends a
 * unit UNAVAILABLE **without a runtime call** when the control plane says the account is not
 * authorized, not entitled, has no (or a pending) Marketplace agreement, the model is not offered in
 * the region, is past its end of life, or is reachable only through a profile and none is usable —
 * with the control-plane evidence (operation, field, value, time) in the unit. Otherwise the unit
 * proceeds on the merged registry entry, with findings naming each fact's source and every
 * difference between snapshot, control plane and earlier measurements; {@link record} adds what the
 * run itself measured against the control plane. When the region's control plane could not be
 * consulted, the unit proceeds on the snapshot and records that preflight was skipped and why.
 *
 * Without a `LivingRegistry` in context, {@link prepare} changes nothing.
 *
 * @since 0.2.0
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type CategorizedError, type Region, UnitOutcome } from "./Domain.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import { LivingRegistry, type View } from "./LivingRegistry.ts"
import { Registry, type RegistryShape } from "./Registry.ts"
import * as RegistryMerge from "./RegistryMerge.ts"
import * as Suite from "./Suite.ts"

/** What the runner certifies with, or the verdict preflight already reached. */
export interface Prepared {
  /** The registry with the merged entry of the unit's model. */
  readonly registry: RegistryShape
  /** Provenance, differences and lifecycle notes, or why preflight was skipped. */
  readonly findings: ReadonlyArray<string>
  /** UNAVAILABLE without a runtime call, when the control plane rules the unit out. */
  readonly decided: UnitOutcome | undefined
  readonly view: View | undefined
}

/** The evidence of a control-plane fact: the operation, the field and its value. */
export interface Evidence {
  readonly operation: string
  readonly field: string
  readonly value: string
  readonly observedAt: string | null
}

/** Split a fact's evidence ("GetFoundationModelAvailability authorizationStatus = NOT_AUTHORIZED"). */
export const evidenceOf = (fact: RegistryMerge.Fact<unknown>): Evidence => {
  const match = /^(\S+) (.+?) = (.+)$/.exec(fact.evidence)
  return match === null
    ? { operation: fact.evidence.split(" ")[0] ?? fact.evidence, field: "", value: fact.evidence, observedAt: fact.at }
    : { operation: match[1]!, field: match[2]!, value: match[3]!, observedAt: fact.at }
}

const evidenceLine = (e: Evidence) =>
  `preflight evidence: operation=${e.operation} field=${e.field || "(listing)"} value=${e.value} observedAt=${e.observedAt ?? "unknown"}`

const access: Readonly<Record<Exclude<RegistryMerge.Access, "AUTHORIZED">, {
  readonly category: "ACCESS_DENIED" | "MARKETPLACE_PENDING"
  readonly why: string
}>> = {
  NOT_AUTHORIZED: { category: "ACCESS_DENIED", why: "this account is not authorized to use the model" },
  NOT_ENTITLED: { category: "ACCESS_DENIED", why: "this account is not entitled to the model" },
  NO_AGREEMENT: { category: "ACCESS_DENIED", why: "this account has no Marketplace agreement for the model" },
  AGREEMENT_PENDING: { category: "MARKETPLACE_PENDING", why: "the Marketplace agreement for the model is pending" }
}

const unavailable = (
  category: CategorizedError["category"],
  why: string,
  fact: RegistryMerge.Fact<unknown>,
  modelId: string,
  region: Region,
  findings: ReadonlyArray<string>
): UnitOutcome => {
  const evidence = evidenceOf(fact)
  const error = ErrorCategory.make(category, {
    message: `Preflight: ${why} in ${region} — the control plane says ${fact.evidence}` +
      ` (observed ${fact.at ?? "unknown"}); no runtime call was made for ${modelId}.`,
    awsErrorName: null
  })
  return Suite.outcomeWithoutTests("UNAVAILABLE", error, [evidenceLine(evidence), ...findings])
}

const differenceLine = (d: RegistryMerge.Difference): string => {
  const label = d.kind === "snapshot-stale" ? "snapshot stale" : "control plane and runtime disagree"
  const said = d.values.map((v) =>
    `${v.source === "measured" ? "our test measured" : `${v.source} says`} ${v.value}${v.at === null ? "" : ` (${v.at})`}`
  )
  return `registry difference (${label}): ${d.fact} — ${said.join("; ")}`
}

/** The findings every unit of a consulted region records: each fact's source, then every difference. */
export const provenance = (merged: RegistryMerge.Merged): ReadonlyArray<string> => {
  const out: Array<string> = []
  const facts = RegistryMerge.factNames.flatMap((name) => {
    const fact = merged.facts[name]
    return fact === undefined
      ? []
      : [`${name} ${RegistryMerge.show(name, fact.value as never)} [${fact.source}${fact.at === null ? "" : ` ${fact.at}`}]`]
  })
  const lead = merged.inSnapshot
    ? `registry facts for ${merged.modelId} in ${merged.region}`
    : `registry facts for ${merged.modelId} in ${merged.region} come from the control plane (not in the snapshot)`
  out.push(`${lead}: ${facts.join("; ")}`)
  for (const d of merged.differences) out.push(differenceLine(d))
  return out
}

/** Decide a unit from its merged view at an instant. Pure. */
export const decide = (view: View, registry: RegistryShape, region: Region, at: DateTime.Utc): Prepared => {
  if (view.discovery._tag === "Skipped") {
    return {
      registry,
      findings: [`preflight skipped: ${view.discovery.reason}; registry facts from the snapshot`],
      decided: undefined,
      view
    }
  }
  const { merged } = view
  const merging = merged.model === undefined ? registry : registry.extend([merged.model])
  const findings = [...provenance(merged)]
  const lifecycle = merged.facts.lifecycle
  if (lifecycle?.source === "control-plane" && lifecycle.value.status === "LEGACY") {
    findings.unshift(
      `lifecycle: LEGACY per the control plane (${lifecycle.evidence}); plan a move to an active model before end of life`
    )
  }
  const proceed: Prepared = { registry: merging, findings, decided: undefined, view }
  if (merged.model === undefined) return proceed // nobody knows it: the runner says so
  const fromControlPlane = <A>(fact: RegistryMerge.Fact<A> | undefined) =>
    fact !== undefined && fact.source === "control-plane" ? fact : undefined

  const accessFact = fromControlPlane(merged.facts.access)
  if (accessFact !== undefined && accessFact.value !== "AUTHORIZED") {
    const row = access[accessFact.value]
    return { ...proceed, decided: unavailable(row.category, row.why, accessFact, merged.modelId, region, findings) }
  }
  const certifiability = merging.certifiability(merged.modelId, region, at)
  const pinned = certifiability._tag === "Certifiable" &&
    (certifiability.target.kind === "APPLICATION_PROFILE" || certifiability.target.kind === "PROVISIONED")
  // End of life the registry already knows: the runner's own verdict (AWS stops listing such models).
  if (
    certifiability._tag === "NotCertifiable" && certifiability.reason === "END_OF_LIFE" &&
    lifecycle?.source !== "control-plane"
  ) return proceed
  const invocation = fromControlPlane(merged.facts.invocation)
  if (!pinned && invocation?.value === "NOT_OFFERED") {
    const why = "the model is not offered to this account in this region"
    return { ...proceed, decided: unavailable("NOT_OFFERED_IN_REGION", why, invocation, merged.modelId, region, findings) }
  }
  if (lifecycle?.source === "control-plane" && RegistryMerge.isEolAt(lifecycle.value, at)) {
    const why = `the model reached end of life (${lifecycle.value.eolAt ?? "date unknown"})`
    return { ...proceed, decided: unavailable("LEGACY_OR_EOL", why, lifecycle, merged.modelId, region, findings) }
  }
  if (!pinned && invocation?.value === "PROFILE_ONLY" && certifiability._tag === "NotCertifiable") {
    const why = "the model is reachable only through an inference profile and none is usable from this region"
    return {
      ...proceed,
      decided: unavailable("REQUIRES_INFERENCE_PROFILE", why, invocation, merged.modelId, region, findings)
    }
  }
  return proceed
}

/** Preflight one unit: its merged view (when a `LivingRegistry` is in context) and the decision. */
export const prepare = Effect.fn("Preflight.prepare")(function*(unit: { readonly modelId: string; readonly region: Region }) {
  const registry = yield* Registry
  const living = yield* Effect.serviceOption(LivingRegistry)
  if (Option.isNone(living)) return { registry, findings: [], decided: undefined, view: undefined } satisfies Prepared
  const view = yield* living.value.view(unit.modelId, unit.region)
  return decide(view, registry, unit.region, yield* DateTime.now)
})

/**
 * The outcome with the preflight findings, plus what this run measured that the control plane
 * contradicts ("control plane says AUTHORIZED; our test measured NOT_AUTHORIZED").
 */
export const record = (prepared: Prepared, outcome: UnitOutcome, at: DateTime.Utc): UnitOutcome => {
  const view = prepared.view
  if (view === undefined) return outcome
  const extra = [...prepared.findings]
  if (view.discovery._tag === "Observed") {
    const now = RegistryMerge.merge({
      modelId: view.merged.modelId,
      region: view.merged.region,
      snapshot: undefined,
      observed: view.discovery.observation,
      measured: {
        id: null,
        error: outcome.error,
        tests: outcome.tests,
        invocationTarget: outcome.invocationTarget,
        completedAt: DateTime.formatIso(at)
      }
    })
    for (const d of now.differences) if (d.kind === "observed-vs-measured") extra.push(differenceLine(d))
  }
  return new UnitOutcome({ ...outcome, findings: [...outcome.findings, ...extra] })
}
