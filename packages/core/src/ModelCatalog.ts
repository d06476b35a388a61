/**
 * The host's model catalogue: maps a host application's own model ids to Bedrock model ids.
 *
 * Optional. A host whose users pick models by its own ids (e.g. MyIA's `claude-haiku`) provides this
 * service; the certification service then resolves each host id to the Bedrock id it certifies, and
 * results carry the host id. Without it, ids are taken as Bedrock ids. An inactive entry is known
 * but switched off by the host, so jobs skip it with that reason instead of calling Bedrock.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/** One host model: the Bedrock model id it runs on, a display name, and whether the host offers it. */
export class CatalogEntry extends Schema.Class<CatalogEntry>("@myia/certification/CatalogEntry")({
  modelId: Schema.String,
  name: Schema.String,
  active: Schema.Boolean
}) {}

/** A catalogue entry together with the host id it is listed under. */
export interface HostEntry {
  readonly hostId: string
  readonly modelId: string
  readonly name: string
  readonly active: boolean
}

/** The service a host provides to map its model ids. "Not found" is `Option.none()`, never an error. */
export class ModelCatalog extends Context.Service<ModelCatalog, {
  /** The Bedrock model a host id stands for, if the host knows it. */
  readonly resolve: (hostId: string) => Effect.Effect<Option.Option<CatalogEntry>>
}>()("@myia/certification/ModelCatalog") {}

const toEntry = (value: Omit<HostEntry, "hostId">): CatalogEntry =>
  new CatalogEntry({ modelId: value.modelId, name: value.name, active: value.active })

/** A catalogue from a record keyed by host id. */
export const fromRecord = (
  record: Readonly<Record<string, Omit<HostEntry, "hostId">>>
): ModelCatalog["Service"] => {
  const entries = new Map(Object.entries(record).map(([hostId, value]) => [hostId, toEntry(value)]))
  return ModelCatalog.of({ resolve: (hostId) => Effect.succeed(Option.fromUndefinedOr(entries.get(hostId))) })
}

/** A catalogue from a list of entries; a later entry for the same host id wins. */
export const fromEntries = (entries: Iterable<HostEntry>): ModelCatalog["Service"] => {
  const record: Record<string, Omit<HostEntry, "hostId">> = {}
  for (const { hostId, ...value } of entries) record[hostId] = value
  return fromRecord(record)
}

/** A layer serving a fixed list of host entries. */
export const layerFromEntries = (entries: Iterable<HostEntry>): Layer.Layer<ModelCatalog> =>
  Layer.succeed(ModelCatalog, fromEntries(entries))

/** Resolve a host id through the catalogue when one is provided; without one, the id is the Bedrock id. */
export const resolveOptional = (hostId: string): Effect.Effect<Option.Option<CatalogEntry>> =>
  Effect.serviceOption(ModelCatalog).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.succeed(Option.some(new CatalogEntry({ modelId: hostId, name: hostId, active: true }))),
      onSome: (catalog) => catalog.resolve(hostId)
    }))
  )
