/**
 * The Bedrock model registry: what the SDK knows about each model before it calls it.
 *
 * The built-in data (139 models: chat, embedding, image, video, speech, rerank) is a JSON file,
 * `data/bedrock-models.json`, generated from `reference/bedrock/bedrock_model_registry.json` by
 * `scripts/build-registry.ts`; it keeps the source of every fact in `ModelInfo.sources` and is decoded
 * once, when this module loads. The package ships it once, next to `dist/` and `src/`, which both
 * import it as `../data/bedrock-models.json`. The registry answers three questions: what is this id
 * (`get`, which also maps system-profile ids and ARNs back to the base model), which models match a
 * filter (`list`), and can this model be certified in this region at this date, and through which
 * invocation target (`certifiability`). Hosts add or override models and pin their own
 * application-inference-profile or provisioned-throughput ARNs with `layerWith` / `make`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import builtinData from "../data/bedrock-models.json" with { type: "json" }
import { InvocationTarget } from "./Domain.ts"
import { geographiesOf, isRegion, Region, regionName } from "./Region.ts"

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

/** What a model does; only chat and embedding have a test suite in v1. */
export const Modality = Schema.Literals(["chat", "embedding", "image", "video", "speech", "rerank"])
export type Modality = typeof Modality.Type

/** The runtime API the suite uses for a model: Converse for chat, InvokeModel for embeddings, none otherwise. */
export const ModelApi = Schema.Literals(["CONVERSE", "INVOKE_MODEL", "NONE"])
export type ModelApi = typeof ModelApi.Type

/** The Converse features a test can depend on. */
export const Capability = Schema.Literals([
  "streaming",
  "systemPrompt",
  "toolUse",
  "streamingToolUse",
  "vision",
  "documents",
  "reasoning"
])
export type Capability = typeof Capability.Type

/** Every capability, in display order. */
export const capabilities: ReadonlyArray<Capability> = Capability.literals

/** Whether a model supports a capability; the raw source value ("Y?", "N?") is kept in `sources`. */
export const Support = Schema.Literals(["yes", "no", "unknown"])
export type Support = typeof Support.Type

/** A lifecycle status. LEGACY models still answer until `eolAt`; EOL models do not. */
export const LifecycleStatus = Schema.Literals(["ACTIVE", "LEGACY", "EOL", "UNKNOWN"])
export type LifecycleStatus = typeof LifecycleStatus.Type

/** A model's lifecycle with dates (`YYYY-MM-DD`, null when unknown) and the text they came from. */
export const Lifecycle = Schema.Struct({
  status: LifecycleStatus,
  legacyAt: Schema.NullOr(Schema.String),
  eolAt: Schema.NullOr(Schema.String),
  source: Schema.String
})
export type Lifecycle = typeof Lifecycle.Type

/** How a model is reached in a region: by its base id, or only through a cross-Region inference profile. */
export const RegionInvocation = Schema.Literals(["ON_DEMAND", "PROFILE_ONLY"])
export type RegionInvocation = typeof RegionInvocation.Type

/** One region where a model is offered. */
export const RegionAvailability = Schema.Struct({ region: Region, invocation: RegionInvocation })
export type RegionAvailability = typeof RegionAvailability.Type

/**
 * Everything the registry knows about one model.
 *
 * **Details**
 * - `regionsKnown` is false when the sources list no region for the model; such a model matches a
 *   region filter only on request and is certifiable anywhere with `regionVerified: false`.
 * - `profiles` are system inference profile ids (`us.<id>`, `global.<id>`, …) known to exist.
 * - `profileRequired` (optional, additive): the model is served only through inference profiles
 *   wherever it is offered. It decides the target when `regionsKnown` is false.
 * - `sources` names the source of each fact (`capabilities` → "AWSF", `regions` → "AWS25",
 *   `lifecycle` → "LC", `limits` → "LL", …), with the raw value when it was uncertain.
 */
export class ModelInfo extends Schema.Class<ModelInfo>("@myia/certification/ModelInfo")({
  id: Schema.String,
  name: Schema.String,
  vendor: Schema.String,
  modality: Modality,
  api: ModelApi,
  capabilities: Schema.Record(Capability, Support),
  maxInputTokens: Schema.NullOr(Schema.Int),
  maxOutputTokens: Schema.NullOr(Schema.Int),
  regions: Schema.Array(RegionAvailability),
  regionsKnown: Schema.Boolean,
  profiles: Schema.Array(Schema.String),
  profileRequired: Schema.optionalKey(Schema.Boolean),
  lifecycle: Lifecycle,
  sources: Schema.Record(Schema.String, Schema.String)
}) {}

