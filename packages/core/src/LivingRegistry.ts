/**
 * The living registry (issue #13, SPEC §3a): discovery per (account, region) through the real
 * control-plane client (`ControlPlane`: one `@aws-sdk/client-bedrock` client per region, cached like
 * the runtime ones), cached with a TTL (default 1 hour, read through `Clock`) and persisted through
 * the Storage port with the time observed, so other processes and restarts reuse it; merged per
 * (model, region) with our latest result and the snapshot (`RegistryMerge`).
 *
 * Discovery never fails: a region whose control plane cannot be listed (`bedrock:List*` denied,
 * network) is `Skipped` with the reason — cached for `failureTtl` (default 5 minutes) so a job asks
 * once — and callers proceed on the snapshot. `GetFoundationModelAvailability` is asked per model, for
 * the models a job certifies, and kept in the region's observation. Each region is discovered by one
 * fiber at a time, so the units of a job starting together make one listing.
 *
 * Optional: the certification service and the runner use it when it is in context
 * (`Effect.serviceOption`) and behave as before without it.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Semaphore from "effect/Semaphore"
import type { InferenceProfileSummary } from "@aws-sdk/client-bedrock"
import {
  ControlPlane,
  type ControlPlaneError,
  layer as ControlPlaneLayer,
  type Options as ControlPlaneOptions
} from "./ControlPlane.ts"
import type { Unit } from "./Domain.ts"
import { isFresh, type ModelAvailability, type ObservedModel, type ObservedProfile, RegionObservation } from "./Observation.ts"
import type { Region } from "./Region.ts"
import { baseIdOf, hasSuite, ModelInfo, Registry, type RegistryShape } from "./Registry.ts"
import * as RegistryMerge from "./RegistryMerge.ts"
import { Storage } from "./Storage.ts"

/** The region's control plane was consulted (now, from the cache, or from storage). */
export interface Observed {
  readonly _tag: "Observed"
  readonly observation: RegionObservation
}

/** The region's control plane could not be consulted; the snapshot stands in. */
export interface Skipped {
  readonly _tag: "Skipped"
  readonly region: Region
  /** The call that failed, its category and message: "ListFoundationModels in eu-west-3: ACCESS_DENIED: …". */
  readonly reason: string
}

/** What discovery knows of a region. */
export type Discovery = Observed | Skipped

/** One (model, region) seen through every source. */
export interface View {
  readonly discovery: Discovery
  /** Our latest terminal result for the pair, if any. */
  readonly measured: Unit | undefined
  readonly merged: RegistryMerge.Merged
}

/** Discovery settings. */
export interface Options {
  /** The account key observations are stored under (default `"default"`); use the AWS account id with several. */
  readonly account?: string | undefined
  /** How long an observation is used before the control plane is asked again (default 1 hour). */
  readonly ttl?: Duration.Input | undefined
  /** How long a failed discovery is remembered before it is tried again (default 5 minutes). */
  readonly failureTtl?: Duration.Input | undefined
}

/** The living registry service. */
export class LivingRegistry extends Context.Service<LivingRegistry, {
  readonly account: string
  /** The region's observation (cache, storage, or the control plane), or why there is none. */
  readonly observe: (region: Region) => Effect.Effect<Discovery>
  /** {@link observe}, plus `GetFoundationModelAvailability` for the given listed models not yet fresh. */
  readonly observeModels: (region: Region, modelIds: ReadonlyArray<string>) => Effect.Effect<Discovery>
  /** One (model, region) merged from the control plane (with its availability), our latest result and the snapshot. */
  readonly view: (modelId: string, region: Region) => Effect.Effect<View>
  /**
   * The registry with what the regions' control planes say merged in: models only the control plane
   * lists (with a suite for their modality) added, known ones corrected (regions, lifecycle,
   * profiles). Regions that cannot be observed keep the snapshot.
   */
  readonly registryFor: (regions: ReadonlyArray<Region>) => Effect.Effect<RegistryShape>
}>()("@myia/certification/LivingRegistry") {}

const iso = (date: Date | undefined): string | null => (date === undefined ? null : date.toISOString())

