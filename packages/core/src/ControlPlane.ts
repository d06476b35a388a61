/**
 * Optional sync from the Bedrock control plane: what AWS lists per region (ListFoundationModels,
 * ListInferenceProfiles) compared with what the registry declares.
 *
 * The registry is built from curated sources; AWS adds models, moves them to profile-only and
 * retires them faster than any table is updated. `sync` reports the differences so a person can fix
 * the registry (or a host can override it); it never changes the registry itself. A region that
 * cannot be listed (no access, network) is reported as a failure beside the other regions' reports.
 * The same clients serve the living registry's discovery (`LivingRegistry`, issue #13): `list`,
 * `listApplicationProfiles` and `availability` (`GetFoundationModelAvailability`).
 *
 * @since 0.1.0
 */
import {
  BedrockClient,
  type BedrockClientConfig,
  type FoundationModelSummary,
  GetFoundationModelAvailabilityCommand,
  type GetFoundationModelAvailabilityCommandOutput,
  type InferenceProfileSummary,
  type InferenceProfileType,
  ListFoundationModelsCommand,
  ListInferenceProfilesCommand
} from "@aws-sdk/client-bedrock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { CategorizedError } from "./Domain.ts"
import { categorize } from "./ErrorCategorizer.ts"
import * as RegionClients from "./internal/regionClients.ts"
import { Region } from "./Region.ts"
import { baseIdOf, lifecycleAt, type ModelInfo, Registry, type RegionInvocation } from "./Registry.ts"

/** The control-plane operations this module calls. */
export const Operation = Schema.Literals([
  "ListFoundationModels",
  "ListInferenceProfiles",
  "GetFoundationModelAvailability"
])
export type Operation = typeof Operation.Type

/** A control-plane call failed, classified. Never holds credentials. */
export class ControlPlaneError extends Schema.TaggedError<ControlPlaneError>("@myia/certification/ControlPlaneError")(
  "ControlPlaneError",
  { operation: Operation, region: Region, error: CategorizedError }
) {
  override get message(): string {
    return `${this.operation} in ${this.region}: ${this.error.category}: ${this.error.message}`
  }
}

/** What AWS lists in one region. */
export interface Listing {
  readonly models: ReadonlyArray<FoundationModelSummary>
  readonly profiles: ReadonlyArray<InferenceProfileSummary>
}

/** A model whose invocation path differs between AWS and the registry. */
export interface InvocationMismatch {
  readonly modelId: string
  readonly registry: RegionInvocation
  readonly aws: RegionInvocation
}

/** A model whose lifecycle differs between AWS and the registry. */
export interface LifecycleMismatch {
  readonly modelId: string
  readonly registry: string
  readonly aws: string
}

/** Differences between AWS and the registry in one region; every list is sorted. */
export interface RegionReport {
  readonly region: Region
  /** Models AWS lists (on demand or through a profile) that the registry does not know at all. */
  readonly unknownToRegistry: ReadonlyArray<string>
  /** Registry models AWS lists here although the registry does not declare them in this region. */
  readonly undeclaredInRegion: ReadonlyArray<string>
  /** Registry models declared in this region that AWS does not list (models end-of-life at the date excluded). */
  readonly notListed: ReadonlyArray<string>
  /** On-demand versus profile-only disagreements. */
  readonly invocationMismatches: ReadonlyArray<InvocationMismatch>
  /** ACTIVE versus LEGACY disagreements. */
  readonly lifecycleMismatches: ReadonlyArray<LifecycleMismatch>
  /** System inference profiles AWS lists here that the registry's model entry lacks. */
  readonly unknownProfiles: ReadonlyArray<string>
}

/** The result of `sync`: a report per region that could be listed, a failure per region that could not. */
export interface SyncReport {
  readonly regions: ReadonlyArray<RegionReport>
  readonly failures: ReadonlyArray<ControlPlaneError>
}

