/**
 * The published packages, outside the repo, as a user installs them: every package is packed with
 * `npm pack` (its `prepack` builds it), the tarballs and the peers (`effect`) are installed with npm
 * into an empty folder that already depends on a newer `@aws-sdk/client-bedrock-runtime` than core's
 * minimum, and `npx bedrock-certify certify --emulator …` runs there. One install serves every check:
 * each tarball carries LICENSE and its build; the host keeps ONE copy of the AWS SDK client, of core
 * and of effect (`npm ls`); the CLI writes its three reports and exits 100 (the demo scenario's
 * wrong-answer model). It measures itself: pack, install and run times are printed.
 */
import { assert, describe, it } from "@effect/vitest"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { repoRoot, schemaErrors, spawnCollect } from "./support.ts"

const packages = ["core", "adapter-memory", "adapter-postgres", "adapter-bullmq", "http-plugin", "cli"]
// Newer than core's minimum (^3.1163.0), so npm must dedupe onto the host's copy.
const hostSdk = "3.1164.0"

// npm and the builds it runs (tsup) use the Node running the tests.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env["PATH"] ?? ""}`, NO_COLOR: "1" }

const run = (command: string, args: ReadonlyArray<string>, cwd: string) => spawnCollect(command, args, { cwd, env })

const ok = async (command: string, args: ReadonlyArray<string>, cwd: string): Promise<string> => {
  const ran = await run(command, args, cwd)
  if (ran.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${ran.status}\n${ran.stderr}\n${ran.stdout}`)
  return ran.stdout
}

interface Packed {
  readonly filename: string
  readonly files: ReadonlyArray<{ readonly path: string }>
  readonly size: number
  readonly unpackedSize: number
}

/** Every path of an `npm ls --json` tree with the version at each. */
const versionsOf = (tree: unknown, name: string, out = new Set<string>()): Set<string> => {
  const deps = (tree as { readonly dependencies?: Record<string, unknown> }).dependencies ?? {}
  for (const [dep, node] of Object.entries(deps)) {
    const version = (node as { readonly version?: string }).version
    if (dep === name && version !== undefined) out.add(version)
    versionsOf(node, name, out)
  }
  return out
}

describe("the packed packages outside the repo", () => {
  it("npm i of every tarball + effect next to a newer AWS SDK: one copy each, and npx bedrock-certify certifies", async () => {
    const work = mkdtempSync(join(tmpdir(), "certification-packed-all-"))
    const timings: Record<string, number> = {}
    const timed = async <A>(label: string, f: () => Promise<A>): Promise<A> => {
      const started = performance.now()
      try {
        return await f()
      } finally {
        timings[label] = Math.round(performance.now() - started)
      }
    }
    try {
      const tarballs = await timed("pack (build + npm pack, 6 packages)", async () => {
        const out: Array<string> = []
        for (const name of packages) {
          const dir = join(repoRoot, "packages", name)
          const [packed] = JSON.parse(await ok("npm", ["pack", "--json", "--pack-destination", work], dir)) as ReadonlyArray<Packed>
          const files = packed!.files.map((f) => f.path)
          assert.include(files, "LICENSE", `${name} ships LICENSE`)
          assert.include(files, "package.json")
          assert.isTrue(files.some((f) => f.startsWith("dist/")), `${name} ships its build`)
          assert.isFalse(files.some((f) => f.includes("/test/") || f.startsWith("test/")), `${name} ships no tests`)
          // No package ships src/: core ships readable dist/ without maps, the others embed their sources in their maps.
          assert.isFalse(files.some((f) => f.startsWith("src/")), `${name}: no src/ shipped`)
          const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown>
          for (const field of ["repository", "homepage", "bugs", "keywords", "license"]) {
            assert.isDefined(manifest[field], `${name} has ${field}`)
          }
          console.log(`packed ${packed!.filename}: ${packed!.size} bytes, ${packed!.unpackedSize} unpacked, ${files.length} files`)
          out.push(join(work, packed!.filename))
        }
        return out
      })

      const host = join(work, "host")
      await ok("mkdir", ["-p", host], work)
      writeFileSync(join(host, "package.json"), JSON.stringify({ name: "packed-host", private: true, type: "module" }))
      const effect = (JSON.parse(readFileSync(join(repoRoot, "packages/core/package.json"), "utf8")) as {
        readonly devDependencies: Record<string, string>
      }).devDependencies["effect"]
      await timed("npm install", () =>
        ok("npm", [
          "install", "--no-audit", "--no-fund", "--prefer-offline",
          `@aws-sdk/client-bedrock-runtime@${hostSdk}`, `effect@${effect}`, ...tarballs
        ], host))

      // One copy of each: the host's newer SDK client serves core, and there is one core and one effect.
      const tree = JSON.parse(await ok("npm", ["ls", "--all", "--json"], host)) as unknown
      assert.deepStrictEqual([...versionsOf(tree, "@aws-sdk/client-bedrock-runtime")], [hostSdk])
      assert.strictEqual(versionsOf(tree, "@myia/certification").size, 1)
      assert.deepStrictEqual([...versionsOf(tree, "effect")], [effect])
      const sdkLs = await ok("npm", ["ls", "@aws-sdk/client-bedrock-runtime"], host)
      assert.include(sdkLs, "deduped")
      assert.isFalse(existsSync(join(host, "node_modules", "vitest")), "no test tooling installed")

      const ran = await timed("npx bedrock-certify certify", () =>
        run("npx", [
          "--no-install", "bedrock-certify", "certify", "--emulator",
          "--models", "amazon.nova-lite-v1:0,meta.llama3-8b-instruct-v1:0", "--regions", "us-east-1,eu-west-1",
          "-o", "out.xml", "-o", "out.json", "-o", "out.csv"
        ], host))
      assert.strictEqual(ran.status, 100, `stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
      assert.include(ran.stdout, "Job COMPLETED")
      const results = JSON.parse(readFileSync(join(host, "out.json"), "utf8")) as { readonly units: ReadonlyArray<unknown> }
      assert.strictEqual(schemaErrors("results", results), "")
      assert.strictEqual(results.units.length, 3)
      assert.include(readFileSync(join(host, "out.xml"), "utf8"), "<testsuites")
      assert.strictEqual(readFileSync(join(host, "out.csv"), "utf8").trimEnd().split("\r\n").length, 4)

      const help = await ok("npx", ["--no-install", "bedrock-certify", "--help"], host)
      assert.include(help, "certify")
      console.log(`packed-tarball test timings (ms): ${JSON.stringify(timings)}`)
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  }, 600_000)
})
