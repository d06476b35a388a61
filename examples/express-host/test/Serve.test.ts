/**
 * `pnpm serve` as a user runs it: it listens on 127.0.0.1 only (unless HOST), never prints a token,
 * and with `--live` (real AWS credentials behind the API) refuses to start without explicit tokens.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import * as Os from "node:os"
import { fileURLToPath } from "node:url"
import { dropSchema, reachable, requireServices, runName } from "./services.ts"

const services = await requireServices()

const serve = (args: ReadonlyArray<string>, env: Record<string, string>) => {
  const child = spawn(
    process.execPath,
    ["--conditions=@myia/source", fileURLToPath(new URL("../src/serve.ts", import.meta.url)), ...args],
    { env: { ...process.env, CERTIFICATION_API_TOKEN: "", CERTIFICATION_API_READ_TOKEN: "", ...env }, stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  return { child, output: () => output }
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode)
    child.once("exit", (code) => resolve(code))
  })

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = Net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })

/** An address of this machine other than loopback, if it has one. */
const otherAddress = (): string | undefined =>
  Object.values(Os.networkInterfaces()).flat().find((i) => i !== undefined && !i.internal && i.family === "IPv4")?.address

describe("pnpm serve", () => {
  it("--live without explicit tokens exits 2 before starting anything", async () => {
    const { child, output } = serve(["--live"], {})
    assert.strictEqual(await exited(child), 2)
    assert.include(output(), "CERTIFICATION_API_TOKEN")
    assert.notInclude(output(), "listening")
  })

  it.skipIf(!services)("binds 127.0.0.1 and never prints a token (explicit or the development default)", async () => {
    const run = runName("serve")
    const port = await freePort()
    const { child, output } = serve([], {
      PORT: String(port),
      CERTIFICATION_PG_SCHEMA: run,
      CERTIFICATION_REDIS_PREFIX: run,
      CERTIFICATION_QUEUE_NAME: `q-${run}`,
      CERTIFICATION_API_TOKEN: "s3cret-rw-token-value"
    })
    try {
      while (!/listening on/.test(output()) || !/read-only token/.test(output())) {
        assert.isNull(child.exitCode, output())
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      assert.notInclude(output(), "s3cret-rw-token-value")
      assert.notInclude(output(), "dev-read-token")
      assert.include(output(), "$CERTIFICATION_API_TOKEN")
      assert.include(output(), `http://127.0.0.1:${port}/api/certification-queue`)
      // The banner links the dashboard, and the link serves it.
      assert.include(output(), `dashboard  http://127.0.0.1:${port}/api/certification-queue/ui`)
      assert.strictEqual((await fetch(`http://127.0.0.1:${port}/api/certification-queue/ui`)).status, 200)
      const answer = await fetch(`http://127.0.0.1:${port}/api/certification-queue/history`, {
        headers: { authorization: "Bearer s3cret-rw-token-value" }
      })
      assert.strictEqual(answer.status, 200)
      const other = otherAddress()
      if (other !== undefined) assert.isFalse(await reachable(port, other), `reachable on ${other}`)
    } finally {
      child.kill("SIGTERM")
      await exited(child)
      await dropSchema(run)
    }
  })
})