/** How AWS says a listed model is invoked in a region; provisioned-only variants are not invocable. */
export const awsInvocationOf = (summary: FoundationModelSummary): RegionInvocation | undefined => {
  const types: ReadonlyArray<string> = summary.inferenceTypesSupported ?? []
  return types.includes("ON_DEMAND") ? "ON_DEMAND" : types.includes("INFERENCE_PROFILE") ? "PROFILE_ONLY" : undefined
}

const sorted = <A>(items: Iterable<A>, key: (a: A) => string): ReadonlyArray<A> =>
  [...items].sort((a, b) => key(a).localeCompare(key(b)))

/**
 * Compares one region's listing with the registry. Pure. With `at`, a model the registry already
 * knows to be end-of-life at that date is not reported as missing: AWS stops listing those.
 */
export const compare = (
  models: ReadonlyArray<ModelInfo>,
  region: Region,
  listing: Listing,
  at?: DateTime.Utc | string
): RegionReport => {
  const registry = new Map(models.map((model) => [model.id, model]))
  const listed = new Map<string, FoundationModelSummary>()
  for (const summary of listing.models) {
    if (summary.modelId !== undefined && awsInvocationOf(summary) !== undefined) listed.set(summary.modelId, summary)
  }

  const unknownToRegistry: Array<string> = []
  const undeclaredInRegion: Array<string> = []
  const invocationMismatches: Array<InvocationMismatch> = []
  const lifecycleMismatches: Array<LifecycleMismatch> = []
  for (const [modelId, summary] of listed) {
    const model = registry.get(modelId)
    if (model === undefined) {
      unknownToRegistry.push(modelId)
      continue
    }
    const declared = model.regions.find((r) => r.region === region)
    const aws = awsInvocationOf(summary)!
    if (declared === undefined) {
      if (model.regionsKnown) undeclaredInRegion.push(modelId)
    } else if (declared.invocation !== aws) {
      invocationMismatches.push({ modelId, registry: declared.invocation, aws })
    }
    const awsLifecycle = summary.modelLifecycle?.status
    if (awsLifecycle !== undefined && model.lifecycle.status !== "UNKNOWN" && awsLifecycle !== model.lifecycle.status) {
      lifecycleMismatches.push({ modelId, registry: model.lifecycle.status, aws: awsLifecycle })
    }
  }

  const notListed = models
    .filter((model) => model.regions.some((r) => r.region === region) && !listed.has(model.id))
    .filter((model) => at === undefined || lifecycleAt(model, at) !== "EOL")
    .map((model) => model.id)

  const unknownProfiles: Array<string> = []
  for (const profile of listing.profiles) {
    const profileId = profile.inferenceProfileId
    if (profileId === undefined || profile.type === "APPLICATION") continue
    const model = registry.get(baseIdOf(profileId))
    if (model !== undefined && !model.profiles.includes(profileId)) unknownProfiles.push(profileId)
  }

  return {
    region,
    unknownToRegistry: sorted(unknownToRegistry, (s) => s),
    undeclaredInRegion: sorted(undeclaredInRegion, (s) => s),
    notListed: sorted(notListed, (s) => s),
    invocationMismatches: sorted(invocationMismatches, (m) => m.modelId),
    lifecycleMismatches: sorted(lifecycleMismatches, (m) => m.modelId),
    unknownProfiles: sorted(unknownProfiles, (s) => s)
  }
}

/** Static credentials or a provider function, as the AWS SDK accepts them. */
export type Credentials = NonNullable<BedrockClientConfig["credentials"]>

/** How the service builds its control-plane clients. */
export interface Options {
  /** Endpoint override (emulator, VPC endpoint, tests): one URL, or one per region. */
  readonly endpoint?: string | ((region: Region) => string) | undefined
  /** Explicit credentials; default: the AWS default provider chain. Never logged. */
  readonly credentials?: Credentials | undefined
}

