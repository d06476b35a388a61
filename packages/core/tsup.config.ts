import type { Plugin } from "esbuild"
import { defineConfig } from "tsup"

// The data files (registry, service shapes) stay JSON files beside dist/ (imported as ../data/…), so
// the package carries each once instead of inlining it into a chunk.
const dataExternal: Plugin = {
  name: "data-external",
  setup(build) {
    // dist/ is flat, so every chunk reaches the data as ../data/<file>, whatever depth the source imported it from.
    build.onResolve({ filter: /\/data\/bedrock-(models|shapes)\.json$/ }, (args) => ({
      path: `../data/${args.path.slice(args.path.lastIndexOf("/") + 1)}`,
      external: true
    }))
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
  // dist/ is readable ESM (not minified), so stack traces point at real code without maps; shipping
  // src/ and maps for them would double the package (~1.07 MB of 2.18 MB).
  sourcemap: false,
  target: "node22",
  esbuildPlugins: [dataExternal]
})
