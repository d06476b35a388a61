/**
 * What the Bedrock control plane said about one (account, region), and when: the decoded, persisted
 * form of `ListFoundationModels`, `ListInferenceProfiles` and `GetFoundationModelAvailability`
 * (issue #13, the living registry). Discovery writes it, Storage persists it as is, the merge rules
 * (`RegistryMerge`) and preflight read it. Times are ISO-8601 instants; `observedAt` is when the
 * listing was taken, each availability entry carries its own time (it is fetched per model, later).
 *
 * @since 0.2.0
 */
import * as Schema from "effect/Schema"
import { Region } from "./Region.ts"

/** `modelLifecycle` of a listed model: ACTIVE or LEGACY, with the dates AWS gives (ISO instants). */
export const ObservedLifecycle = Schema.Struct({
  status: Schema.Literals(["ACTIVE", "LEGACY"]),
  startOfLifeAt: Schema.NullOr(Schema.String),
  legacyAt: Schema.NullOr(Schema.String),
  extendedAccessAt: Schema.NullOr(Schema.String),
  eolAt: Schema.NullOr(Schema.String)
})
export type ObservedLifecycle = typeof ObservedLifecycle.Type

/** One `FoundationModelSummary`, reduced to the facts the registry uses. */
export const ObservedModel = Schema.Struct({
  modelId: Schema.String,
  name: Schema.NullOr(Schema.String),
  provider: Schema.NullOr(Schema.String),
  inputModalities: Schema.Array(Schema.String),
  outputModalities: Schema.Array(Schema.String),
  streaming: Schema.NullOr(Schema.Boolean),
  inferenceTypes: Schema.Array(Schema.String),
  lifecycle: Schema.NullOr(ObservedLifecycle)
})
export type ObservedModel = typeof ObservedModel.Type

/** One inference profile (system or application) and the foundation models it routes to. */
export const ObservedProfile = Schema.Struct({
  id: Schema.String,
  arn: Schema.NullOr(Schema.String),
  type: Schema.String,
  status: Schema.NullOr(Schema.String),
  /** Base model ids of its members (from the member model ARNs). */
  models: Schema.Array(Schema.String)
})
export type ObservedProfile = typeof ObservedProfile.Type

/** One `GetFoundationModelAvailability` answer, with the time it was taken. */
export const ModelAvailability = Schema.Struct({
  modelId: Schema.String,
  authorizationStatus: Schema.String,
  entitlementAvailability: Schema.String,
  agreementStatus: Schema.String,
  regionAvailability: Schema.String,
  observedAt: Schema.String
})
export type ModelAvailability = typeof ModelAvailability.Type

/** Everything observed in one (account, region). */
export class RegionObservation extends Schema.Class<RegionObservation>("@myia/certification/RegionObservation")({
  account: Schema.String,
  region: Region,
  observedAt: Schema.String,
  models: Schema.Array(ObservedModel),
  profiles: Schema.Array(ObservedProfile),
  availability: Schema.Array(ModelAvailability)
}) {}

/** Whether something observed at `observedAt` (ISO) is still fresh at `now` (epoch ms) under `ttlMillis`. */
export const isFresh = (observedAt: string, now: number, ttlMillis: number): boolean =>
  Date.parse(observedAt) + ttlMillis > now

/** The JSON form of an observation, as adapters store it (decoded back with {@link decode}). */
export const encode = Schema.encodeSync(RegionObservation)

/** Decode a stored observation (a JSON value); throws a `SchemaError` naming the bad field. */
export const decode = Schema.decodeUnknownSync(RegionObservation)
