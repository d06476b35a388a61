/**
 * `pnpm serve`: the whole system on one machine. Runs the PostgreSQL migrations, starts the Bedrock
 * emulator (unless `--live`, which uses real Bedrock through the AWS credential chain), then the API
 * server and a separate worker process, and prints the URLs. Ctrl-C or SIGTERM stops everything.
 *
 * The API listens on `127.0.0.1` unless `HOST` says otherwise. On the emulator, unset tokens fall
 * back to the development defaults of the README; with `--live` (real AWS credentials behind the
 * API) it refuses to start unless `CERTIFICATION_API_TOKEN` or `CERTIFICATION_API_READ_TOKEN` is
 * set. Tokens are never printed — the banner says where they are configured.
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
const host = process.env.HOST ?? "127.0.0.1"
const given = (name: string): string | undefined => {
  const value = process.env[name]
  return value === undefined || value === "" ? undefined : value
}
if (live && given("CERTIFICATION_API_TOKEN") === undefined && given("CERTIFICATION_API_READ_TOKEN") === undefined) {
  console.error(
    "pnpm serve --live: set CERTIFICATION_API_TOKEN (read-write) and/or CERTIFICATION_API_READ_TOKEN (read-only); " +
      "real AWS credentials are never served behind the development tokens"
  )
  process.exit(2)
}
const emulator = live ? undefined : await BedrockEmulator.start({ port: 0 })
const config = { ...fromEnv(), ...(emulator === undefined ? {} : { bedrockEndpoint: emulator.url }) }

await Effect.runPromise(
  PgMigrations.run(config.schema).pipe(Effect.provide(PgClient.layer({ url: config.databaseUrl, max: 1 })))
)

// Development defaults exist only on the emulator (see the README); --live checked above.
const tokens = live
  ? {}
  : {
    CERTIFICATION_API_TOKEN: given("CERTIFICATION_API_TOKEN") ?? "dev-token",
    CERTIFICATION_API_READ_TOKEN: given("CERTIFICATION_API_READ_TOKEN") ?? "dev-read-token"
  }
const tokenSource = (name: string) =>
  given(name) !== undefined ? `$${name}` : live ? "(unset)" : `the development default (README; set ${name} to change it)`
const env = { ...process.env, ...toEnv(config), ...tokens, PORT: String(port), HOST: host }
const start = (file: string): ChildProcess =>
  spawn(process.execPath, ["--conditions=@myia/source", fileURLToPath(new URL(file, import.meta.url))], {
    env,
    stdio: "inherit"
  })
const children = [start("./server.ts"), start("./worker.ts")]

const shown = host.includes(":") ? `[${host}]` : host
console.log(`
  API        http://${shown}:${port}${basePath}
  dashboard  http://${shown}:${port}${basePath}/ui  (sign in with a token)
  docs       http://${shown}:${port}${basePath}/docs
  Bedrock    ${emulator === undefined ? "live (AWS credential chain)" : `emulator at ${emulator.url}`}
  auth       Authorization: Bearer <token>
             read-write token: ${tokenSource("CERTIFICATION_API_TOKEN")}
             read-only token:  ${tokenSource("CERTIFICATION_API_READ_TOKEN")}
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