/** The model can be certified in the region, through `target`. */
export class Certifiable extends Schema.TaggedClass<Certifiable>()("Certifiable", {
  model: ModelInfo,
  target: InvocationTarget,
  /** Other system profiles usable from the region, best first, for a retry on REQUIRES_INFERENCE_PROFILE. */
  fallbackProfiles: Schema.Array(Schema.String),
  /** False when the registry has no region data for the model: the first call finds out. */
  regionVerified: Schema.Boolean
}) {}

/** Why a (model, region) pair is not certified: unknown, not Bedrock, no suite, not offered, end of life. */
export const NotCertifiableReason = Schema.Literals([
  "UNKNOWN_MODEL",
  "NOT_BEDROCK",
  "NO_SUITE",
  "NOT_OFFERED_IN_REGION",
  "END_OF_LIFE"
])
export type NotCertifiableReason = typeof NotCertifiableReason.Type

/** The model cannot be certified in the region; `message` is a sentence naming model and region. */
export class NotCertifiable extends Schema.TaggedClass<NotCertifiable>()("NotCertifiable", {
  reason: NotCertifiableReason,
  message: Schema.String
}) {}

/** The answer of `certifiability`. */
export const Certifiability = Schema.Union([Certifiable, NotCertifiable])
export type Certifiability = Certifiable | NotCertifiable

/** A host-pinned invocation target (application inference profile or provisioned-throughput ARN). */
export interface HostTarget {
  readonly modelId: string
  readonly region: Region
  readonly target: InvocationTarget
}

/** How to extend the built-in registry. */
export interface Options {
  /** Models to add, or to replace by id (a host's custom or corrected entries). */
  readonly models?: ReadonlyArray<ModelInfo> | undefined
  /** Host ARN targets; they win over the registry's own choice of target for that (model, region). */
  readonly targets?: ReadonlyArray<HostTarget> | undefined
  /** Start from these models instead of the built-in ones (tests). */
  readonly base?: ReadonlyArray<ModelInfo> | undefined
}

/** A `list` filter; every given field must match. */
export interface ListFilter {
  readonly region?: Region | undefined
  /** Also match models without region data when `region` is given. */
  readonly includeUnverifiedRegions?: boolean | undefined
  /** Vendor name ("Anthropic") or id prefix ("anthropic"), case-insensitive. */
  readonly vendor?: string | undefined
  readonly modality?: Modality | undefined
  /** Only models that support it ("yes"). */
  readonly capability?: Capability | undefined
  readonly lifecycle?: LifecycleStatus | ReadonlyArray<LifecycleStatus> | undefined
}

// ---------------------------------------------------------------------------------------------
// Built-in data
// ---------------------------------------------------------------------------------------------

const BuiltinData = Schema.Struct({ description: Schema.String, models: Schema.Array(ModelInfo) })

/** The built-in models, generated from the reference registry. */
export const builtinModels: ReadonlyArray<ModelInfo> = Schema.decodeUnknownSync(BuiltinData)(builtinData).models

// ---------------------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------------------

/** The system-profile prefixes, longest first so `us-gov.` is not read as `us`. */
export const profilePrefixes: ReadonlyArray<string> = ["us-gov", "global", "apac", "us", "eu", "jp", "au", "ca"]

/** The geography prefix of a system-profile id (`us.x` → `us`), if it has one. */
export const profilePrefixOf = (id: string): Option.Option<string> => {
  const prefix = profilePrefixes.find((p) => id.startsWith(`${p}.`))
  return prefix === undefined ? Option.none() : Option.some(prefix)
}

const arnPattern = /^arn:aws[a-z-]*:bedrock:([a-z0-9-]*):(\d*):([a-z-]+)\/(.+)$/

/**
 * The model id an id names: a system-profile id (`us.<id>`) or an ARN of a foundation model or
 * system inference profile gives the base id; anything else is returned as is.
 */
export const baseIdOf = (id: string): string => {
  const arn = arnPattern.exec(id)
  const bare = arn !== null && (arn[3] === "foundation-model" || arn[3] === "inference-profile") ? arn[4]! : id
  return Option.match(profilePrefixOf(bare), { onNone: () => bare, onSome: (p) => bare.slice(p.length + 1) })
}

/** Whether an id is a Bedrock ARN (`arn:aws:bedrock:…`). */
export const isBedrockArn = (id: string): boolean => arnPattern.test(id)

/**
 * Id shapes that name another provider's model. Bedrock ids are `vendor.model[:n]`; these are the
 * forms hosts most often send by mistake (OpenAI, Anthropic API, Google, LiteLLM `provider/model`).
 */
