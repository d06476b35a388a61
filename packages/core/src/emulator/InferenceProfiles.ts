/**
 * The control plane's inference profiles as seen from the caller's region: the system-defined
 * profiles of the geographies that serve it (routing to the model's regions in that geography, or
 * to the geography's regions when the registry does not know the model's), and the account's
 * application profiles (`ApplicationProfiles`), which copy their models from a foundation model or a
 * system profile. Summaries follow Bedrock's wording (`US Anthropic Claude 3 Haiku`, `Routes requests
 * to Anthropic Claude 3 Haiku in us-east-1, us-east-2 and us-west-2.`).
 *
 * @since 0.1.0
 */
import { geographiesOf, type Region, regionCodes } from "../Region.ts"
import * as ApplicationProfiles from "./ApplicationProfiles.ts"
import * as FoundationModels from "./FoundationModels.ts"
import * as Scenario from "./Scenario.ts"

/** An `InferenceProfileSummary` (also `GetInferenceProfile`'s answer). */
export interface Summary {
  readonly inferenceProfileName: string
  readonly description?: string
  readonly createdAt: string
  readonly updatedAt: string
  readonly inferenceProfileArn: string
  readonly models: ReadonlyArray<{ readonly modelArn: string }>
  readonly inferenceProfileId: string
  readonly status: "ACTIVE"
  readonly type: "SYSTEM_DEFINED" | "APPLICATION"
}

const modelArn = (region: string, modelId: string) => `arn:aws:bedrock:${region}::foundation-model/${modelId}`

/** Where the real service was observed: a US profile routes to these three (real GetInferenceProfile, 2026-07). */
const observedGeographies: Readonly<Record<string, ReadonlyArray<string>>> = {
  us: ["us-east-1", "us-east-2", "us-west-2"]
}

/**
 * The regions a geography's profiles route to when the registry does not know the model's: the
 * observed set, else the geography's own regions (global: every commercial region).
 */
const geographyRegions = (geography: string): ReadonlyArray<string> =>
  observedGeographies[geography] ??
    regionCodes.filter((r) =>
      geography === "global"
        ? !r.startsWith("us-gov-")
        : geographiesOf(r as Region)[0] === geography || (geography === "apac" && r.startsWith("ap-"))
    )

/** "a", "a and b", "a, b and c": how Bedrock lists regions in a profile description. */
const listing = (items: ReadonlyArray<string>): string =>
  items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`

const systemSummary = (resolved: Scenario.Resolved, profileId: string, region: string): Summary => {
  const geography = profileId.slice(0, profileId.indexOf("."))
  const name = resolved.info?.name ?? resolved.modelId
  const vendor = resolved.info?.vendor ?? FoundationModels.summary(resolved, region).providerName
  const known = resolved.info?.regionsKnown === true ? resolved.info.regions.map((r) => r.region) : []
  const served = known.filter((r) => geography === "global" || geographiesOf(r as Region).includes(geography))
  const regions = served.length > 0 ? served : geographyRegions(geography)
  return {
    inferenceProfileName: `${geography.toUpperCase()} ${vendor} ${name}`,
    description: `Routes requests to ${vendor} ${name} in ${listing(regions)}.`,
    createdAt: ApplicationProfiles.declaredAt,
    updatedAt: ApplicationProfiles.declaredAt,
    inferenceProfileArn: `arn:aws:bedrock:${region}:${ApplicationProfiles.account}:inference-profile/${profileId}`,
    models: regions.map((r) => ({ modelArn: modelArn(r, resolved.modelId) })),
    inferenceProfileId: profileId,
    status: "ACTIVE",
    type: "SYSTEM_DEFINED"
  }
}

/** The system profiles listed in a region. */
export const systemProfiles = (scenario: Scenario.Scenario, region: string): ReadonlyArray<Summary> => {
  const out: Array<Summary> = []
  for (const id of Scenario.knownModelIds(scenario)) {
    const base = Scenario.resolve(scenario, region, id)
    const candidates = base.info !== undefined
      ? base.info.profiles
      : base.controlPlaneAvailability === "profile-only"
      ? [`${geographiesOf(region as Region)[0] ?? "global"}.${id}`]
      : []
    for (const profileId of candidates) {
      const via = Scenario.resolve(scenario, region, profileId)
      if (FoundationModels.listed(via.controlPlaneAvailability)) out.push(systemSummary(via, profileId, region))
    }
  }
  return out
}

/** The models an application profile copies from its source, or undefined when the source is not in this region. */
const sourceModels = (scenario: Scenario.Scenario, region: string, source: string) => {
  const { modelId, profileId } = Scenario.parseModelId(source)
  if (profileId !== undefined) {
    return systemProfiles(scenario, region).find((p) => p.inferenceProfileId === profileId)?.models
  }
  const resolved = Scenario.resolve(scenario, region, modelId)
  return FoundationModels.listed(resolved.availability) ? [{ modelArn: modelArn(region, modelId) }] : undefined
}

const applicationSummary = (scenario: Scenario.Scenario, profile: ApplicationProfiles.Profile): Summary => ({
  inferenceProfileName: profile.name,
  ...(profile.description === undefined ? {} : { description: profile.description }),
  createdAt: profile.createdAt,
  updatedAt: profile.createdAt,
  inferenceProfileArn: ApplicationProfiles.arnOf(profile),
  models: sourceModels(scenario, profile.region, profile.source) ?? [],
  inferenceProfileId: profile.id,
  status: "ACTIVE",
  type: "APPLICATION"
})

/** The profiles listed in a region, of one type or both. */
export const list = (
  scenario: Scenario.Scenario,
  store: ApplicationProfiles.Store,
  region: string,
  type: "SYSTEM_DEFINED" | "APPLICATION" | undefined
): ReadonlyArray<Summary> => [
  ...(type === "APPLICATION" ? [] : systemProfiles(scenario, region)),
  ...(type === "SYSTEM_DEFINED" ? [] : store.list(region).map((p) => applicationSummary(scenario, p)))
]

/** A profile by id or ARN (system or application). */
export const get = (
  scenario: Scenario.Scenario,
  store: ApplicationProfiles.Store,
  region: string,
  idOrArn: string
): Summary | undefined => {
  const application = store.get(region, idOrArn)
  if (application !== undefined) return applicationSummary(scenario, application)
  const wanted = idOrArn.replace(/^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:inference-profile\//, "")
  return systemProfiles(scenario, region).find((p) => p.inferenceProfileId === wanted)
}

/** The source (`copyFrom`) of a new application profile as a model or profile id, if it exists in the region. */
export const sourceOf = (scenario: Scenario.Scenario, region: string, copyFrom: string): string | undefined => {
  const arn = /^arn:aws[a-z-]*:bedrock:([^:]*):[^:]*:(foundation-model|inference-profile)\/(.+)$/.exec(copyFrom)
  if (arn === null || (arn[1] !== "" && arn[1] !== region)) return undefined
  return sourceModels(scenario, region, arn[3]!) === undefined ? undefined : arn[3]!
}
