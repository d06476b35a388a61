/**
 * A control-plane source for the recertification policy's `lifecycle` and `discovered` reasons:
 * each `observe` lists the regions through `ControlPlane` (`ListFoundationModels`, the real
 * `@aws-sdk/client-bedrock` client), folds what it saw into the tracked facts kept in Storage
 * (`RecertificationPolicy.track`: a value that differs from the last one seen — or, the first
 * time, from what the registry declares — changes at that instant), and answers them.
 *
 * Regions: the given ones, else every region of the latest results. A region that cannot be listed
 * keeps its tracked facts. `GetFoundationModelAvailability` (authorization) is the living registry's
 * (issue 13) to add as a snapshot field; without it the `authorization` reason does not fire.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ControlPlane } from "./ControlPlane.ts"
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
}

/** The `Observations` service on the control plane; requires `ControlPlane`, `Storage` and `Registry`. */
export const layer = (options: Options = {}): Layer.Layer<Observations, never, ControlPlane | Storage | Registry> =>
  Layer.effect(
    Observations,
    Effect.gen(function*() {
      const controlPlane = yield* ControlPlane
      const storage = yield* Storage
      const registry = yield* Registry

      const regionsOfResults = Effect.gen(function*() {
        const seen = new Set<Region>()
        for (let page = 1; page <= 1_000; page++) {
          const p = yield* storage.latest({}, { page, limit: 100 })
          for (const u of p.items) seen.add(u.region)
          if (page * 100 >= p.total) break
        }
        return [...seen]
      })

      const observe = Effect.gen(function*() {
        const regions = options.regions ?? (yield* regionsOfResults)
        const at = DateTime.formatIso(yield* DateTime.now)
        const listings = yield* Effect.forEach(
          regions,
          (region) =>
            controlPlane.list(region).pipe(
              Effect.map((listing) => ({ region, listing })),
              Effect.tapError((e) => Effect.logWarning(`recertification: control plane not listed: ${e.message}`)),
              Effect.option
            ),
          { concurrency: 4 }
        )
        const snapshot: Array<Policy.Snapshot> = listings.flatMap((o) =>
          Option.isNone(o) ? [] : o.value.listing.models.flatMap((m) =>
            m.modelId === undefined
              ? []
              : [{ modelId: m.modelId, region: o.value.region, lifecycle: m.modelLifecycle?.status }]
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
