/**
 * One AWS SDK client per region, created on first use and destroyed when the surrounding scope
 * closes. Shared by the runtime (`BedrockRuntime`) and the control plane (`ControlPlane`).
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Region } from "../Region.ts"

/** An endpoint override: one URL, or one per region. */
export type Endpoint = string | ((region: Region) => string) | undefined

/** The endpoint to use for a region, if any. */
export const endpointFor = (endpoint: Endpoint, region: Region): string | undefined =>
  typeof endpoint === "function" ? endpoint(region) : endpoint

/** A lazily filled per-region client cache whose clients are destroyed with the scope. */
export const make = <C extends { destroy(): void }>(
  build: (region: Region) => C
): Effect.Effect<(region: Region) => C, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clients = new Map<Region, C>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const client of clients.values()) client.destroy()
        clients.clear()
      })
    )
    return (region: Region): C => {
      const existing = clients.get(region)
      if (existing !== undefined) return existing
      const client = build(region)
      clients.set(region, client)
      return client
    }
  })
