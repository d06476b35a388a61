import { defineConfig } from "tsup"

export default defineConfig({
  entry: { "index": "src/index.ts", "migrate-cli": "src/migrate-cli.ts" },
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node22"
})
