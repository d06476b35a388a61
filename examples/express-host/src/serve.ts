/**
 * `pnpm serve`: the whole system on one machine. Runs the PostgreSQL migrations, starts the Bedrock
 * emulator (unless `--live`, which uses real Bedrock through the AWS credential chain), then the API
 * server and a separate worker process, and prints the URLs. Ctrl-C or SIGTERM stops everything.
 *
 * @since 0.1.0
 */
import { BedrockEmulator } from "@myia/certification/emulator"
import { PgClient, PgMigrations } from "@myia/certification-postgres"
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { fromEnv, toEnv } from "./config.ts"
import { basePath } from "./server.ts"

const live = process.argv.includes("--live")
const port = Number(process.env.PORT ?? "3001")
const emulator = live ? undefined : await BedrockEmulator.start({ port: 0 })
const config = { ...fromEnv(), ...(emulator === undefined ? {} : { bedrockEndpoint: emulator.url }) }

await Effect.runPromise(
  PgMigrations.run(config.schema).pipe(Effect.provide(PgClient.layer({ url: config.databaseUrl, max: 1 })))
)

const tokens = {
  CERTIFICATION_API_TOKEN: process.env.CERTIFICATION_API_TOKEN ?? "dev-token",
  CERTIFICATION_API_READ_TOKEN: process.env.CERTIFICATION_API_READ_TOKEN ?? "dev-read-token"
}
const env = { ...process.env, ...toEnv(config), ...tokens, PORT: String(port) }
const start = (file: string): ChildProcess =>
  spawn(process.execPath, ["--conditions=@myia/source", fileURLToPath(new URL(file, import.meta.url))], {
    env,
    stdio: "inherit"
  })
const children = [start("./server.ts"), start("./worker.ts")]

console.log(`
  API      http://localhost:${port}${basePath}
  docs     http://localhost:${port}${basePath}/docs
  Bedrock  ${emulator === undefined ? "live (AWS credential chain)" : `emulator at ${emulator.url}`}
  token    Authorization: Bearer ${tokens.CERTIFICATION_API_TOKEN}  (read-only: ${tokens.CERTIFICATION_API_READ_TOKEN})
`)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await Promise.all(children.map((child) =>
    child.exitCode !== null ? undefined : new Promise<void>((resolve) => {
      child.once("exit", () => resolve())
      child.kill("SIGTERM")
    })
  ))
  await emulator?.close()
  process.exit(0)
}
process.once("SIGINT", stop)
process.once("SIGTERM", stop)
for (const child of children) child.once("exit", () => void stop())
