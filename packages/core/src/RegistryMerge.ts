/**
 * The merge rules of the living registry (issue #13, SPEC §3a), pure: for one (model, region), the
 * facts three sources give — **observed** (the control plane, newest), **measured** (our own latest
 * result) and the **snapshot** (the registry compiled into the package) — merged per fact, the highest
 * source that knows a fact winning, each merged fact keeping its source and time; plus every
 * disagreement between sources, and the `ModelInfo` the runner certifies with.
 *
 * A model the control plane lists and the snapshot lacks gets an entry synthesized from the listing:
 * modality from its output modalities (text → chat, embedding → embedding), capabilities "unknown"
 * (streaming excepted: the listing says it) until measured. A LEGACY status from the control plane
 * wins over the snapshot's dates; its end-of-life time, once passed, makes the model EOL.
 *
 * The table {@link providers} says which source can give which fact; the table test walks every row.
 *
 * @since 0.2.0
 */
import * as DateTime from "effect/DateTime"
import type { Unit } from "./Domain.ts"
import type { ObservedModel, RegionObservation } from "./Observation.ts"
import type { Region } from "./Region.ts"
import {
  baseIdOf,
  type LifecycleStatus,
  type Modality,
  ModelInfo,
  type RegionInvocation,
  type Support
} from "./Registry.ts"

/** Where a fact came from, strongest first. */
export type Source = "control-plane" | "measured" | "snapshot"

/** The sources in precedence order: observed over measured over snapshot. */
export const precedence: ReadonlyArray<Source> = ["control-plane", "measured", "snapshot"]

/** How a model is reached in a region, or that it is not offered there. */
export type Invocation = RegionInvocation | "NOT_OFFERED"

/** What the account may do with a model (GetFoundationModelAvailability, or what a run ran into). */
export type Access = "AUTHORIZED" | "NOT_AUTHORIZED" | "NOT_ENTITLED" | "AGREEMENT_PENDING" | "NO_AGREEMENT"

/** A lifecycle with dates (`YYYY-MM-DD` or ISO instants, null when unknown). */
export interface LifecycleFact {
  readonly status: LifecycleStatus
  readonly legacyAt: string | null
  readonly eolAt: string | null
}

/** The value type of each fact. */
export interface FactValues {
  readonly invocation: Invocation
  readonly lifecycle: LifecycleFact
  readonly modality: Modality
  readonly streaming: Support
  readonly access: Access
  readonly profiles: ReadonlyArray<string>
}

/** A fact the merge decides. */
export type FactName = keyof FactValues

/** Every fact, in display order. */
export const factNames: ReadonlyArray<FactName> = ["invocation", "lifecycle", "modality", "streaming", "access", "profiles"]

/**
 * Which source can give which fact, and from what (the evidence a unit records). A source without an
 * entry never gives that fact: the snapshot knows nothing of this account's authorization, and a run
 * measures no modality.
 */
export const providers: Readonly<Record<FactName, Readonly<Partial<Record<Source, string>>>>> = {
  invocation: {
    "control-plane": "ListFoundationModels inferenceTypesSupported / GetFoundationModelAvailability regionAvailability",
    measured: "the latest run's invocation target or NOT_OFFERED_IN_REGION error",
    snapshot: "registry regions"
  },
  lifecycle: {
    "control-plane": "ListFoundationModels modelLifecycle",
    measured: "the latest run's LEGACY_OR_EOL error",
    snapshot: "registry lifecycle"
  },
  modality: { "control-plane": "ListFoundationModels outputModalities", snapshot: "registry modality" },
  streaming: {
    "control-plane": "ListFoundationModels responseStreamingSupported",
    measured: "the latest run's streaming test",
    snapshot: "registry capabilities.streaming"
  },
  access: {
    "control-plane": "GetFoundationModelAvailability authorizationStatus / entitlementAvailability / agreementAvailability",
    measured: "the latest run's ACCESS_DENIED / MARKETPLACE_PENDING error or answer"
  },
  profiles: {
    "control-plane": "ListInferenceProfiles models",
    measured: "the latest run's inference profile target",
    snapshot: "registry profiles"
  }
}

/** One source's value of a fact, with its time (ISO; null for the snapshot) and the evidence. */
export interface Fact<A> {
  readonly value: A
  readonly source: Source
  readonly at: string | null
  readonly evidence: string
}

/** Each source's facts, any of them absent. */
export type SourceFacts = { readonly [K in FactName]?: Fact<FactValues[K]> | undefined }

