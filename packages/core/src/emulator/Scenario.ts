/**
 * The emulator's scenario: what this pretend AWS account sees per region × model.
 *
 * A scenario is a JSON document (decoded with {@link ScenarioDocument}): a `seed`, a `timeScale`,
 * `defaults`, and ordered `rules` matched by model (exact id or glob such as `anthropic.*`) and
 * region; later rules win. On top sits the model registry (`registry: "builtin"`, the default): a
 * model is offered on demand or only through an inference profile where the registry says, its
 * capabilities come from the registry, end-of-life models answer as such. {@link resolve} turns
 * (scenario, region, requested model id) into the behaviour the server applies.
 *
 * Everything random is drawn from {@link random}, a PRNG seeded by (seed, region, model, n, stream),
 * so the n-th request to a (region, model) always meets the same fate. Throttling uses
 * {@link TokenBucket}s, which depend on real time by nature.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { builtinModels, Capability, Support } from "../Registry.ts"
import { geographiesOf, type Region } from "../Region.ts"
import type { Quality as ResponderQuality } from "./Responder.ts"

// ---------------------------------------------------------------------------------------------
// Document schema
// ---------------------------------------------------------------------------------------------

const Probability = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))
const NonNegative = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))
const Positive = Schema.Number.check(Schema.isGreaterThan(0))

/** How the account sees a model in a region. */
export const Availability = Schema.Literals([
  "offered",
  "not-offered",
  "access-denied",
  "marketplace-pending",
  "profile-only",
  "legacy",
  "eol"
])
export type Availability = typeof Availability.Type

/** How good the answers are (see `Responder`); `broken-stream` breaks streaming answers mid-way. */
export const Quality = Schema.Literals(["good", "wrong", "broken-json", "no-tools", "broken-stream"])
export type Quality = typeof Quality.Type & ResponderQuality

/**
 * The Converse features a model may lack (a request using a missing one gets Bedrock's
 * ValidationException) and their support levels — the registry's own vocabulary; `"unknown"` counts
 * as supported.
 */
export { Capability, Support }

/** Time to first token: uniform between `min` and `max`, or log-normal with a `median` and a `p95`, in ms. */
export const Ttft = Schema.Union([
  Schema.Struct({ min: NonNegative, max: NonNegative }),
  Schema.Struct({ median: Positive, p95: Positive })
])
export type Ttft = typeof Ttft.Type

/** Latency of an answer: TTFT, then tokens at `tokensPerSecond`, each delay varied by ±`jitter` (0..1). */
export const Latency = Schema.Struct({
  ttftMs: Ttft,
  tokensPerSecond: Positive,
  jitter: Schema.optionalKey(Probability)
})
export type Latency = typeof Latency.Type

/** A token bucket: `requestsPerSecond` refill, `burst` capacity (defaults to `requestsPerSecond`). */
export const Throttle = Schema.Struct({
  requestsPerSecond: Positive,
  burst: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThanOrEqualTo(1)))
})
export type Throttle = typeof Throttle.Type

/** The exception a broken stream ends with. */
export const StreamException = Schema.Literals([
  "internalServerException",
  "modelStreamErrorException",
  "validationException",
  "throttlingException",
  "serviceUnavailableException",
  "modelTimeoutException"
])
export type StreamException = typeof StreamException.Type

/**
 * A scripted AWS error: the request is answered with exactly this error — an HTTP error (`status`,
 * `x-amzn-ErrorType: name`, `{ message }`), or with `midStream: true` an exception frame inside a
 * `ConverseStream` / `InvokeModelWithResponseStream` answer (`:exception-type` is `name` in
 * lowerCamel case; `status` is not sent then, and non-streaming requests ignore the entry).
 * `rate` (default 1) is the seeded share of requests that get it.
 */
export const ScriptedError = Schema.Struct({
  name: Schema.String.check(Schema.isPattern(/^[A-Z][A-Za-z0-9]*$/)),
  status: Schema.Int.check(Schema.isBetween({ minimum: 400, maximum: 599 })),
  message: Schema.String,
  rate: Schema.optionalKey(Probability),
  midStream: Schema.optionalKey(Schema.Boolean)
})
export type ScriptedError = typeof ScriptedError.Type

