import { defineConfig } from "tsup"

export default defineConfig({
  entry: {"index": "src/index.ts", "api": "src/Api.ts"},
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node22"
})