/** Two or more sources disagree on a fact. */
export interface Difference {
  readonly fact: FactName
  /** "snapshot stale" (control plane or measurement contradicts the snapshot), "control plane and runtime disagree". */
  readonly kind: "snapshot-stale" | "observed-vs-measured"
  readonly values: ReadonlyArray<{ readonly source: Source; readonly value: string; readonly at: string | null }>
}

/** The merged view of one (model, region). */
export interface Merged {
  readonly modelId: string
  readonly region: Region
  /** The winning value of each fact some source knows. */
  readonly facts: SourceFacts
  readonly differences: ReadonlyArray<Difference>
  /** Whether the snapshot knows the model at all. */
  readonly inSnapshot: boolean
  /** Whether the control plane lists it in the region (directly or through a profile). */
  readonly listed: boolean
  /** The entry the runner certifies with (snapshot entry with the merged facts), or none if no source knows it. */
  readonly model: ModelInfo | undefined
}

// ---------------------------------------------------------------------------------------------
// Facts per source
// ---------------------------------------------------------------------------------------------

const modalityOf = (outputs: ReadonlyArray<string>): Modality | undefined =>
  outputs.includes("EMBEDDING")
    ? "embedding"
    : outputs.includes("IMAGE")
    ? "image"
    : outputs.includes("VIDEO")
    ? "video"
    : outputs.includes("SPEECH") || outputs.includes("AUDIO")
    ? "speech"
    : outputs.includes("TEXT")
    ? "chat"
    : undefined

/** The access an availability answer grants: the first blocking field, or AUTHORIZED. */
export const accessOf = (a: RegionObservation["availability"][number]): { readonly access: Access; readonly field: string; readonly value: string } => {
  if (a.authorizationStatus !== "AUTHORIZED") {
    return { access: "NOT_AUTHORIZED", field: "authorizationStatus", value: a.authorizationStatus }
  }
  if (a.entitlementAvailability !== "AVAILABLE") {
    return { access: "NOT_ENTITLED", field: "entitlementAvailability", value: a.entitlementAvailability }
  }
  if (a.agreementStatus === "PENDING") return { access: "AGREEMENT_PENDING", field: "agreementAvailability.status", value: "PENDING" }
  if (a.agreementStatus !== "AVAILABLE") {
    return { access: "NO_AGREEMENT", field: "agreementAvailability.status", value: a.agreementStatus }
  }
  return { access: "AUTHORIZED", field: "authorizationStatus", value: "AUTHORIZED" }
}

const profilesOf = (observation: RegionObservation, modelId: string): ReadonlyArray<string> =>
  observation.profiles
    .filter((p) => p.type === "SYSTEM_DEFINED" && p.models.includes(modelId))
    .map((p) => p.id)
    .sort()

/** The control plane's facts about a model in the observed region. */
export const observedFacts = (observation: RegionObservation, modelId: string): SourceFacts => {
  const at = observation.observedAt
  const listedModel: ObservedModel | undefined = observation.models.find((m) => m.modelId === modelId)
  const profiles = profilesOf(observation, modelId)
  const availability = observation.availability.find((a) => a.modelId === modelId)
  const fact = <A>(value: A, evidence: string, when: string = at): Fact<A> => ({
    value,
    source: "control-plane",
    at: when,
    evidence
  })
  const types = listedModel?.inferenceTypes ?? []
  const invocation: Fact<Invocation> = availability !== undefined && availability.regionAvailability !== "AVAILABLE"
    ? fact("NOT_OFFERED", `GetFoundationModelAvailability regionAvailability = ${availability.regionAvailability}`, availability.observedAt)
    : types.includes("ON_DEMAND")
    ? fact("ON_DEMAND", "ListFoundationModels inferenceTypesSupported includes ON_DEMAND")
    : types.includes("INFERENCE_PROFILE") || (listedModel === undefined && profiles.length > 0)
    ? fact("PROFILE_ONLY", listedModel === undefined
      ? `ListInferenceProfiles lists ${profiles[0]} for it`
      : "ListFoundationModels inferenceTypesSupported = INFERENCE_PROFILE")
    : fact("NOT_OFFERED", listedModel === undefined
      ? "ListFoundationModels does not list it"
      : `ListFoundationModels inferenceTypesSupported = ${types.join(",") || "(none)"}`)
  const lifecycle = listedModel?.lifecycle
  const modality = listedModel === undefined ? undefined : modalityOf(listedModel.outputModalities)
  const access = availability === undefined ? undefined : accessOf(availability)
  return {
    invocation,
    lifecycle: lifecycle === undefined || lifecycle === null ? undefined : fact(
      { status: lifecycle.status, legacyAt: lifecycle.legacyAt, eolAt: lifecycle.eolAt },
      `ListFoundationModels modelLifecycle.status = ${lifecycle.status}` +
        (lifecycle.eolAt === null ? "" : `, endOfLifeTime = ${lifecycle.eolAt}`)
    ),
    modality: modality === undefined ? undefined : fact(
      modality,
      `ListFoundationModels outputModalities = ${listedModel!.outputModalities.join(",")}`
    ),
    streaming: listedModel === undefined || listedModel.streaming === null ? undefined : fact(
      listedModel.streaming ? "yes" : "no",
      `ListFoundationModels responseStreamingSupported = ${listedModel.streaming}`
    ),
    access: access === undefined
      ? undefined
      : fact(access.access, `GetFoundationModelAvailability ${access.field} = ${access.value}`, availability!.observedAt),
    profiles: listedModel === undefined && profiles.length === 0
      ? undefined
      : fact(profiles, `ListInferenceProfiles: ${profiles.join(", ") || "no system profile"}`)
  }
}