/** The stop reasons of a blocked answer: a provider content filter, or a Bedrock guardrail. */
export const FilterStopReason = Schema.Literals(["content_filtered", "guardrail_intervened"])
export type FilterStopReason = typeof FilterStopReason.Type

/**
 * A content filter or guardrail: a Converse / ConverseStream answer is replaced by `message`
 * (default: the guardrail's stock "Sorry, the model cannot answer this question.") and stops with
 * `stopReason`, as a 200. `rate` (default 1) is the seeded share of answers blocked.
 */
export const ContentFilter = Schema.Struct({
  stopReason: FilterStopReason,
  message: Schema.optionalKey(Schema.String),
  rate: Schema.optionalKey(Probability)
})
export type ContentFilter = typeof ContentFilter.Type

/**
 * A model-side fault of Bedrock, with Bedrock's status and message: the seeded share `rate`
 * (default 1) of requests gets it as an HTTP error, or with `midStream: true` as an exception frame
 * in the middle of a `ConverseStream` / `InvokeModelWithResponseStream` answer (non-streaming
 * requests then answer normally). Used by `modelTimeout` (ModelTimeoutException, 408, after the
 * model's time to first token) and `modelNotReady` (ModelNotReadyException, 429, at once) — the
 * errors a real timeout or a cold model give, next to `timeoutRate`'s silent hold.
 */
export const ModelFault = Schema.Struct({
  rate: Schema.optionalKey(Probability),
  midStream: Schema.optionalKey(Schema.Boolean)
})
export type ModelFault = typeof ModelFault.Type

/** The customization types of the control plane's `ModelCustomization` enum. */
export const Customization = Schema.Literals(["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"])
export type Customization = typeof Customization.Type

/** Capability overrides: any subset of the capabilities. */
export const CapabilityOverrides = Schema.Struct({
  streaming: Schema.optionalKey(Support),
  systemPrompt: Schema.optionalKey(Support),
  toolUse: Schema.optionalKey(Support),
  streamingToolUse: Schema.optionalKey(Support),
  vision: Schema.optionalKey(Support),
  documents: Schema.optionalKey(Support),
  reasoning: Schema.optionalKey(Support)
})

/**
 * The lifecycle the control plane reports (`modelLifecycle`, issue #13): ACTIVE or LEGACY with AWS's
 * dates (ISO-8601). Once the emulator's clock passes `endOfLifeTime`, the runtime answers as end of life.
 */
export const ControlPlaneLifecycle = Schema.Struct({
  status: Schema.Literals(["ACTIVE", "LEGACY"]),
  startOfLifeTime: Schema.optionalKey(Schema.String),
  legacyTime: Schema.optionalKey(Schema.String),
  publicExtendedAccessTime: Schema.optionalKey(Schema.String),
  endOfLifeTime: Schema.optionalKey(Schema.String)
})
export type ControlPlaneLifecycle = typeof ControlPlaneLifecycle.Type

/** `GetFoundationModelAvailability`'s `agreementAvailability.status` values. */
export const AgreementStatus = Schema.Literals(["AVAILABLE", "PENDING", "NOT_AVAILABLE", "ERROR"])
export type AgreementStatus = typeof AgreementStatus.Type