const nonBedrockPatterns: ReadonlyArray<RegExp> = [
  /^[a-z0-9_-]+:(?!\d)/i, // "openai:gpt-4o", "anthropic:claude-3"
  /\//, // "openai/gpt-4o", "bedrock/anthropic.x" (ARNs are handled before)
  /^(gpt|chatgpt|o1|o3|o4|dall-e|text-embedding|whisper|tts)(-|$)/i,
  /^(claude|gemini|gemma|grok|llama|mistral|mixtral|command|deepseek|qwen)-/i
]

/** Whether an id, unknown to the registry, looks like another provider's model id. */
export const looksNonBedrock = (id: string): boolean =>
  !isBedrockArn(id) && nonBedrockPatterns.some((pattern) => pattern.test(id))

/** Midnight UTC of a `YYYY-MM-DD` date, in epoch milliseconds (NaN when invalid). */
const dayMillis = (date: string): number => Date.parse(`${date}T00:00:00.000Z`)

const toMillis = (at: DateTime.Utc | string): number =>
  typeof at === "string" ? Date.parse(at) : DateTime.toEpochMillis(at)

/**
 * The lifecycle status in effect at a date: a LEGACY model whose `eolAt` has passed is EOL.
 * An EOL model without a date is EOL at any date. An unreadable `at` leaves the status as stored.
 */
export const lifecycleAt = (model: ModelInfo, at: DateTime.Utc | string): LifecycleStatus => {
  const { eolAt, status } = model.lifecycle
  if (status !== "LEGACY" && status !== "EOL") return status
  const now = toMillis(at)
  if (eolAt === null || Number.isNaN(now)) return status
  if (now >= dayMillis(eolAt)) return "EOL"
  return status === "EOL" ? "LEGACY" : status
}

/**
 * The system profiles of a model usable from a region, best first: the region's geographies, most
 * specific first (`jp` before `apac`), then `global`.
 */
export const profilesFor = (model: ModelInfo, region: Region): ReadonlyArray<string> => {
  const known = new Set(model.profiles)
  return [...geographiesOf(region), "global"].map((g) => `${g}.${model.id}`).filter((id) => known.has(id))
}

const modalityWithoutSuite: Record<Modality, boolean> = {
  chat: false,
  embedding: false,
  image: true,
  video: true,
  speech: true,
  rerank: true
}

/** Whether suite v1 has tests for a modality. */
export const hasSuite = (modality: Modality): boolean => !modalityWithoutSuite[modality]

// ---------------------------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------------------------

/** The registry's operations; all are pure and synchronous. */
export interface RegistryShape {
  /** Every model, built-in then host-added, in a stable order. */
  readonly models: ReadonlyArray<ModelInfo>
  /** A model by base id, system-profile id (`us.<id>`), model/profile ARN, or host-pinned target ARN. */
  readonly get: (id: string) => Option.Option<ModelInfo>
  /** The models matching every field of the filter. */
  readonly list: (filter?: ListFilter) => ReadonlyArray<ModelInfo>
  /** Whether a model can be certified in a region at a date, and through which target. Never throws. */
  readonly certifiability: (id: string, region: Region, at: DateTime.Utc | string) => Certifiability
  /** This registry with more models added or replaced by id, host targets kept (the living registry's merged entries). */
  readonly extend: (models: ReadonlyArray<ModelInfo>) => RegistryShape
}

const sentence = (model: string, region: string, rest: string): string =>
  `Model "${model}" in ${region}${isRegion(region) ? ` (${regionName(region)})` : ""} ${rest}`

