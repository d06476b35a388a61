import { BedrockEmulator } from "@myia/certification/emulator"
import { endpointSuite, listening, node, stop } from "./endpointSuite.ts"
import type { Via } from "./clientTransport.ts"

// Issue 18: the shared endpoint suite through the typed client (@myia/certification-http/client),
// Effect and Promise, against the Express host on the memory adapters (no PostgreSQL or Redis).
const start = async () => {
  const emulator = await BedrockEmulator.start({ port: 0 })
  const server = node("server.ts", {
    CERTIFICATION_ADAPTERS: "memory",
    DATABASE_URL: "postgres://nobody@127.0.0.1:1/none",
    REDIS_URL: "redis://127.0.0.1:1",
    BEDROCK_ENDPOINT: emulator.url,
    CERTIFICATION_CONCURRENCY: "2",
    PORT: "0",
    CERTIFICATION_API_TOKEN: "rw-token",
    CERTIFICATION_API_READ_TOKEN: "ro-token"
  })
  const close = async () => {
    await stop(server)
    await emulator.close()
  }
  const origin = await listening(server).catch(async (error) => {
    await close()
    throw error
  })
  return { origin, emulator, close }
}

for (const via of ["effect-client", "promise-client"] as const satisfies ReadonlyArray<Via>) {
  endpointSuite(`Express host on the memory adapters, through the typed ${via}`, start, undefined, { via })
}
