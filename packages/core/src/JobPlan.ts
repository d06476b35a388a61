/**
 * Job planning, pure: from a request (models and regions, already resolved through the host's
 * catalogue) and the registry at an instant, the (model, region) units a job will run, the pairs it
 * skips with their reasons, or the typed refusal that creates nothing.
 *
 * Explicit requests (one model, several) are refused with `ModelsNotCertifiable` naming every model
 * that cannot be certified and why; region-level gaps of an explicit request (a model not offered in
 * one of several regions) are skipped, unless nothing is left. A request for all models lists every
 * non-certifiable pair in `skipped`. Malformed input and limits are `InvalidRequest`, naming each
 * field. The certification service does the I/O around it (catalogue, clock, storage, queue).
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { Region } from "./Domain.ts"
import { type Certifiability, type Modality, NotCertifiable, type NotCertifiableReason, type RegistryShape } from "./Registry.ts"
import * as Suite from "./Suite.ts"

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

/** One field of a request that is wrong, and why. */
export class FieldIssue extends Schema.Class<FieldIssue>("@myia/certification/FieldIssue")({
  field: Schema.String,
  message: Schema.String
}) {}

/** The request is malformed or over a limit; nothing was created. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@myia/certification/InvalidRequest")(
  "InvalidRequest",
  { message: Schema.String, issues: Schema.Array(FieldIssue) },
  { httpApiStatus: 400 }
) {}

/** One model (in one region, when the reason is regional) that cannot be certified. */
export class Rejection extends Schema.Class<Rejection>("@myia/certification/Rejection")({
  modelId: Schema.String,
  region: Schema.NullOr(Schema.String),
  reason: Schema.String,
  message: Schema.String
}) {}

/** An explicit request named models that cannot be certified; nothing was created. */
export class ModelsNotCertifiable extends Schema.TaggedError<ModelsNotCertifiable>(
  "@myia/certification/ModelsNotCertifiable"
)("ModelsNotCertifiable", { message: Schema.String, models: Schema.Array(Rejection) }, { httpApiStatus: 400 }) {}

/** `InvalidRequest` from its issues; the message lists each as `field: why`. */
export const invalid = (issues: ReadonlyArray<FieldIssue>): InvalidRequest =>
  new InvalidRequest({ message: issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues })

// ---------------------------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------------------------

/** Input limits; requests over them are `InvalidRequest`. */
export interface Limits {
  readonly maxModelsPerJob: number
  readonly maxRegionsPerJob: number
  readonly maxUnitsPerJob: number
}

/** A requested model after the host's catalogue: the Bedrock id to certify and the host id, if any. */
export interface ResolvedModel {
  /** What the request said. */
  readonly requested: string
  readonly modelId: string
  /** The host's own id, when the catalogue mapped it. */
  readonly hostModelId: string | null
  /** False when the host's catalogue switched the model off. */
  readonly active: boolean
}

/** One unit to run. */
export interface Pair {
  readonly modelId: string
  readonly hostModelId: string | null
  readonly region: Region
}

/** A pair left out of a job, and why. */
export interface Skipped {
  readonly modelId: string
  readonly region: string
  readonly reason: NotCertifiableReason
  readonly message: string
}

/** What a job will run, and what it skips. */
export interface Plan {
  readonly pairs: ReadonlyArray<Pair>
  readonly skipped: ReadonlyArray<Skipped>
}

const decodeRegion = Schema.decodeUnknownExit(Region)

/** The distinct regions of a request, or the issues of the field (unknown codes, none, too many). */
export const regions = (
  field: string,
  input: ReadonlyArray<string>,
  limits: Limits
): Result.Result<ReadonlyArray<Region>, ReadonlyArray<FieldIssue>> => {
  const issues: Array<FieldIssue> = []
  if (input.length === 0) issues.push(new FieldIssue({ field, message: "at least one region is required" }))
  if (input.length > limits.maxRegionsPerJob) {
    issues.push(new FieldIssue({ field, message: `at most ${limits.maxRegionsPerJob} regions per job (got ${input.length})` }))
  }
  const out: Array<Region> = []
  input.forEach((r, i) => {
    const exit = decodeRegion(r)
    if (exit._tag === "Success") {
      if (!out.includes(exit.value)) out.push(exit.value)
    } else issues.push(new FieldIssue({ field: `${field}[${i}]`, message: `unknown Bedrock region "${r}"` }))
  })
  return issues.length > 0 ? Result.fail(issues) : Result.succeed(out)
}

/** The distinct, trimmed model ids of an explicit request, or the issues of the field. */
export const modelIds = (
  field: string,
  input: ReadonlyArray<string>,
  limits: Limits
): Result.Result<ReadonlyArray<string>, ReadonlyArray<FieldIssue>> => {
  const issues: Array<FieldIssue> = []
  const unique = [...new Set(input.map((m) => m.trim()))]
  if (unique.length === 0) issues.push(new FieldIssue({ field, message: "at least one model id is required" }))
  if (unique.length > limits.maxModelsPerJob) {
    issues.push(new FieldIssue({ field, message: `at most ${limits.maxModelsPerJob} models per job (got ${unique.length})` }))
  }
  unique.forEach((m, i) => {
    if (m.length === 0 || m.length > 256 || /\s/.test(m)) {
      issues.push(new FieldIssue({ field: `${field}[${i}]`, message: "model id must be 1–256 characters without whitespace" }))
    }
  })
  return issues.length > 0 ? Result.fail(issues) : Result.succeed(unique)
}

