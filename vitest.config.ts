import { defineConfig } from "vitest/config"

// Workspace packages resolve to their `src` through the "@myia/source" export condition,
// so tests never need a build. The condition must be set for both client and SSR resolution.
// No "module" condition: the AWS SDK maps it to `dist-es`, whose extensionless imports Node cannot
// load; without it the SDK resolves to its `node` (CommonJS) build, as in production.
const conditions = ["@myia/source", "import", "node", "default"]

export default defineConfig({
  resolve: { conditions },
  environments: { ssr: { resolve: { conditions } } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default"]
  }
})