/** Build a registry from the built-in data plus a host's models and targets. */
export const make = (options: Options = {}): RegistryShape => {
  const byId = new Map<string, ModelInfo>()
  for (const model of options.base ?? builtinModels) byId.set(model.id, model)
  for (const model of options.models ?? []) byId.set(model.id, model)
  const models: ReadonlyArray<ModelInfo> = [...byId.values()]

  const targets = new Map<string, InvocationTarget>()
  const byTargetId = new Map<string, string>()
  for (const { modelId, region, target } of options.targets ?? []) {
    targets.set(`${baseIdOf(modelId)}|${region}`, target)
    byTargetId.set(target.id, baseIdOf(modelId))
  }

  const get = (id: string): Option.Option<ModelInfo> => {
    const direct = byId.get(id) ?? byId.get(baseIdOf(id))
    if (direct !== undefined) return Option.some(direct)
    const pinned = byTargetId.get(id)
    return pinned === undefined ? Option.none() : Option.fromUndefinedOr(byId.get(pinned))
  }

  const vendorPrefixes = new Set(models.map((m) => m.id.split(".")[0]!.toLowerCase()))

  const list = (filter: ListFilter = {}): ReadonlyArray<ModelInfo> => {
    const statuses = filter.lifecycle === undefined
      ? undefined
      : typeof filter.lifecycle === "string"
      ? [filter.lifecycle]
      : filter.lifecycle
    const vendor = filter.vendor?.toLowerCase()
    return models.filter((m) =>
      (filter.region === undefined ||
        (m.regionsKnown
          ? m.regions.some((r) => r.region === filter.region)
          : filter.includeUnverifiedRegions === true)) &&
      (vendor === undefined || m.vendor.toLowerCase() === vendor || m.id.split(".")[0]!.toLowerCase() === vendor) &&
      (filter.modality === undefined || m.modality === filter.modality) &&
      (filter.capability === undefined || m.capabilities[filter.capability] === "yes") &&
      (statuses === undefined || statuses.includes(m.lifecycle.status))
    )
  }

  const certifiability = (id: string, region: Region, at: DateTime.Utc | string): Certifiability => {
    const found = get(id)
    if (Option.isNone(found)) {
      const vendor = baseIdOf(id).split(".")[0]!.toLowerCase()
      const notBedrock = !vendorPrefixes.has(vendor) && looksNonBedrock(id)
      return new NotCertifiable({
        reason: notBedrock ? "NOT_BEDROCK" : "UNKNOWN_MODEL",
        message: notBedrock
          ? sentence(
            id,
            region,
            "cannot be certified: it is not a Bedrock model id (use the Bedrock id, e.g. " +
              "\"anthropic.claude-3-5-haiku-20241022-v1:0\", or map it through a ModelCatalog)."
          )
          : sentence(id, region, "cannot be certified: the registry does not know this model id.")
      })
    }
    const model = found.value
    if (!hasSuite(model.modality)) {
      return new NotCertifiable({
        reason: "NO_SUITE",
        message: sentence(model.id, region, `cannot be certified: suite v1 has no tests for ${model.modality} models.`)
      })
    }
    if (lifecycleAt(model, at) === "EOL") {
      const when = model.lifecycle.eolAt === null ? "" : ` on ${model.lifecycle.eolAt}`
      return new NotCertifiable({
        reason: "END_OF_LIFE",
        message: sentence(
          model.id,
          region,
          `cannot be certified: it reached end of life${when} (${model.lifecycle.source}).`
        )
      })
    }
    if (!isRegion(region)) {
      return new NotCertifiable({
        reason: "NOT_OFFERED_IN_REGION",
        message: sentence(model.id, region, "cannot be certified: this is not a Bedrock region the SDK knows.")
      })
    }
    const pinned = targets.get(`${model.id}|${region}`)
    const usable = profilesFor(model, region)
    if (pinned !== undefined) {
      return new Certifiable({ model, target: pinned, fallbackProfiles: usable, regionVerified: true })
    }
    const availability = model.regions.find((r) => r.region === region)
    const viaProfile = (regionVerified: boolean): Certifiability =>
      usable.length === 0
        ? new NotCertifiable({
          reason: "NOT_OFFERED_IN_REGION",
          message: sentence(
            model.id,
            region,
            "is reachable only through an inference profile, and the registry knows no system profile usable " +
              "from this region (pin an application inference profile ARN)."
          )
        })
        : new Certifiable({
          model,
          target: new InvocationTarget({ kind: "SYSTEM_PROFILE", id: usable[0]! }),
          fallbackProfiles: usable.slice(1),
          regionVerified
        })
    const onDemand = (regionVerified: boolean): Certifiability =>
      new Certifiable({
        model,
        target: new InvocationTarget({ kind: "ON_DEMAND", id: model.id }),
        fallbackProfiles: usable,
        regionVerified
      })
    if (!model.regionsKnown) return model.profileRequired === true ? viaProfile(false) : onDemand(false)
    if (availability === undefined) {
      return new NotCertifiable({
        reason: "NOT_OFFERED_IN_REGION",
        message: sentence(model.id, region, "cannot be certified: Bedrock does not offer it in this region.")
      })
    }
    return availability.invocation === "PROFILE_ONLY" ? viaProfile(true) : onDemand(true)
  }

  const extend = (more: ReadonlyArray<ModelInfo>): RegistryShape =>
    more.length === 0 ? shape : make({ ...options, models: [...(options.models ?? []), ...more] })

  const shape: RegistryShape = { models, get, list, certifiability, extend }
  return shape
}

/** The model registry service. */
export class Registry extends Context.Service<Registry, RegistryShape>()("@myia/certification/Registry") {}

/** The registry with the built-in data. */
export const layer: Layer.Layer<Registry> = Layer.sync(Registry, () => make())

/** The registry with a host's models and ARN targets added to the built-in data. */
export const layerWith = (options: Options): Layer.Layer<Registry> => Layer.sync(Registry, () => make(options))