/** A `FoundationModelSummary` as stored. */
const observedModel = (m: {
  readonly modelId?: string | undefined
  readonly modelName?: string | undefined
  readonly providerName?: string | undefined
  readonly inputModalities?: ReadonlyArray<string> | undefined
  readonly outputModalities?: ReadonlyArray<string> | undefined
  readonly responseStreamingSupported?: boolean | undefined
  readonly inferenceTypesSupported?: ReadonlyArray<string> | undefined
  readonly modelLifecycle?: {
    readonly status?: string | undefined
    readonly startOfLifeTime?: Date | undefined
    readonly legacyTime?: Date | undefined
    readonly publicExtendedAccessTime?: Date | undefined
    readonly endOfLifeTime?: Date | undefined
  } | undefined
}): ObservedModel => ({
  modelId: m.modelId ?? "",
  name: m.modelName ?? null,
  provider: m.providerName ?? null,
  inputModalities: [...(m.inputModalities ?? [])],
  outputModalities: [...(m.outputModalities ?? [])],
  streaming: m.responseStreamingSupported ?? null,
  inferenceTypes: [...(m.inferenceTypesSupported ?? [])],
  lifecycle: m.modelLifecycle?.status === "ACTIVE" || m.modelLifecycle?.status === "LEGACY"
    ? {
      status: m.modelLifecycle.status,
      startOfLifeAt: iso(m.modelLifecycle.startOfLifeTime),
      legacyAt: iso(m.modelLifecycle.legacyTime),
      extendedAccessAt: iso(m.modelLifecycle.publicExtendedAccessTime),
      eolAt: iso(m.modelLifecycle.endOfLifeTime)
    }
    : null
})

/** An `InferenceProfileSummary` as stored: member models by base id. */
const observedProfile = (p: InferenceProfileSummary): ObservedProfile => ({
  id: p.inferenceProfileId ?? "",
  arn: p.inferenceProfileArn ?? null,
  type: p.type ?? "SYSTEM_DEFINED",
  status: p.status ?? null,
  models: [...new Set((p.models ?? []).flatMap((m) => (m.modelArn === undefined ? [] : [baseIdOf(m.modelArn)])))]
})

const reasonOf = (error: ControlPlaneError): string =>
  `${error.operation} in ${error.region}: ${error.error.category}: ${error.error.message}`

