/**
 * The control-plane family: `ListFoundationModels`, `GetFoundationModel` (`FoundationModels`),
 * `ListInferenceProfiles` (paged), `GetInferenceProfile`, `CreateInferenceProfile` and
 * `DeleteInferenceProfile` (`InferenceProfiles`, `ApplicationProfiles`) and
 * `GetFoundationModelAvailability`, answered from the scenario
 * as seen from the caller's region. Query parameters and request bodies are checked against the
 * service model first (`ShapeCheck`: `byOutputModality=RERANK` is a ValidationException naming the
 * enum), so an answer never carries a value the model does not allow.
 *
 * @since 0.1.0
 */
import * as ApplicationProfiles from "./ApplicationProfiles.ts"
import { type Exchange, type Operation, parseJson, sendError, sendJson } from "./Exchange.ts"
import * as FoundationModels from "./FoundationModels.ts"
import * as InferenceProfiles from "./InferenceProfiles.ts"
import * as Scenario from "./Scenario.ts"
import * as ShapeCheck from "./ShapeCheck.ts"
import type { State } from "./State.ts"
import { availabilityErrors, serialization, wire, type WireError } from "./WireError.ts"

// The wordings of these control-plane errors were not captured from the real service.
const profileNotFound = (id: string) => wire(404, "ResourceNotFoundException", `Inference profile ${id} not found.`)
const sourceNotFound = (copyFrom: string) =>
  wire(404, "ResourceNotFoundException", `The model or inference profile ${copyFrom} was not found in this region.`)
const nameTaken = (name: string) => wire(400, "ConflictException", `An inference profile named ${name} already exists.`)
const modelNotFound = (id: string) => wire(404, "ResourceNotFoundException", `Model ${id} not found.`)
/** A caller whose policy lacks the action (scenario `controlPlaneDenied`); AWS's IAM wording. */
const denied = (op: Operation) =>
  wire(
    403,
    "AccessDeniedException",
    `User: arn:aws:iam::123456789012:user/emulator is not authorized to perform: bedrock:${op} because no identity-based policy allows the bedrock:${op} action`
  )
const systemProfileDelete = wire(400, "ValidationException", "System-defined inference profiles cannot be deleted.")

const checkedError = (checked: ShapeCheck.Checked): WireError | undefined =>
  checked._tag === "serialization"
    ? serialization(checked.path, checked.expected)
    : checked._tag === "invalid"
    ? wire(400, "ValidationException", ShapeCheck.message(checked.violations))
    : undefined

/** The validated query members of an operation's input, or the error to answer. */
const queryOf = (input: string, query: URLSearchParams) => {
  const { checked, values } = ShapeCheck.checkQuery("control", input, query)
  return { error: checkedError(checked), values }
}

const listFoundationModels = (ex: Exchange, scenario: Scenario.Scenario, query: URLSearchParams): void => {
  const { error, values } = queryOf("ListFoundationModelsRequest", query)
  if (error !== undefined) return sendError(ex, error)
  sendJson(ex, 200, { modelSummaries: FoundationModels.list(scenario, ex.region, values as FoundationModels.Filters) })
}

const getFoundationModel = (ex: Exchange, scenario: Scenario.Scenario, id: string): void => {
  const resolved = Scenario.resolve(scenario, ex.region, id)
  if (resolved.controlPlaneAvailability === "eol") return sendError(ex, availabilityErrors.eol(id))
  if (resolved.controlPlaneAvailability === "not-offered" || resolved.profileId !== undefined) {
    return sendError(ex, availabilityErrors["not-offered"](id))
  }
  sendJson(ex, 200, { modelDetails: FoundationModels.summary(resolved, ex.region) })
}

const getFoundationModelAvailability = (ex: Exchange, scenario: Scenario.Scenario, id: string): void => {
  const { modelId, profileId } = Scenario.parseModelId(id)
  if (profileId !== undefined || !Scenario.knownModelIds(scenario).includes(modelId)) {
    return sendError(ex, modelNotFound(id))
  }
  sendJson(ex, 200, FoundationModels.availability(Scenario.resolve(scenario, ex.region, modelId)))
}