/** Behaviour fields a rule (or `defaults`) may set; unset fields keep the earlier value. */
export const Behaviour = Schema.Struct({
  availability: Schema.optionalKey(Availability),
  quality: Schema.optionalKey(Quality),
  latency: Schema.optionalKey(Latency),
  throttle: Schema.optionalKey(Throttle),
  errorRate5xx: Schema.optionalKey(Probability),
  timeoutRate: Schema.optionalKey(Probability),
  streamBreakAfterDeltas: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  streamBreakException: Schema.optionalKey(StreamException),
  capabilities: Schema.optionalKey(CapabilityOverrides),
  errors: Schema.optionalKey(Schema.Array(ScriptedError)),
  connectionReset: Schema.optionalKey(Probability),
  contentFilter: Schema.optionalKey(ContentFilter),
  modelTimeout: Schema.optionalKey(ModelFault),
  modelNotReady: Schema.optionalKey(ModelFault),
  /** `customizationsSupported` in the control plane (and what `byCustomizationType` filters on); default none. */
  customizations: Schema.optionalKey(Schema.Array(Customization)),
  // Issue #13 — the control plane's own view (ListFoundationModels, GetFoundationModelAvailability).
  /** `modelLifecycle` in the listing (default: LEGACY for `legacy` models or registry LEGACY, else ACTIVE). */
  lifecycle: Schema.optionalKey(ControlPlaneLifecycle),
  /** `authorizationStatus` (default: NOT_AUTHORIZED for `access-denied`, else AUTHORIZED). */
  authorization: Schema.optionalKey(Schema.Literals(["AUTHORIZED", "NOT_AUTHORIZED"])),
  /** `agreementAvailability.status` (default: PENDING for `marketplace-pending`, else AVAILABLE). */
  agreement: Schema.optionalKey(AgreementStatus),
  /** `entitlementAvailability` (default AVAILABLE). */
  entitlement: Schema.optionalKey(Schema.Literals(["AVAILABLE", "NOT_AVAILABLE"])),
  /**
   * What the control plane says when it disagrees with the runtime: its `availability` drives the
   * listing and GetFoundationModelAvailability, while requests still meet the rule's `availability`.
   */
  controlPlane: Schema.optionalKey(Schema.Struct({ availability: Schema.optionalKey(Availability) }))
})
export type Behaviour = typeof Behaviour.Type

const Selector = Schema.Union([Schema.String, Schema.Array(Schema.String)])

/** A rule: a behaviour applied to the models (ids or globs) and regions (codes, or `"*"`) it matches. */
export const Rule = Schema.Struct({
  models: Selector,
  regions: Schema.optionalKey(Selector),
  ...Behaviour.fields
})
export type Rule = typeof Rule.Type

/**
 * An application inference profile the account already has: `name`, the model it copies from
 * (`source`: a foundation model id or a system profile id, as `CreateInferenceProfile`'s `copyFrom`
 * names them), and the regions it exists in (default every region). Its id is derived from the
 * region and the name, so a scenario always yields the same ARNs.
 */
export const ApplicationProfile = Schema.Struct({
  name: Schema.String.check(Schema.isPattern(/^([0-9a-zA-Z][ _-]?)+$/), Schema.isMaxLength(64)),
  source: Schema.String.check(Schema.isMinLength(1)),
  regions: Schema.optionalKey(Selector),
  description: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(200)))
})
export type ApplicationProfile = typeof ApplicationProfile.Type

/** The scenario document, as written in JSON. */
export const ScenarioDocument = Schema.Struct({
  seed: Schema.optionalKey(Schema.Int),
  timeScale: Schema.optionalKey(NonNegative),
  registry: Schema.optionalKey(Schema.Literals(["builtin", "none"])),
  defaults: Schema.optionalKey(Behaviour),
  rules: Schema.optionalKey(Schema.Array(Rule)),
  regionThrottle: Schema.optionalKey(Schema.Record(Schema.String, Throttle)),
  applicationProfiles: Schema.optionalKey(Schema.Array(ApplicationProfile)),
  /** Issue #13: regions (codes or `"*"`) whose control-plane calls answer AccessDeniedException (no `bedrock:List*`). */
  controlPlaneDenied: Schema.optionalKey(Selector),
  // Issue #18 — STS GetCallerIdentity (`StsHandler`), the account the capability manifest names.
  /** The 12-digit account id STS answers (default `123456789012`). */
  account: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^\d{12}$/))),
  /** GetCallerIdentity answers this STS error instead (Bedrock calls are unaffected). */
  identityError: Schema.optionalKey(Schema.Literals(["InvalidClientTokenId", "ExpiredToken", "InternalFailure"]))
})
/** A scenario as given by a user: the JSON document's shape. */
export type ScenarioInput = typeof ScenarioDocument.Encoded

const decodeDocument = Schema.decodeUnknownSync(ScenarioDocument)
const decodeDocumentResult = Schema.decodeUnknownResult(ScenarioDocument)

