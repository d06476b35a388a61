/**
 * A control-plane source for the recertification policy's `lifecycle` and `discovered` reasons:
 * each `observe` lists the regions through `ControlPlane` (`ListFoundationModels`, the real
 * `@aws-sdk/client-bedrock` client), folds what it saw into the tracked facts kept in Storage
 * (`RecertificationPolicy.track`: a value that differs from the last one seen — or, the first
 * time, from what the registry declares — changes at that instant), and answers them.
 *
 * Regions: the given ones, else every region of the latest results. A region that cannot be listed
 * keeps its tracked facts.
 *
 * Authorization (the policy's `authorization` reason): for each listed pair that has a latest
 * result, the account's `authorizationStatus` from `GetFoundationModelAvailability` — taken from
 * the living registry's stored observation of the region (issue 13, same `account` key) when it is
 * younger than `availabilityTtl`, else asked of the control plane (4 at a time). A pair whose
 * availability cannot be read keeps its tracked authorization.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ControlPlane } from "./ControlPlane.ts"
import { isFresh } from "./Observation.ts"
import type { Region } from "./Domain.ts"
import { Observations } from "./Recertification.ts"
import * as Policy from "./RecertificationPolicy.ts"
import { Registry } from "./Registry.ts"
import { Storage } from "./Storage.ts"

/** Where the tracked facts are kept (`Storage.putSetting`). */
export const trackedKey = "recertification/observed"

const Fact = Schema.Struct({ value: Schema.String, changedAt: Schema.String })
const Tracked = Schema.fromJsonString(Schema.Array(Schema.Struct({
  modelId: Schema.String,
  region: Schema.String,
  lifecycle: Schema.optionalKey(Fact),
  authorization: Schema.optionalKey(Fact),
  discoveredAt: Schema.optionalKey(Schema.String)
})))
const decodeTracked = Schema.decodeUnknownEffect(Tracked)
const encodeTracked = Schema.encodeSync(Tracked)

export interface Options {
  /** The regions to list (default: every region of the latest results). */
  readonly regions?: ReadonlyArray<Region> | undefined
  /** The account key of the living registry's stored observations (default `"default"`, as `LivingRegistry`). */
  readonly account?: string | undefined
  /** How old a stored availability answer may be and still be used (default 1 hour, the living registry's TTL). */
  readonly availabilityTtl?: Duration.Input | undefined
}

/** The `Observations` service on the control plane; requires `ControlPlane`, `Storage` and `Registry`. */
export const layer = (options: Options = {}): Layer.Layer<Observations, never, ControlPlane | Storage | Registry> =>
  Layer.effect(
    Observations,
    Effect.gen(function*() {
      const controlPlane = yield* ControlPlane
      const storage = yield* Storage
      const registry = yield* Registry

      const account = options.account ?? "default"
      const availabilityTtl = Duration.toMillis(Duration.fromInputUnsafe(options.availabilityTtl ?? "1 hour"))

      /** The models with a latest result, per region. */
      const resultsByRegion = Effect.gen(function*() {
        const seen = new Map<Region, Set<string>>()
        for (let page = 1; page <= 1_000; page++) {
          const p = yield* storage.latest({}, { page, limit: 100 })
          for (const u of p.items) {
            const models = seen.get(u.region) ?? new Set<string>()
            models.add(u.modelId)
            seen.set(u.region, models)
          }
          if (page * 100 >= p.total) break
        }
        return seen
      })

      /** `authorizationStatus` per model of a region: the stored observation's when fresh, else the control plane's. */
      const authorizationOf = (region: Region, modelIds: ReadonlyArray<string>, now: number) =>
        Effect.gen(function*() {
          const out = new Map<string, string>()
          if (modelIds.length === 0) return out
          const stored = yield* storage.getObservation(account, region).pipe(Effect.orElseSucceed(() => Option.none()))
          if (Option.isSome(stored)) {
            const wanted = new Set(modelIds)
            for (const a of stored.value.availability) {
              // Fresh as the living registry judges it (the same TTL rule).
              if (wanted.has(a.modelId) && isFresh(a.observedAt, now, availabilityTtl)) out.set(a.modelId, a.authorizationStatus)
            }
          }
          yield* Effect.forEach(
            modelIds.filter((m) => !out.has(m)),
            (modelId) =>
              controlPlane.availability(region, modelId).pipe(
                Effect.tap((answer) =>
                  Effect.sync(() => {
                    if (answer.authorizationStatus !== undefined) out.set(modelId, answer.authorizationStatus)
                  })
                ),
                Effect.tapError((e) => Effect.logDebug(`recertification: availability not read: ${e.message}`)),
                Effect.ignore
              ),
            { concurrency: 4, discard: true }
          )
          return out
        })

      const observe = Effect.gen(function*() {
        const results = yield* resultsByRegion
        const regions = options.regions ?? [...results.keys()]
        const now = yield* DateTime.now
        const at = DateTime.formatIso(now)
        const listings = yield* Effect.forEach(
          regions,
          (region) =>
            controlPlane.list(region).pipe(
              Effect.flatMap((listing) => {
                const certified = results.get(region) ?? new Set<string>()
                const listed = listing.models.flatMap((m) =>
                  m.modelId !== undefined && certified.has(m.modelId) ? [m.modelId] : []
                )
                return Effect.map(
                  authorizationOf(region, listed, DateTime.toEpochMillis(now)),
                  (authorization) => ({ region, listing, authorization })
                )
              }),
              Effect.tapError((e) => Effect.logWarning(`recertification: control plane not listed: ${e.message}`)),
              Effect.option
            ),
          { concurrency: 4 }
        )
        const snapshot: Array<Policy.Snapshot> = listings.flatMap((o) =>
          Option.isNone(o) ? [] : o.value.listing.models.flatMap((m) =>
            m.modelId === undefined
              ? []
              : [{
                modelId: m.modelId,
                region: o.value.region,
                lifecycle: m.modelLifecycle?.status,
                authorization: o.value.authorization.get(m.modelId)
              }]
          )
        )
        const stored = yield* storage.getSetting(trackedKey)
        const previous = Option.isNone(stored)
          ? []
          : yield* decodeTracked(stored.value).pipe(Effect.orElseSucceed(() => []))
        const next = Policy.track(previous, snapshot, at, {
          declared: (modelId) => ({
            lifecycle: Option.getOrUndefined(Option.map(registry.get(modelId), (m) => m.lifecycle.status))
          }),
          known: (modelId, region) =>
            Option.match(registry.get(modelId), {
              onNone: () => false,
              onSome: (m) => !m.regionsKnown || m.regions.some((r) => r.region === region)
            })
        })
        // `track` never writes an undefined field; drop them for the schema all the same.
        yield* storage.putSetting(trackedKey, encodeTracked(next.map((o) => JSON.parse(JSON.stringify(o)))))
        return next
      })
      return Observations.of({ observe })
    })
  )
