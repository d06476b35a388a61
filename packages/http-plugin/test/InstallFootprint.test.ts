/**
 * What a host installs with the plugin: npm installs every required peer of every package in the
 * dependency graph, so a package that requires `redis` anywhere below the plugin puts a Redis
 * client into every host (`@effect/platform-node` does; the plugin bundles the part it uses).
 * This walks the published runtime graph (dependencies and peers, as installed here) and fails on
 * a required Redis peer or on `@effect/platform-node` as a runtime dependency.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

interface Manifest {
  readonly name: string
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
}

const pluginDir = fileURLToPath(new URL("..", import.meta.url))
const read = (dir: string): Manifest => JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8"))

/** The directory of package `name` as seen from `fromDir` (Node's lookup: `node_modules` up the real path). */
const locate = (name: string, fromDir: string): string => {
  for (let dir = Fs.realpathSync(fromDir); ; dir = Path.dirname(dir)) {
    const candidate = Path.join(dir, "node_modules", name)
    if (Fs.existsSync(Path.join(candidate, "package.json"))) return candidate
    if (Path.dirname(dir) === dir) throw new Error(`${name} is not installed (looked up from ${fromDir})`)
  }
}

/** Every package a host's npm would install for the plugin, with the required peers each declares. */
const runtimeGraph = () => {
  const seen = new Map<string, ReadonlyArray<string>>()
  const visit = (dir: string, root: boolean) => {
    const manifest = read(dir)
    if (seen.has(manifest.name)) return
    const requiredPeers = Object.keys(manifest.peerDependencies ?? {}).filter((peer) =>
      manifest.peerDependenciesMeta?.[peer]?.optional !== true
    )
    seen.set(manifest.name, requiredPeers)
    // The plugin's own devDependencies are not installed by hosts; everyone's dependencies and required peers are.
    for (const name of [...Object.keys(manifest.dependencies ?? {}), ...requiredPeers]) {
      if (root && name === manifest.name) continue
      visit(locate(name, dir), false)
    }
  }
  visit(pluginDir, true)
  return seen
}

describe("install footprint of @myia/certification-http", () => {
  it("pulls no Redis client into a host: no required redis/ioredis peer anywhere in its runtime graph", () => {
    const graph = runtimeGraph()
    assert.isTrue(graph.has("effect"), "the walk reaches the effect peer")
    assert.isTrue(graph.has("@myia/certification"), "the walk reaches core")
    const offenders = [...graph].filter(([, peers]) => peers.some((p) => p === "redis" || p === "ioredis"))
    assert.deepStrictEqual(offenders, [])
    assert.isFalse(graph.has("redis"))
    assert.isFalse(graph.has("ioredis"))
  })

  it("bundles @effect/platform-node instead of depending on it (its manifest requires a redis peer)", () => {
    const manifest = read(pluginDir)
    assert.notProperty(manifest.dependencies ?? {}, "@effect/platform-node")
    assert.notProperty(manifest.peerDependencies ?? {}, "@effect/platform-node")
    const platformNode = read(locate("@effect/platform-node", pluginDir))
    assert.property(platformNode.peerDependencies ?? {}, "redis", "the reason it is bundled still holds")
  })
})