// ---------------------------------------------------------------------------------------------
// Registry view
// ---------------------------------------------------------------------------------------------

/** The registry facts the emulator reads (a structural subset of `Registry.ModelInfo`). */
export interface RegistryModel {
  readonly id: string
  readonly name?: string | undefined
  readonly vendor?: string | undefined
  readonly modality: string
  readonly capabilities: Readonly<Record<Capability, Support>>
  /** Largest `maxTokens` the model accepts; a larger one is Bedrock's ValidationException. */
  readonly maxOutputTokens?: number | null | undefined
  readonly regions: ReadonlyArray<{ readonly region: string; readonly invocation: "ON_DEMAND" | "PROFILE_ONLY" }>
  readonly regionsKnown: boolean
  readonly profiles: ReadonlyArray<string>
  readonly profileRequired?: boolean | undefined
  readonly lifecycle: { readonly status: "ACTIVE" | "LEGACY" | "EOL" | "UNKNOWN" }
}

/** What kind of API a model serves: Converse chat, InvokeModel embeddings, or neither. */
export type Kind = "chat" | "embedding" | "other"

const kindOf = (modality: string): Kind =>
  modality === "chat" || modality === "text" ? "chat" : modality.includes("embed") ? "embedding" : "other"

const guessKind = (modelId: string): Kind => (/embed/i.test(modelId) ? "embedding" : "chat")

// ---------------------------------------------------------------------------------------------
// Compiled scenario
// ---------------------------------------------------------------------------------------------

/** A decoded, ready-to-resolve scenario. */
export interface Scenario {
  readonly document: typeof ScenarioDocument.Type
  readonly seed: number
  readonly timeScale: number
  readonly models: ReadonlyMap<string, RegistryModel>
  readonly rules: ReadonlyArray<CompiledRule>
  readonly defaults: Behaviour
}

interface CompiledRule {
  readonly rule: Rule
  readonly models: (id: string) => boolean
  readonly regions: (region: string) => boolean
}