const listInferenceProfiles = (ex: Exchange, state: State, query: URLSearchParams): void => {
  const { error, values } = queryOf("ListInferenceProfilesRequest", query)
  if (error !== undefined) return sendError(ex, error)
  const type = values["typeEquals"] as "SYSTEM_DEFINED" | "APPLICATION" | undefined
  const profiles = InferenceProfiles.list(state.scenario(), state.profiles(), ex.region, type)
  const max = (values["maxResults"] as number | undefined) ?? 1000
  const token = Buffer.from((values["nextToken"] as string | undefined) ?? "", "base64").toString("utf8")
  const offset = Number(token || 0) || 0
  const page = profiles.slice(offset, offset + max)
  const next = offset + max < profiles.length ? Buffer.from(String(offset + max)).toString("base64") : undefined
  sendJson(ex, 200, { inferenceProfileSummaries: page, ...(next === undefined ? {} : { nextToken: next }) })
}

const getInferenceProfile = (ex: Exchange, state: State, id: string): void => {
  const found = InferenceProfiles.get(state.scenario(), state.profiles(), ex.region, id)
  if (found === undefined) return sendError(ex, profileNotFound(id))
  sendJson(ex, 200, found)
}

interface CreateBody {
  readonly inferenceProfileName: string
  readonly description?: string
  readonly modelSource: { readonly copyFrom?: string }
}

const createInferenceProfile = (ex: Exchange, state: State, body: Buffer): void => {
  const parsed = parseJson(body)
  if (!parsed.ok) return sendError(ex, serialization("", "a JSON object"))
  const invalid = checkedError(ShapeCheck.check("control", "CreateInferenceProfileRequest", parsed.value))
  if (invalid !== undefined) return sendError(ex, invalid)
  const request = parsed.value as CreateBody
  const copyFrom = request.modelSource.copyFrom ?? ""
  const source = InferenceProfiles.sourceOf(state.scenario(), ex.region, copyFrom)
  if (source === undefined) return sendError(ex, sourceNotFound(copyFrom))
  const profile: Omit<ApplicationProfiles.Profile, "id"> = {
    region: ex.region,
    name: request.inferenceProfileName,
    description: request.description,
    source,
    createdAt: new Date(ex.clock.currentTimeMillisUnsafe()).toISOString()
  }
  const created = state.profiles().create(profile)
  if (created === undefined) return sendError(ex, nameTaken(request.inferenceProfileName))
  sendJson(ex, 201, { inferenceProfileArn: ApplicationProfiles.arnOf(created), status: "ACTIVE" })
}

const deleteInferenceProfile = (ex: Exchange, state: State, id: string): void => {
  if (state.profiles().delete(ex.region, id)) return sendJson(ex, 200, {})
  const system = InferenceProfiles.get(state.scenario(), state.profiles(), ex.region, id)
  sendError(ex, system !== undefined ? systemProfileDelete : profileNotFound(id))
}

/** Answer a control-plane operation; `id` is the path's model or profile id for the `Get…` / `Delete…` operations. */
export const handle = (
  ex: Exchange,
  state: State,
  op: Operation,
  id: string | undefined,
  query: URLSearchParams,
  body: Buffer
): void => {
  if (Scenario.controlPlaneDenied(state.scenario(), ex.region)) return sendError(ex, denied(op))
  switch (op) {
    case "GetFoundationModelAvailability":
      return getFoundationModelAvailability(ex, state.scenario(), id!)
    case "ListFoundationModels":
      return listFoundationModels(ex, state.scenario(), query)
    case "GetFoundationModel":
      return getFoundationModel(ex, state.scenario(), id!)
    case "ListInferenceProfiles":
      return listInferenceProfiles(ex, state, query)
    case "CreateInferenceProfile":
      return createInferenceProfile(ex, state, body)
    case "DeleteInferenceProfile":
      return deleteInferenceProfile(ex, state, id!)
    default:
      return getInferenceProfile(ex, state, id!)
  }
}
