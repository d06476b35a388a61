import { BedrockEmulator } from "@myia/certification/emulator"
import { endpointSuite, listening, node, stop } from "./endpointSuite.ts"

// The shared endpoint suite on the memory adapters: no PostgreSQL or Redis, so this file always runs.
// The server is its own process (Express cannot be imported inside vitest workers) and, because a
// memory queue lives in one process, it runs the worker itself.
endpointSuite("Express host on the memory adapters with an embedded worker", async () => {
  const emulator = await BedrockEmulator.start({ port: 0 })
  const server = node("server.ts", {
    CERTIFICATION_ADAPTERS: "memory",
    // Points nowhere: the memory host must not touch PostgreSQL or Redis at all.
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
})
