import { defineConfig } from "tsup"

export default defineConfig({
  entry: {"index": "src/index.ts", "schemas": "src/schemas.ts", "testing": "src/testing.ts", "emulator-cli": "src/emulator-cli.ts"},
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node22"
})
