/**
 * The control-plane family: `ListFoundationModels` (with its `byProvider`, `byOutputModality`
 * and `byInferenceType` filters), `GetFoundationModel`, `ListInferenceProfiles` (paged) and
 * `GetInferenceProfile`, answered from the scenario as seen from the caller's region: a model is
 * listed where it is offered (or reachable only through a profile), system profiles where their
 * geography matches.
 *
 * @since 0.1.0
 */
import { geographiesOf, type Region } from "../Region.ts"
import { type Exchange, type Operation, sendError, sendJson } from "./Exchange.ts"
import * as Scenario from "./Scenario.ts"
import { availabilityErrors, wire } from "./WireError.ts"

const ACCOUNT = "123456789012"
const CREATED_AT = "2024-01-01T00:00:00.000Z"

const providerOf = (id: string): string => {
  const vendor = id.split(".")[0] ?? id
  return vendor.charAt(0).toUpperCase() + vendor.slice(1)
}

const modelSummary = (resolved: Scenario.Resolved, region: string) => {
  const info = resolved.info
  const outputModality = resolved.kind === "chat"
    ? "TEXT"
    : resolved.kind === "embedding"
    ? "EMBEDDING"
    : (info?.modality ?? "TEXT").toUpperCase()
  return {
    modelArn: `arn:aws:bedrock:${region}::foundation-model/${resolved.modelId}`,
    modelId: resolved.modelId,
    modelName: info?.name ?? resolved.modelId,
    providerName: info?.vendor ?? providerOf(resolved.modelId),
    inputModalities: resolved.capabilities.vision === "yes" ? ["TEXT", "IMAGE"] : ["TEXT"],
    outputModalities: [outputModality],
    responseStreamingSupported: resolved.kind === "chat" && resolved.capabilities.streaming !== "no",
    customizationsSupported: [],
    inferenceTypesSupported: resolved.availability === "profile-only" ? ["INFERENCE_PROFILE"] : ["ON_DEMAND"],
    modelLifecycle: {
      status: resolved.availability === "legacy" || info?.lifecycle.status === "LEGACY" ? "LEGACY" : "ACTIVE"
    }
  }
}

const listed = (a: Scenario.Availability) => a !== "not-offered" && a !== "eol"

const foundationModels = (scenario: Scenario.Scenario, region: string) =>
  Scenario.knownModelIds(scenario)
    .map((id) => Scenario.resolve(scenario, region, id))
    .filter((r) => listed(r.availability))
    .map((r) => modelSummary(r, region))

const profileSummary = (resolved: Scenario.Resolved, profileId: string, region: string) => {
  const geography = profileId.slice(0, profileId.indexOf("."))
  const name = resolved.info?.name ?? resolved.modelId
  const vendor = resolved.info?.vendor ?? providerOf(resolved.modelId)
  const served = (resolved.info?.regions ?? [])
    .map((r) => r.region)
    .filter((r) => geography === "global" || geographiesOf(r as Region).includes(geography))
  const regions = served.length > 0 ? served : [region]
  return {
    inferenceProfileName: `${geography.toUpperCase()} ${vendor} ${name}`,
    description: `Routes requests to ${vendor} ${name} in ${regions.join(", ")}.`,
    createdAt: CREATED_AT,
    updatedAt: CREATED_AT,
    inferenceProfileArn: `arn:aws:bedrock:${region}:${ACCOUNT}:inference-profile/${profileId}`,
    models: regions.map((r) => ({ modelArn: `arn:aws:bedrock:${r}::foundation-model/${resolved.modelId}` })),
    inferenceProfileId: profileId,
    status: "ACTIVE",
    type: "SYSTEM_DEFINED"
  }
}

const inferenceProfiles = (scenario: Scenario.Scenario, region: string) => {
  const out: Array<ReturnType<typeof profileSummary>> = []
  for (const id of Scenario.knownModelIds(scenario)) {
    const base = Scenario.resolve(scenario, region, id)
    const candidates = base.info !== undefined
      ? base.info.profiles
      : base.availability === "profile-only"
      ? [`${geographiesOf(region as Region)[0] ?? "global"}.${id}`]
      : []
    for (const profileId of candidates) {
      const via = Scenario.resolve(scenario, region, profileId)
      if (listed(via.availability)) out.push(profileSummary(via, profileId, region))
    }
  }
  return out
}

const listFoundationModels = (ex: Exchange, scenario: Scenario.Scenario, query: URLSearchParams): void => {
  const provider = query.get("byProvider")?.toLowerCase()
  const output = query.get("byOutputModality")
  const inference = query.get("byInferenceType")
  const summaries = foundationModels(scenario, ex.region).filter((m) =>
    (provider === undefined || m.providerName.toLowerCase() === provider) &&
    (output === null || m.outputModalities.includes(output)) &&
    (inference === null || m.inferenceTypesSupported.includes(inference))
  )
  sendJson(ex, 200, { modelSummaries: summaries })
}

const getFoundationModel = (ex: Exchange, scenario: Scenario.Scenario, id: string): void => {
  const resolved = Scenario.resolve(scenario, ex.region, id)
  if (resolved.availability === "eol") return sendError(ex, availabilityErrors.eol(id))
  if (resolved.availability === "not-offered" || resolved.profileId !== undefined) {
    return sendError(ex, availabilityErrors["not-offered"](id))
  }
  sendJson(ex, 200, { modelDetails: modelSummary(resolved, ex.region) })
}

const profilesFor = (scenario: Scenario.Scenario, region: string, query: URLSearchParams) =>
  query.get("type") === "APPLICATION" ? [] : inferenceProfiles(scenario, region)

const listInferenceProfiles = (ex: Exchange, scenario: Scenario.Scenario, query: URLSearchParams): void => {
  const profiles = profilesFor(scenario, ex.region, query)
  const max = Math.min(1000, Math.max(1, Number(query.get("maxResults") ?? 1000) || 1000))
  const offset = Number(Buffer.from(query.get("nextToken") ?? "", "base64").toString("utf8") || 0) || 0
  const page = profiles.slice(offset, offset + max)
  const next = offset + max < profiles.length ? Buffer.from(String(offset + max)).toString("base64") : undefined
  sendJson(ex, 200, { inferenceProfileSummaries: page, ...(next === undefined ? {} : { nextToken: next }) })
}

const getInferenceProfile = (ex: Exchange, scenario: Scenario.Scenario, id: string, query: URLSearchParams): void => {
  const wanted = id.replace(/^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:inference-profile\//, "")
  const found = profilesFor(scenario, ex.region, query).find((p) => p.inferenceProfileId === wanted)
  // Wording of this not-found message was not captured from the real service.
  if (found === undefined) {
    return sendError(ex, wire(404, "ResourceNotFoundException", `Inference profile ${wanted} not found.`))
  }
  sendJson(ex, 200, found)
}

/** Answer a control-plane operation; `id` is the path's model or profile id for the `Get…` operations. */
export const handle = (
  ex: Exchange,
  scenario: Scenario.Scenario,
  op: Operation,
  id: string | undefined,
  query: URLSearchParams
): void => {
  if (op === "ListFoundationModels") return listFoundationModels(ex, scenario, query)
  if (op === "GetFoundationModel") return getFoundationModel(ex, scenario, id!)
  if (op === "ListInferenceProfiles") return listInferenceProfiles(ex, scenario, query)
  return getInferenceProfile(ex, scenario, id!, query)
}
