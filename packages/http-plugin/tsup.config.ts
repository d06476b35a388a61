import { defineConfig } from "tsup"

export default defineConfig({
  entry: { index: "src/index.ts", api: "src/Api.ts", client: "src/Client.ts" },
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node22",
  // The Node handler comes from @effect/platform-node, bundled so a host does not install that
  // package and its required `redis` peer (a Redis client the host never asked for). Its own
  // imports stay external: `effect` (peer) and @effect/platform-node-shared (dependency).
  noExternal: [/^@effect\/platform-node(\/|$)/]
})