const globToRegExp = (glob: string): RegExp =>
  new RegExp("^" + glob.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$")

/** The predicate of a selector: ids or globs (`anthropic.*`), `"*"` or nothing for everything. */
export const selects = (selector: string | ReadonlyArray<string> | undefined): (s: string) => boolean => {
  if (selector === undefined) return () => true
  const list = typeof selector === "string" ? [selector] : selector
  if (list.includes("*")) return () => true
  const exact = new Set(list.filter((s) => !s.includes("*")))
  const globs = list.filter((s) => s.includes("*")).map(globToRegExp)
  return (s) => exact.has(s) || globs.some((g) => g.test(s))
}

/** Decode a scenario document (throws a `SchemaError` naming the bad field) and compile it. */
export const make = (
  input: ScenarioInput,
  options?: { readonly models?: ReadonlyArray<RegistryModel> | undefined }
): Scenario => {
  const document = decodeDocument(input)
  const registry = options?.models ?? (document.registry === "none" ? [] : builtinModels)
  return {
    document,
    seed: document.seed ?? 0,
    timeScale: document.timeScale ?? 1,
    models: new Map(registry.map((m) => [m.id, m])),
    defaults: document.defaults ?? {},
    rules: (document.rules ?? []).map((rule) => ({
      rule,
      models: selects(rule.models),
      regions: selects(rule.regions)
    }))
  }
}

/** Like {@link make} but returns the decoding error message instead of throwing. */
export const validate = (input: unknown): string | undefined => {
  const result = decodeDocumentResult(input)
  return result._tag === "Success" ? undefined : result.failure.message
}

// ---------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------

/** Latency used when no rule sets one: TTFT 150–600 ms, 90 tokens/s, ±25 %. */
export const defaultLatency: Latency = { ttftMs: { min: 150, max: 600 }, tokensPerSecond: 90, jitter: 0.25 }

const allSupported: Readonly<Record<Capability, Support>> = {
  streaming: "yes",
  systemPrompt: "yes",
  toolUse: "yes",
  streamingToolUse: "yes",
  vision: "yes",
  documents: "yes",
  reasoning: "unknown"
}

/** The behaviour the server applies to one request. */
export interface Resolved {
  /** The id as requested (base id, profile id or ARN). */
  readonly requestedId: string
  /** The foundation model behind it. */
  readonly modelId: string
  /** The system inference profile used, if any. */
  readonly profileId: string | undefined
  /** Whether the model is known (registry or an exact id in a rule). */
  readonly known: boolean
  readonly kind: Kind
  readonly info: RegistryModel | undefined
  readonly availability: Availability
  readonly quality: Quality
  readonly latency: Latency
  readonly throttle: Throttle | undefined
  readonly errorRate5xx: number
  readonly timeoutRate: number
  readonly streamBreakAfterDeltas: number | undefined
  readonly streamBreakException: StreamException
  readonly capabilities: Readonly<Record<Capability, Support>>
  /** Scripted errors, tried in order (the first one drawn answers). */
  readonly errors: ReadonlyArray<ScriptedError>
  /** Share of requests whose connection is torn down before any answer. */
  readonly connectionReset: number
  readonly contentFilter: ContentFilter | undefined
  readonly modelTimeout: ModelFault | undefined
  readonly modelNotReady: ModelFault | undefined
  readonly customizations: ReadonlyArray<Customization>
  /** Issue #13: the control plane's lifecycle override, GetFoundationModelAvailability values, and its availability. */
  readonly lifecycle: ControlPlaneLifecycle | undefined
  readonly authorization: "AUTHORIZED" | "NOT_AUTHORIZED" | undefined
  readonly agreement: AgreementStatus | undefined
  readonly entitlement: "AVAILABLE" | "NOT_AVAILABLE" | undefined
  /** What the control plane reports (the runtime's `availability` unless a rule's `controlPlane` says otherwise). */
  readonly controlPlaneAvailability: Availability
}

const PROFILE_PREFIX = /^(us-gov|us|eu|apac|global|jp|au|ca)\.(.+)$/

/** Split a requested id into (foundation model id, system profile id); ARNs are reduced to their id. */
export const parseModelId = (
  requested: string
): { readonly modelId: string; readonly profileId: string | undefined } => {
  const arn = /^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(foundation-model|inference-profile)\/(.+)$/.exec(requested)
  const id = arn ? arn[2]! : requested
  if (arn && arn[1] === "foundation-model") return { modelId: id, profileId: undefined }
  const profile = PROFILE_PREFIX.exec(id)
  return profile ? { modelId: profile[2]!, profileId: id } : { modelId: id, profileId: undefined }
}

const mentionedExactly = (scenario: Scenario, id: string): boolean =>
  scenario.rules.some(({ rule }) =>
    (typeof rule.models === "string" ? [rule.models] : rule.models).some((m) => m === id)
  )

const registryAvailability = (info: RegistryModel, region: string, profileId: string | undefined): Availability => {
  if (info.lifecycle.status === "EOL") return "eol"
  if (!info.regionsKnown) return profileId === undefined && info.profileRequired === true ? "profile-only" : "offered"
  if (profileId !== undefined) {
    if (info.profiles.includes(profileId)) return "offered"
    return info.regions.some((r) => r.region === region) ? "offered" : "not-offered"
  }
  const entry = info.regions.find((r) => r.region === region)
  return entry === undefined ? "not-offered" : entry.invocation === "PROFILE_ONLY" ? "profile-only" : "offered"
}

const geographyMatches = (profileId: string, region: string): boolean => {
  const prefix = profileId.slice(0, profileId.indexOf("."))
  return prefix === "global" || geographiesOf(region as Region).includes(prefix)
}

/** Resolve the behaviour for a request to `requestedId` in `region`. */
export const resolve = (scenario: Scenario, region: string, requestedId: string): Resolved => {
  const { modelId, profileId } = parseModelId(requestedId)
  const info = scenario.models.get(modelId)
  const known = info !== undefined || mentionedExactly(scenario, modelId) || mentionedExactly(scenario, requestedId)
  const d = scenario.defaults
  let availability: Availability = info !== undefined
    ? registryAvailability(info, region, profileId)
    : known
    ? "offered"
    : (d.availability ?? "not-offered")
  let quality: Quality = d.quality ?? "good"
  let latency: Latency = d.latency ?? defaultLatency
  let throttle: Throttle | undefined = d.throttle
  let errorRate5xx = d.errorRate5xx ?? 0
  let timeoutRate = d.timeoutRate ?? 0
  let streamBreakAfterDeltas = d.streamBreakAfterDeltas
  let streamBreakException: StreamException = d.streamBreakException ?? "modelStreamErrorException"
  let capabilities: Record<Capability, Support> = { ...(info?.capabilities ?? allSupported), ...d.capabilities }
  let errors = d.errors ?? []
  let connectionReset = d.connectionReset ?? 0
  let contentFilter = d.contentFilter
  let modelTimeout = d.modelTimeout
  let modelNotReady = d.modelNotReady
  let customizations = d.customizations ?? []
  let lifecycle = d.lifecycle
  let authorization = d.authorization
  let agreement = d.agreement
  let entitlement = d.entitlement
  let controlPlaneAvailability = d.controlPlane?.availability
  for (const compiled of scenario.rules) {
    if (!compiled.regions(region) || !(compiled.models(modelId) || compiled.models(requestedId))) continue
    const r = compiled.rule
    if (r.availability !== undefined) availability = r.availability
    if (r.quality !== undefined) quality = r.quality
    if (r.latency !== undefined) latency = r.latency
    if (r.throttle !== undefined) throttle = r.throttle
    if (r.errorRate5xx !== undefined) errorRate5xx = r.errorRate5xx
    if (r.timeoutRate !== undefined) timeoutRate = r.timeoutRate
    if (r.streamBreakAfterDeltas !== undefined) streamBreakAfterDeltas = r.streamBreakAfterDeltas
    if (r.streamBreakException !== undefined) streamBreakException = r.streamBreakException
    if (r.capabilities !== undefined) capabilities = { ...capabilities, ...r.capabilities }
    if (r.errors !== undefined) errors = r.errors
    if (r.connectionReset !== undefined) connectionReset = r.connectionReset
    if (r.contentFilter !== undefined) contentFilter = r.contentFilter
    if (r.modelTimeout !== undefined) modelTimeout = r.modelTimeout
    if (r.modelNotReady !== undefined) modelNotReady = r.modelNotReady
    if (r.customizations !== undefined) customizations = r.customizations
    if (r.lifecycle !== undefined) lifecycle = r.lifecycle
    if (r.authorization !== undefined) authorization = r.authorization
    if (r.agreement !== undefined) agreement = r.agreement
    if (r.entitlement !== undefined) entitlement = r.entitlement
    if (r.controlPlane?.availability !== undefined) controlPlaneAvailability = r.controlPlane.availability
  }
  if (profileId !== undefined) {
    // A profile outside the caller's geography does not exist from that region.
    if (!geographyMatches(profileId, region)) {
      availability = "not-offered"
      controlPlaneAvailability = "not-offered"
    } else {
      if (availability === "profile-only") availability = "offered"
      if (controlPlaneAvailability === "profile-only") controlPlaneAvailability = "offered"
    }
  }
  return {
    requestedId,
    modelId,
    profileId,
    known,
    kind: info !== undefined ? kindOf(info.modality) : guessKind(modelId),
    info,
    availability,
    quality,
    latency,
    throttle,
    errorRate5xx,
    timeoutRate,
    streamBreakAfterDeltas,
    streamBreakException,
    capabilities,
    errors,
    connectionReset,
    contentFilter,
    modelTimeout,
    modelNotReady,
    customizations,
    lifecycle,
    authorization,
    agreement,
    entitlement,
    controlPlaneAvailability: controlPlaneAvailability ?? availability
  }
}

/** Whether the scenario denies control-plane calls in a region (issue #13). */
export const controlPlaneDenied = (scenario: Scenario, region: string): boolean =>
  scenario.document.controlPlaneDenied !== undefined && selects(scenario.document.controlPlaneDenied)(region)

/** Every model id the scenario knows: the registry's plus exact ids named in rules. */
export const knownModelIds = (scenario: Scenario): ReadonlyArray<string> => {
  const ids = new Set(scenario.models.keys())
  for (const { rule } of scenario.rules) {
    for (const m of typeof rule.models === "string" ? [rule.models] : rule.models) {
      if (!m.includes("*") && parseModelId(m).profileId === undefined) ids.add(m)
    }
  }
  return [...ids]
}

// ---------------------------------------------------------------------------------------------
// Randomness and timing
// ---------------------------------------------------------------------------------------------

/** FNV-1a 32-bit hash of a string. */
export const hash = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** mulberry32: a tiny, fast, well-distributed PRNG returning numbers in [0, 1). */
export const mulberry32 = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The PRNG for the n-th request to (region, model); `stream` separates independent draws (fate, answer, timing). */
export const random = (seed: number, region: string, modelId: string, n: number, stream: string): () => number =>
  mulberry32(hash(`${seed}\u0000${region}\u0000${modelId}\u0000${n}\u0000${stream}`))

const gaussian = (rand: () => number): number => {
  const u = Math.max(rand(), 1e-12)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand())
}