/** Build the service; needs the control plane, Storage and the Registry (the snapshot). */
export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const controlPlane = yield* ControlPlane
  const storage = yield* Storage
  const registry = yield* Registry
  const account = options.account ?? "default"
  const ttl = Duration.toMillis(Duration.fromInputUnsafe(options.ttl ?? "1 hour"))
  const failureTtl = Duration.toMillis(Duration.fromInputUnsafe(options.failureTtl ?? "5 minutes"))

  const cache = new Map<Region, { readonly discovery: Discovery; readonly expiresAt: number }>()
  const locks = new Map<Region, Semaphore.Semaphore>()
  const lockOf = (region: Region) => {
    let lock = locks.get(region)
    if (lock === undefined) locks.set(region, lock = Semaphore.makeUnsafe(1))
    return lock
  }
  const fresh = (observedAt: string, now: number) => isFresh(observedAt, now, ttl)

  const remember = (discovery: Discovery, expiresAt: number, region: Region) => {
    cache.set(region, { discovery, expiresAt })
    return discovery
  }

  const persist = (observation: RegionObservation) =>
    storage.saveObservation(observation).pipe(
      Effect.catch((error) => Effect.logWarning("living registry: observation not stored", error.message)),
      Effect.asVoid
    )

  const discover = Effect.fnUntraced(function*(region: Region) {
    const listing = yield* Effect.result(Effect.all([
      controlPlane.list(region),
      // Application profiles are the account's own; a policy without them still lists the rest.
      controlPlane.listApplicationProfiles(region).pipe(Effect.orElseSucceed(() => []))
    ], { concurrency: 2 }))
    const now = yield* Clock.currentTimeMillis
    if (listing._tag === "Failure") {
      const skipped: Skipped = { _tag: "Skipped", region, reason: reasonOf(listing.failure) }
      yield* Effect.logWarning("living registry: preflight skipped", skipped.reason)
      return remember(skipped, now + failureTtl, region)
    }
    const [{ models, profiles }, applications] = listing.success
    const observation = new RegionObservation({
      account,
      region,
      observedAt: DateTime.formatIso(yield* DateTime.now),
      models: models.filter((m) => m.modelId !== undefined).map(observedModel),
      profiles: [...profiles, ...applications].filter((p) => p.inferenceProfileId !== undefined).map(observedProfile),
      availability: []
    })
    yield* persist(observation)
    return remember({ _tag: "Observed", observation }, Date.parse(observation.observedAt) + ttl, region)
  })

  const observeUnlocked = Effect.fnUntraced(function*(region: Region) {
    const now = yield* Clock.currentTimeMillis
    const cached = cache.get(region)
    if (cached !== undefined && cached.expiresAt > now) return cached.discovery
    // Another process, or this one before a restart, may have observed it recently.
    const stored = yield* storage.getObservation(account, region).pipe(Effect.orElseSucceed(() => Option.none()))
    if (Option.isSome(stored) && fresh(stored.value.observedAt, now)) {
      return remember(
        { _tag: "Observed", observation: stored.value },
        Date.parse(stored.value.observedAt) + ttl,
        region
      )
    }
    return yield* discover(region)
  })

  const observe = Effect.fn("LivingRegistry.observe")((region: Region) => lockOf(region).withPermit(observeUnlocked(region)))

  const isListed = (observation: RegionObservation, modelId: string) =>
    observation.models.some((m) => m.modelId === modelId) ||
    observation.profiles.some((p) => p.type === "SYSTEM_DEFINED" && p.models.includes(modelId))

  /** One model's `GetFoundationModelAvailability`, as stored; none when the call failed (availability stays unknown). */
  const availabilityOf = Effect.fnUntraced(function*(region: Region, modelId: string) {
    const answer = yield* Effect.result(controlPlane.availability(region, modelId))
    if (answer._tag === "Failure") {
      yield* Effect.logWarning("living registry: availability unknown", reasonOf(answer.failure))
      return Option.none<ModelAvailability>()
    }
    const a = answer.success
    return Option.some<ModelAvailability>({
      modelId,
      authorizationStatus: a.authorizationStatus ?? "AUTHORIZED",
      entitlementAvailability: a.entitlementAvailability ?? "AVAILABLE",
      agreementStatus: a.agreementAvailability?.status ?? "AVAILABLE",
      regionAvailability: a.regionAvailability ?? "AVAILABLE",
      observedAt: DateTime.formatIso(yield* DateTime.now)
    })
  })

  /** Add answers to the region's current observation (under its lock, so concurrent units add, never overwrite). */
  const addAvailability = (region: Region, answers: ReadonlyArray<ModelAvailability>) =>
    lockOf(region).withPermit(Effect.gen(function*() {
      const cached = cache.get(region)
      if (cached === undefined || cached.discovery._tag === "Skipped") return cached?.discovery
      const { observation } = cached.discovery
      const updated = new RegionObservation({
        ...observation,
        availability: [
          ...observation.availability.filter((a) => !answers.some((b) => b.modelId === a.modelId)),
          ...answers
        ]
      })
      yield* persist(updated)
      return remember({ _tag: "Observed", observation: updated }, cached.expiresAt, region)
    }))

  // The availability calls run outside the region's lock: the units of a job ask for their models at once.
  const observeModels = Effect.fn("LivingRegistry.observeModels")(function*(region: Region, modelIds: ReadonlyArray<string>) {
    const discovery = yield* observe(region)
    if (discovery._tag === "Skipped") return discovery
    const now = yield* Clock.currentTimeMillis
    const { observation } = discovery
    const wanted = [...new Set(modelIds.map(baseIdOf))].filter((id) =>
      isListed(observation, id) &&
      !observation.availability.some((a) => a.modelId === id && fresh(a.observedAt, now))
    )
    if (wanted.length === 0) return discovery
    const answers = (yield* Effect.forEach(wanted, (id) => availabilityOf(region, id), { concurrency: 4 }))
      .flatMap(Option.toArray)
    if (answers.length === 0) return discovery
    return (yield* addAvailability(region, answers)) ?? discovery
  })

  const latestOf = (modelId: string, region: Region) =>
    storage.latest({ modelId: modelId as Unit["modelId"], region }, { page: 1, limit: 1 }).pipe(
      Effect.map((page) => page.items[0]),
      Effect.orElseSucceed(() => undefined)
    )

  const view = Effect.fn("LivingRegistry.view")(function*(modelId: string, region: Region) {
    const snapshot = Option.getOrUndefined(registry.get(modelId))
    const id = snapshot?.id ?? baseIdOf(modelId)
    const discovery = yield* observeModels(region, [id])
    const measured = yield* latestOf(id, region)
    const merged = RegistryMerge.merge({
      modelId: id,
      region,
      snapshot,
      observed: discovery._tag === "Observed" ? discovery.observation : undefined,
      measured
    })
    return { discovery, measured, merged } satisfies View
  })

  const registryFor = Effect.fn("LivingRegistry.registryFor")(function*(regions: ReadonlyArray<Region>) {
    const observations = (yield* Effect.forEach(regions, observe, { concurrency: 4 })).flatMap((d) =>
      d._tag === "Observed" ? [d.observation] : []
    )
    if (observations.length === 0) return registry
    const ids = new Set(registry.models.map((m) => m.id))
    for (const o of observations) for (const m of o.models) ids.add(m.modelId)
    const changed: Array<ModelInfo> = []
    for (const id of ids) {
      const snapshot = Option.getOrUndefined(registry.get(id))
      let model: ModelInfo | undefined = snapshot
      for (const observation of observations) {
        const merged = RegistryMerge.merge({ modelId: id, region: observation.region, snapshot: model, observed: observation, measured: undefined })
        model = merged.model ?? model
      }
      if (model === undefined) continue
      // A model only the control plane knows joins when its modality has a suite.
      if (snapshot === undefined) {
        if (hasSuite(model.modality)) changed.push(model)
        continue
      }
      // A known model only gains regions and profiles here: what the control plane denies, preflight
      // decides per unit, with the evidence.
      const regions = [...snapshot.regions, ...model.regions.filter((r) => !snapshot.regions.some((s) => s.region === r.region))]
      const profiles = [...new Set([...snapshot.profiles, ...model.profiles])]
      if (regions.length === snapshot.regions.length && profiles.length === snapshot.profiles.length) continue
      changed.push(new ModelInfo({ ...snapshot, regions, regionsKnown: snapshot.regionsKnown || regions.length > 0, profiles }))
    }
    return registry.extend(changed)
  })

  return LivingRegistry.of({ account, observe, observeModels, view, registryFor })
})

/** The service; needs the control plane, Storage and the Registry. */
export const layer = (options: Options = {}): Layer.Layer<LivingRegistry, never, ControlPlane | Storage | Registry> =>
  Layer.effect(LivingRegistry, make(options))

/** Discovery options plus the control-plane client's endpoint and credentials. */
export interface ClientOptions extends Options {
  readonly endpoint?: ControlPlaneOptions["endpoint"]
  readonly credentials?: ControlPlaneOptions["credentials"]
}

/**
 * The service with its own control-plane clients; endpoint and credentials default to the runtime
 * client's (`fallback`: the host's `BedrockRuntime.Options`). What the facade and worker processes use.
 */
export const layerWithClient = (
  options: ClientOptions,
  fallback: { readonly endpoint?: ControlPlaneOptions["endpoint"]; readonly credentials?: ControlPlaneOptions["credentials"] } = {}
): Layer.Layer<LivingRegistry, never, Storage | Registry> =>
  layer(options).pipe(Layer.provide(ControlPlaneLayer({
    endpoint: options.endpoint ?? fallback.endpoint,
    credentials: options.credentials ?? fallback.credentials
  })))
