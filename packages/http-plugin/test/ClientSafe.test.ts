/**
 * The API definition is client-safe: a frontend bundles it for the browser (to build a typed
 * `HttpApiClient`) without pulling server code, Node built-ins or the AWS SDK.
 */
import { assert, describe, it } from "@effect/vitest"
import { build } from "esbuild"
import { fileURLToPath } from "node:url"

const entry = fileURLToPath(new URL("../src/Api.ts", import.meta.url))
const clientEntry = fileURLToPath(new URL("../src/Client.ts", import.meta.url))

describe("client-safe API definition", () => {
  it.each([
    { name: "the API definition", file: entry },
    { name: "the typed client", file: clientEntry }
  ])("$name bundles for the browser with no Node built-ins and no AWS SDK", async ({ file }) => {
    const result = await build({
      entryPoints: [file],
      bundle: true,
      write: false,
      platform: "browser",
      format: "esm",
      conditions: ["@myia/source"],
      metafile: true,
      logLevel: "silent"
    })
    assert.deepStrictEqual(result.errors, [])
    const inputs = Object.keys(result.metafile.inputs)
    assert.isTrue(inputs.some((i) => i.includes("packages/core/src/Domain.ts")), "the domain schemas are bundled")
    const serverOnly = /@aws-sdk|@smithy|node:|BedrockRuntime|Worker\.ts|testing\/|emulator\//
    const offending = inputs.filter((i) => serverOnly.test(i))
    assert.deepStrictEqual(offending, [])
  })
})