/** The snapshot's facts about a model in a region (none about access). */
export const snapshotFacts = (model: ModelInfo, region: Region): SourceFacts => {
  const fact = <A>(value: A, evidence: string): Fact<A> => ({ value, source: "snapshot", at: null, evidence })
  const entry = model.regions.find((r) => r.region === region)
  return {
    invocation: entry !== undefined
      ? fact(entry.invocation, `registry regions: ${entry.invocation} in ${region}`)
      : model.regionsKnown
      ? fact("NOT_OFFERED", `registry regions do not include ${region}`)
      : undefined,
    lifecycle: model.lifecycle.status === "UNKNOWN"
      ? undefined
      : fact(
        { status: model.lifecycle.status, legacyAt: model.lifecycle.legacyAt, eolAt: model.lifecycle.eolAt },
        `registry lifecycle ${model.lifecycle.status} (${model.lifecycle.source})`
      ),
    modality: fact(model.modality, `registry modality ${model.modality}`),
    streaming: model.capabilities.streaming === "unknown"
      ? undefined
      : fact(model.capabilities.streaming, `registry capabilities.streaming = ${model.capabilities.streaming}`),
    profiles: fact([...model.profiles].sort(), `registry profiles: ${model.profiles.join(", ") || "none"}`)
  }
}

const measuredAccess: Readonly<Record<string, Access>> = {
  ACCESS_DENIED: "NOT_AUTHORIZED",
  MARKETPLACE_PENDING: "AGREEMENT_PENDING"
}

/** A result to read measured facts from: a stored unit, or a run's outcome (`id` null: "this run"). */
export interface Measurement {
  readonly id: string | null
  readonly error: Unit["error"]
  readonly tests: Unit["tests"]
  readonly invocationTarget: Unit["invocationTarget"]
  readonly completedAt: string | null
}

