import type { Plugin } from "esbuild"
import { defineConfig } from "tsup"

// The registry data stays a JSON file beside dist/ and src/ (both import it as ../data/…), so the
// package carries it once instead of inlining it into a chunk and its source map.
const registryDataExternal: Plugin = {
  name: "registry-data-external",
  setup(build) {
    build.onResolve({ filter: /\/data\/bedrock-models\.json$/ }, (args) => ({ path: args.path, external: true }))
  }
}

export default defineConfig({
  entry: {
    index: "src/index.ts",
    schemas: "src/schemas.ts",
    emulator: "src/emulator.ts",
    testing: "src/testing.ts",
    "emulator-cli": "src/emulator-cli.ts"
  },
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node22",
  esbuildPlugins: [registryDataExternal],
  // The maps point at the shipped src/ files instead of embedding a second copy of them.
  esbuildOptions(options) {
    options.sourcesContent = false
  }
})