const overUnitLimit = (field: string, units: number, limits: Limits): InvalidRequest | undefined =>
  units > limits.maxUnitsPerJob
    ? new InvalidRequest({
      message: `a job may have at most ${limits.maxUnitsPerJob} units (got ${units})`,
      issues: [new FieldIssue({ field, message: `too many model × region pairs (${units})` })]
    })
    : undefined

/**
 * The registry's certifiability, refined by the suite (issue #13, item 6): a model the registry
 * calls certifiable but suite v1 cannot drive (an embedding family without a request format, a chat
 * model without Converse) is `NO_SUITE` with the suite's reason, so an explicit request never creates
 * a unit that can only end UNSUPPORTED.
 */
export const certifiability = (
  registry: RegistryShape,
  modelId: string,
  region: Region,
  at: Parameters<RegistryShape["certifiability"]>[2]
): Certifiability => {
  const c = registry.certifiability(modelId, region, at)
  if (c._tag === "NotCertifiable") return c
  const kind = Suite.kindOf(c.model)
  return typeof kind === "string"
    ? c
    : new NotCertifiable({ reason: "NO_SUITE", message: `Model "${c.model.id}" cannot be certified: ${kind.unsupported}.` })
}

/**
 * Plan an explicit request: every model in every region. A model that cannot be certified at all
 * (unknown, not Bedrock, no suite, end of life, inactive in the host catalogue) refuses the whole
 * request; a model not offered in some of the regions is skipped there.
 */
export const explicit = (options: {
  readonly models: ReadonlyArray<ResolvedModel>
  readonly regions: ReadonlyArray<Region>
  /** The field the model ids came from, for a unit-limit issue. */
  readonly modelsField: string
  readonly registry: RegistryShape
  readonly at: Parameters<RegistryShape["certifiability"]>[2]
  readonly limits: Limits
}): Result.Result<Plan, InvalidRequest | ModelsNotCertifiable> => {
  const pairs: Array<Pair> = []
  const skipped: Array<Skipped> = []
  const rejections: Array<Rejection> = []
  for (const model of options.models) {
    if (!model.active) {
      rejections.push(
        new Rejection({
          modelId: model.requested,
          region: null,
          reason: "INACTIVE",
          message: `model "${model.requested}" is marked inactive in the host catalog`
        })
      )
      continue
    }
    const perRegion = options.regions.map((region) => ({
      region,
      c: certifiability(options.registry, model.modelId, region, options.at)
    }))
    const modelLevel = perRegion.find((r) => r.c._tag === "NotCertifiable" && r.c.reason !== "NOT_OFFERED_IN_REGION")
    if (modelLevel !== undefined && modelLevel.c._tag === "NotCertifiable") {
      rejections.push(
        new Rejection({ modelId: model.requested, region: null, reason: modelLevel.c.reason, message: modelLevel.c.message })
      )
      continue
    }
    for (const { c, region } of perRegion) {
      if (c._tag === "Certifiable") pairs.push({ modelId: c.model.id, hostModelId: model.hostModelId, region })
      else skipped.push({ modelId: model.requested, region, reason: c.reason, message: c.message })
    }
  }
  if (rejections.length > 0) {
    return Result.fail(
      new ModelsNotCertifiable({ message: rejections.map((r) => `${r.modelId}: ${r.message}`).join("; "), models: rejections })
    )
  }
  if (pairs.length === 0) {
    const models = skipped.map((s) => new Rejection({ modelId: s.modelId, region: s.region, reason: s.reason, message: s.message }))
    return Result.fail(new ModelsNotCertifiable({ message: models.map((r) => r.message).join("; "), models }))
  }
  const tooMany = overUnitLimit(options.modelsField, pairs.length, options.limits)
  return tooMany === undefined ? Result.succeed({ pairs, skipped }) : Result.fail(tooMany)
}

/** Plan a request for every registry model of the given modalities in the regions. */
export const all = (options: {
  readonly regions: ReadonlyArray<Region>
  readonly modalities: ReadonlyArray<Modality>
  readonly registry: RegistryShape
  readonly at: Parameters<RegistryShape["certifiability"]>[2]
  readonly limits: Limits
}): Result.Result<Plan, InvalidRequest> => {
  const pairs: Array<Pair> = []
  const skipped: Array<Skipped> = []
  for (const model of options.registry.models) {
    if (!options.modalities.includes(model.modality)) continue
    for (const region of options.regions) {
      const c = certifiability(options.registry, model.id, region, options.at)
      if (c._tag === "Certifiable") pairs.push({ modelId: model.id, hostModelId: null, region })
      else skipped.push({ modelId: model.id, region, reason: c.reason, message: c.message })
    }
  }
  if (pairs.length === 0) {
    return Result.fail(invalid([new FieldIssue({ field: "regions", message: "no certifiable model in these regions" })]))
  }
  const tooMany = overUnitLimit("regions", pairs.length, options.limits)
  return tooMany === undefined ? Result.succeed({ pairs, skipped }) : Result.fail(tooMany)
}
