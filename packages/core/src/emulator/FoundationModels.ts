/**
 * The control plane's view of foundation models (`ListFoundationModels`, `GetFoundationModel`), from
 * the scenario as seen from the caller's region: a model is listed where it is offered or reachable
 * only through a profile, with values inside the service model's enums — modalities from the
 * registry's modality and capabilities plus the input modalities real listings show (VIDEO for Nova
 * Lite / Pro, IMAGE for Cohere Embed v4), `customizationsSupported` from the scenario's
 * `customizations`, and the filters `byProvider`, `byCustomizationType`, `byOutputModality` and
 * `byInferenceType` honoured. What it reports follows the scenario's control-plane view
 * (`controlPlane.availability`, `lifecycle`, `authorization`, `agreement`, `entitlement`), which
 * may disagree with what requests meet; `GetFoundationModelAvailability` answers from the same view.
 *
 * @since 0.1.0
 */
import * as Scenario from "./Scenario.ts"

/** A model modality as the control plane writes it: the model's enum, plus VIDEO and SPEECH as real listings carry. */
export type Modality = "TEXT" | "IMAGE" | "EMBEDDING" | "VIDEO" | "SPEECH"

/** Output and base input modalities per registry modality; a rerank model answers text scores. */
interface Modalities {
  readonly input: ReadonlyArray<Modality>
  readonly output: ReadonlyArray<Modality>
}

const modalities: Readonly<Record<string, Modalities>> = {
  chat: { input: ["TEXT"], output: ["TEXT"] },
  text: { input: ["TEXT"], output: ["TEXT"] },
  embedding: { input: ["TEXT"], output: ["EMBEDDING"] },
  image: { input: ["TEXT", "IMAGE"], output: ["IMAGE"] },
  video: { input: ["TEXT", "IMAGE"], output: ["VIDEO"] },
  speech: { input: ["SPEECH"], output: ["SPEECH", "TEXT"] },
  rerank: { input: ["TEXT"], output: ["TEXT"] }
}

/**
 * Input modalities real ListFoundationModels output shows beyond text and the registry's vision flag
 * (reference/bedrock/real-samples/list_foundation_models_ap-southeast-1_circa-late-2025.json; Nova
 * Premier and Nova 2 Lite from AWS's model cards).
 */
const extraInputs: ReadonlyArray<{ readonly ids: RegExp; readonly add: ReadonlyArray<Modality> }> = [
  { ids: /^amazon\.nova-(lite|pro|premier|2-lite|2-pro)/, add: ["IMAGE", "VIDEO"] },
  { ids: /^(cohere\.embed-v4|amazon\.titan-embed-image|amazon\.nova-2-multimodal-embeddings)/, add: ["IMAGE"] }
]

const providerOf = (id: string): string => {
  const vendor = id.split(".")[0] ?? id
  return vendor.charAt(0).toUpperCase() + vendor.slice(1)
}

const modalitiesOf = (resolved: Scenario.Resolved) => {
  const modality = resolved.info?.modality ?? (resolved.kind === "embedding" ? "embedding" : "chat")
  const base = modalities[modality] ?? modalities["chat"]!
  const input = new Set<Modality>(base.input)
  if (resolved.capabilities.vision === "yes") input.add("IMAGE")
  for (const extra of extraInputs) if (extra.ids.test(resolved.modelId)) extra.add.forEach((m) => input.add(m))
  return { input: [...input], output: base.output }
}

/** A `FoundationModelSummary` (also the `modelDetails` of `GetFoundationModel`). */
export const summary = (resolved: Scenario.Resolved, region: string) => {
  const info = resolved.info
  const { input, output } = modalitiesOf(resolved)
  return {
    modelArn: `arn:aws:bedrock:${region}::foundation-model/${resolved.modelId}`,
    modelId: resolved.modelId,
    modelName: info?.name ?? resolved.modelId,
    providerName: info?.vendor ?? providerOf(resolved.modelId),
    inputModalities: input,
    outputModalities: output,
    responseStreamingSupported: resolved.kind === "chat" && resolved.capabilities.streaming !== "no",
    customizationsSupported: resolved.customizations,
    inferenceTypesSupported: resolved.controlPlaneAvailability === "profile-only" ? ["INFERENCE_PROFILE"] : ["ON_DEMAND"],
    modelLifecycle: resolved.lifecycle ?? {
      status: resolved.controlPlaneAvailability === "legacy" || info?.lifecycle.status === "LEGACY" ? "LEGACY" : "ACTIVE"
    }
  }
}

/** The `GetFoundationModelAvailability` answer for a model (issue #13): the scenario's values, or those its availability implies. */
export const availability = (resolved: Scenario.Resolved) => {
  const seen = resolved.controlPlaneAvailability
  return {
    modelId: resolved.modelId,
    agreementAvailability: { status: resolved.agreement ?? (seen === "marketplace-pending" ? "PENDING" : "AVAILABLE") },
    authorizationStatus: resolved.authorization ?? (seen === "access-denied" ? "NOT_AUTHORIZED" : "AUTHORIZED"),
    entitlementAvailability: resolved.entitlement ?? "AVAILABLE",
    regionAvailability: listed(seen) ? "AVAILABLE" : "NOT_AVAILABLE"
  }
}

/** Whether the control plane lists a model in this state. */
export const listed = (a: Scenario.Availability): boolean => a !== "not-offered" && a !== "eol"

/** The filters of `ListFoundationModels` (query members, already validated). */
export interface Filters {
  readonly byProvider?: string | undefined
  readonly byCustomizationType?: string | undefined
  readonly byOutputModality?: string | undefined
  readonly byInferenceType?: string | undefined
}

/** Every model the region lists, filtered. */
export const list = (scenario: Scenario.Scenario, region: string, filters: Filters) =>
  Scenario.knownModelIds(scenario)
    .map((id) => Scenario.resolve(scenario, region, id))
    .filter((r) => listed(r.controlPlaneAvailability))
    .map((r) => summary(r, region))
    .filter((m) =>
      (filters.byProvider === undefined || m.providerName.toLowerCase() === filters.byProvider.toLowerCase()) &&
      (filters.byCustomizationType === undefined ||
        m.customizationsSupported.includes(filters.byCustomizationType as Scenario.Customization)) &&
      (filters.byOutputModality === undefined || m.outputModalities.includes(filters.byOutputModality as Modality)) &&
      (filters.byInferenceType === undefined || m.inferenceTypesSupported.includes(filters.byInferenceType))
    )