/** What our latest terminal result for (model, region) measured. */
export const measuredFacts = (measurement: Measurement): SourceFacts => {
  const unit = { ...measurement, id: measurement.id ?? "(this run)" }
  const at = unit.completedAt
  const fact = <A>(value: A, evidence: string): Fact<A> => ({ value, source: "measured", at, evidence })
  const category = unit.error?.category
  const answered = unit.tests.some((t) => t.status === "PASSED" || (t.status === "FAILED" && t.error?.category === "QUALITY"))
  const target = unit.invocationTarget
  const streamingTest = unit.tests.find((t) => t.id === "streaming")
  const profile = target?.kind === "SYSTEM_PROFILE" ? target.id : undefined
  return {
    invocation: category === "NOT_OFFERED_IN_REGION"
      ? fact("NOT_OFFERED", `run ${unit.id} ended NOT_OFFERED_IN_REGION`)
      : answered && target !== null
      ? fact(target.kind === "ON_DEMAND" ? "ON_DEMAND" : "PROFILE_ONLY", `run ${unit.id} answered through ${target.id}`)
      : undefined,
    lifecycle: category === "LEGACY_OR_EOL"
      ? fact({ status: "EOL", legacyAt: null, eolAt: null }, `run ${unit.id} ended LEGACY_OR_EOL`)
      : undefined,
    streaming: streamingTest === undefined || !(streamingTest.status === "PASSED" || streamingTest.detail?.startsWith("measured unsupported"))
      ? undefined
      : fact(streamingTest.status === "PASSED" ? "yes" : "no", `run ${unit.id} streaming test ${streamingTest.status}`),
    access: category !== undefined && measuredAccess[category] !== undefined
      ? fact(measuredAccess[category]!, `run ${unit.id} ended ${category}`)
      : answered
      ? fact("AUTHORIZED", `run ${unit.id} got answers`)
      : undefined,
    profiles: profile === undefined || !answered ? undefined : fact([profile], `run ${unit.id} answered through ${profile}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Merge
// ---------------------------------------------------------------------------------------------

/** A fact's value as text (for differences and findings). */
export const show = (fact: FactName, value: FactValues[FactName]): string => {
  if (fact === "lifecycle") {
    const l = value as LifecycleFact
    return [l.status, l.legacyAt === null ? "" : `legacy ${l.legacyAt}`, l.eolAt === null ? "" : `EOL ${l.eolAt}`]
      .filter((s) => s !== "").join(" ")
  }
  if (fact === "profiles") return (value as ReadonlyArray<string>).join(", ") || "none"
  return String(value)
}

// Lifecycle dates agree when they name the same day; a measurement only knows the status.
const comparable = (fact: FactName, value: FactValues[FactName], source: Source): string => {
  if (fact !== "lifecycle") return show(fact, value)
  const l = value as LifecycleFact
  return source === "measured" ? l.status : `${l.status}|${l.eolAt?.slice(0, 10) ?? ""}`
}

const differencesOf = (fact: FactName, given: ReadonlyArray<Fact<FactValues[FactName]>>): ReadonlyArray<Difference> => {
  const out: Array<Difference> = []
  const bySource = new Map(given.map((f) => [f.source, f]))
  const pair = (a: Source, b: Source, kind: Difference["kind"]) => {
    const x = bySource.get(a)
    const y = bySource.get(b)
    if (x === undefined || y === undefined) return
    // A measured EOL says less than a dated lifecycle; compare statuses only then.
    const left = b === "measured" || a === "measured" ? comparable(fact, x.value, "measured") : comparable(fact, x.value, a)
    const right = b === "measured" || a === "measured" ? comparable(fact, y.value, "measured") : comparable(fact, y.value, b)
    if (left === right) return
    out.push({
      fact,
      kind,
      values: [x, y].map((f) => ({ source: f.source, value: show(fact, f.value), at: f.at }))
    })
  }
  pair("control-plane", "snapshot", "snapshot-stale")
  pair("measured", "snapshot", "snapshot-stale")
  pair("control-plane", "measured", "observed-vs-measured")
  return out
}

/** Merge each fact: the first source in {@link precedence} that gives it wins. */
export const mergeFacts = (
  sources: Partial<Record<Source, SourceFacts>>
): { readonly facts: SourceFacts; readonly differences: ReadonlyArray<Difference> } => {
  const facts: Record<string, Fact<unknown>> = {}
  const differences: Array<Difference> = []
  for (const name of factNames) {
    const given = precedence.flatMap((s) => {
      const f = sources[s]?.[name]
      return f === undefined ? [] : [f as Fact<FactValues[FactName]>]
    })
    if (given.length > 0) facts[name] = given[0]!
    differences.push(...differencesOf(name, given))
  }
  return { facts: facts as SourceFacts, differences }
}

const day = (iso: string | null): string | null => (iso === null ? null : iso.slice(0, 10))

const vendorOf = (id: string): string => {
  const vendor = id.split(".")[0] ?? id
  return vendor.charAt(0).toUpperCase() + vendor.slice(1)
}

/** A registry entry for a model only the control plane knows: capabilities unknown until measured. */
const synthesize = (observed: ObservedModel, region: Region, modality: Modality): ModelInfo =>
  new ModelInfo({
    id: observed.modelId,
    name: observed.name ?? observed.modelId,
    vendor: observed.provider ?? vendorOf(observed.modelId),
    modality,
    api: modality === "chat" ? "CONVERSE" : modality === "embedding" ? "INVOKE_MODEL" : "NONE",
    capabilities: {
      streaming: "unknown",
      systemPrompt: "unknown",
      toolUse: "unknown",
      streamingToolUse: "unknown",
      vision: "unknown",
      documents: "unknown",
      reasoning: "unknown"
    },
    maxInputTokens: null,
    maxOutputTokens: null,
    regions: [],
    regionsKnown: true,
    profiles: [],
    lifecycle: { status: "UNKNOWN", legacyAt: null, eolAt: null, source: "control plane" },
    sources: { id: `control-plane: ListFoundationModels in ${region}` }
  })

/** The entry the runner uses: the base entry with every merged fact written in, each with its source. */
const applyFacts = (base: ModelInfo, region: Region, facts: SourceFacts): ModelInfo => {
  const sources: Record<string, string> = { ...base.sources }
  const note = (key: string, fact: Fact<unknown> | undefined) => {
    if (fact !== undefined && fact.source !== "snapshot") sources[key] = `${fact.source}: ${fact.evidence}`
  }
  const invocation = facts.invocation?.value
  const regions = base.regions.filter((r) => r.region !== region)
  if (invocation === "ON_DEMAND" || invocation === "PROFILE_ONLY") regions.push({ region, invocation })
  else if (invocation === undefined) regions.push(...base.regions.filter((r) => r.region === region))
  note("regions", facts.invocation)
  const lifecycle = facts.lifecycle
  note("lifecycle", lifecycle)
  note("modality", facts.modality)
  note("capabilities.streaming", facts.streaming)
  note("profiles", facts.profiles)
  const profiles = [...new Set([...base.profiles, ...(facts.profiles?.value ?? [])])]
  return new ModelInfo({
    ...base,
    modality: facts.modality?.value ?? base.modality,
    api: facts.modality === undefined || facts.modality.value === base.modality
      ? base.api
      : facts.modality.value === "chat"
      ? "CONVERSE"
      : facts.modality.value === "embedding"
      ? "INVOKE_MODEL"
      : "NONE",
    capabilities: { ...base.capabilities, streaming: facts.streaming?.value ?? base.capabilities.streaming },
    regions,
    regionsKnown: base.regionsKnown || invocation !== undefined,
    profiles,
    lifecycle: lifecycle === undefined || lifecycle.source === "snapshot"
      ? base.lifecycle
      : {
        status: lifecycle.value.status,
        legacyAt: day(lifecycle.value.legacyAt),
        eolAt: day(lifecycle.value.eolAt) ?? (lifecycle.source === "control-plane" ? base.lifecycle.eolAt : null),
        source: `${lifecycle.source}: ${lifecycle.evidence}`
      },
    sources
  })
}

/** What {@link merge} needs; every source may be missing. */
export interface MergeInput {
  readonly modelId: string
  readonly region: Region
  readonly snapshot: ModelInfo | undefined
  readonly observed: RegionObservation | undefined
  /** Our latest terminal result for (model, region), if any. */
  readonly measured: Measurement | undefined
}

/** Merge the three sources for one (model, region). Pure. */
export const merge = (input: MergeInput): Merged => {
  const modelId = input.snapshot?.id ?? baseIdOf(input.modelId)
  const observedModel = input.observed?.models.find((m) => m.modelId === modelId)
  const sources: Partial<Record<Source, SourceFacts>> = {
    ...(input.observed === undefined ? {} : { "control-plane": observedFacts(input.observed, modelId) }),
    ...(input.measured === undefined ? {} : { measured: measuredFacts(input.measured) }),
    ...(input.snapshot === undefined ? {} : { snapshot: snapshotFacts(input.snapshot, input.region) })
  }
  const { differences, facts } = mergeFacts(sources)
  const listed = facts.invocation?.source === "control-plane" && facts.invocation.value !== "NOT_OFFERED"
  const modality = facts.modality?.value
  const base = input.snapshot ??
    (observedModel !== undefined && modality !== undefined ? synthesize(observedModel, input.region, modality) : undefined)
  return {
    modelId,
    region: input.region,
    facts,
    differences,
    inSnapshot: input.snapshot !== undefined,
    listed,
    model: base === undefined ? undefined : applyFacts(base, input.region, facts)
  }
}

/** Whether a lifecycle fact is end of life at an instant (LEGACY past its EOL time, or EOL). */
export const isEolAt = (lifecycle: LifecycleFact, at: DateTime.Utc | number): boolean => {
  if (lifecycle.status === "EOL") return true
  if (lifecycle.eolAt === null) return false
  const eol = Date.parse(lifecycle.eolAt.length === 10 ? `${lifecycle.eolAt}T00:00:00.000Z` : lifecycle.eolAt)
  const now = typeof at === "number" ? at : DateTime.toEpochMillis(at)
  return !Number.isNaN(eol) && now >= eol
}

/** The merged facts as rows (what `GET /models?region` shows): each fact with its value as text, source, time and evidence. */
export const factRows = (merged: Merged): ReadonlyArray<{
  readonly fact: FactName
  readonly value: string
  readonly source: Source
  readonly at: string | null
  readonly evidence: string
}> =>
  factNames.flatMap((fact) => {
    const f = merged.facts[fact]
    return f === undefined
      ? []
      : [{ fact, value: show(fact, f.value as FactValues[FactName]), source: f.source, at: f.at, evidence: f.evidence }]
  })