/** Draw a TTFT in ms (before `timeScale`). */
export const sampleTtft = (ttft: Ttft, rand: () => number): number => {
  if ("min" in ttft) return ttft.min + (Math.max(ttft.max, ttft.min) - ttft.min) * rand()
  const mu = Math.log(ttft.median)
  const sigma = Math.max(0, (Math.log(Math.max(ttft.p95, ttft.median)) - mu) / 1.6448536269514722)
  return Math.exp(mu + sigma * gaussian(rand))
}

/** The delay in ms (before `timeScale`) for `tokens` output tokens, with jitter. */
export const sampleTokensDelay = (latency: Latency, tokens: number, rand: () => number): number => {
  const jitter = latency.jitter ?? 0
  return (tokens * 1000 / latency.tokensPerSecond) * (1 + jitter * (2 * rand() - 1))
}

/**
 * A token bucket: starts full with `burst` tokens and refills at `requestsPerSecond`, so over any
 * window of `t` seconds it admits at most `burst + requestsPerSecond × t` requests.
 */
export class TokenBucket {
  private tokens: number
  private last: number
  readonly capacity: number
  readonly throttle: Throttle
  constructor(throttle: Throttle, now: number) {
    this.throttle = throttle
    this.capacity = Math.max(1, throttle.burst ?? throttle.requestsPerSecond)
    this.tokens = this.capacity
    this.last = now
  }
  /** Take one token at time `now` (ms); false when the bucket is empty. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last) / 1000
    this.last = Math.max(this.last, now)
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.throttle.requestsPerSecond)
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

// ---------------------------------------------------------------------------------------------
// Default scenario
// ---------------------------------------------------------------------------------------------

/** Time scale of {@link defaultScenario}: latencies are realistic × 0.05 so demos and tests stay fast. */
export const defaultTimeScale = 0.05

/**
 * A plausible account: the registry's models offered where the registry says (profile-only where
 * marked, EOL as such), three chat models denied (chosen from the seed), good answers, realistic
 * latency scaled by {@link defaultTimeScale}, generous throttle quotas.
 */
export const defaultScenarioInput = (seed = 1): ScenarioInput => {
  const denied = builtinModels
    .filter((m) => kindOf(m.modality) === "chat" && m.lifecycle.status === "ACTIVE")
    .map((m) => ({ id: m.id, rank: hash(`${seed}:${m.id}`) }))
    .sort((a, b) => a.rank - b.rank)
    .slice(0, 3)
    .map((m) => m.id)
  return {
    seed,
    timeScale: defaultTimeScale,
    registry: "builtin",
    defaults: {
      quality: "good",
      latency: { ttftMs: { min: 150, max: 600 }, tokensPerSecond: 90, jitter: 0.25 },
      throttle: { requestsPerSecond: 50, burst: 100 }
    },
    rules: denied.length > 0 ? [{ models: denied, regions: "*", availability: "access-denied" }] : []
  }
}

/** {@link defaultScenarioInput}, compiled. */
export const defaultScenario = (seed = 1): Scenario => make(defaultScenarioInput(seed))