/** The control-plane listing and the registry comparison. */
export class ControlPlane extends Context.Service<ControlPlane, {
  /** What AWS lists in a region (all pages of inference profiles). */
  readonly list: (region: Region) => Effect.Effect<Listing, ControlPlaneError>
  /** Lists every region (up to 4 at a time) and compares each with the registry. */
  readonly sync: (regions: ReadonlyArray<Region>) => Effect.Effect<SyncReport>
  // Issue #13 — the living registry.
  /** The account's application inference profiles in a region (all pages). */
  readonly listApplicationProfiles: (region: Region) => Effect.Effect<ReadonlyArray<InferenceProfileSummary>, ControlPlaneError>
  /** `GetFoundationModelAvailability`: authorization, entitlement, agreement and region availability of one model. */
  readonly availability: (
    region: Region,
    modelId: string
  ) => Effect.Effect<GetFoundationModelAvailabilityCommandOutput, ControlPlaneError>
}>()("@myia/certification/ControlPlane") {}

/** Builds the service against the registry in context; clients are destroyed when the scope closes. */
export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const registry = yield* Registry
  const clientFor = yield* RegionClients.make((region) => {
    const endpoint = RegionClients.endpointFor(options.endpoint, region)
    return new BedrockClient({
      region,
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {})
    })
  })

  const call = <A>(
    operation: Operation,
    region: Region,
    send: (client: BedrockClient, signal: AbortSignal) => Promise<A>
  ) =>
    Effect.tryPromise({
      try: (signal) => send(clientFor(region), signal),
      catch: (cause) => new ControlPlaneError({ operation, region, error: categorize(cause) })
    })

  const listProfiles = (
    region: Region,
    nextToken: string | undefined,
    typeEquals: InferenceProfileType = "SYSTEM_DEFINED"
  ): Effect.Effect<
    ReadonlyArray<InferenceProfileSummary>,
    ControlPlaneError
  > =>
    Effect.flatMap(
      call("ListInferenceProfiles", region, (client, abortSignal) =>
        client.send(
          new ListInferenceProfilesCommand({ typeEquals, ...(nextToken ? { nextToken } : {}) }),
          { abortSignal }
        )),
      (page) => {
        const items = page.inferenceProfileSummaries ?? []
        return page.nextToken
          ? Effect.map(listProfiles(region, page.nextToken, typeEquals), (rest) => [...items, ...rest])
          : Effect.succeed(items)
      }
    )

  const list = Effect.fn("ControlPlane.list")(function*(region: Region) {
    yield* Effect.annotateCurrentSpan({ "bedrock.region": region })
    const [models, profiles] = yield* Effect.all([
      Effect.map(
        call("ListFoundationModels", region, (client, abortSignal) =>
          client.send(new ListFoundationModelsCommand({}), { abortSignal })),
        (output) => output.modelSummaries ?? []
      ),
      listProfiles(region, undefined)
    ], { concurrency: 2 })
    return { models, profiles }
  })

  const sync = Effect.fn("ControlPlane.sync")(function*(regions: ReadonlyArray<Region>) {
    const now = yield* DateTime.now
    const results = yield* Effect.forEach(
      regions,
      (region) => Effect.result(Effect.map(list(region), (listing) => compare(registry.models, region, listing, now))),
      { concurrency: 4 }
    )
    const reports: Array<RegionReport> = []
    const failures: Array<ControlPlaneError> = []
    for (const result of results) {
      if (result._tag === "Success") reports.push(result.success)
      else failures.push(result.failure)
    }
    return { regions: reports, failures }
  })

  const listApplicationProfiles = Effect.fn("ControlPlane.listApplicationProfiles")((region: Region) =>
    listProfiles(region, undefined, "APPLICATION")
  )

  const availability = Effect.fn("ControlPlane.availability")((region: Region, modelId: string) =>
    call("GetFoundationModelAvailability", region, (client, abortSignal) =>
      client.send(new GetFoundationModelAvailabilityCommand({ modelId }), { abortSignal }))
  )

  return ControlPlane.of({ list, sync, listApplicationProfiles, availability })
})

/** The service with the given options; needs the `Registry`. */
export const layer = (options: Options = {}): Layer.Layer<ControlPlane, never, Registry> =>
  Layer.effect(ControlPlane, make(options))
