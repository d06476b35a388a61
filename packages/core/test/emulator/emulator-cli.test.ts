import { BedrockRuntimeClient, ConverseCommand } from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const cli = fileURLToPath(new URL("../../src/emulator-cli.ts", import.meta.url))

const run = (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, exited, stdout: () => stdout, stderr: () => stderr }
}

describe("bedrock-emulator CLI", () => {
  it("serves the scenario file, prints the URL and exits 0 on SIGTERM", async () => {
    const file = join(tmpdir(), `emulator-cli-${process.pid}.json`)
    const document = { timeScale: 0, registry: "none", rules: [{ models: "cli.model-v1", availability: "offered" }] }
    writeFileSync(file, JSON.stringify(document))
    const proc = run(["--port", "0", "--scenario", file, "--seed", "4"])
    const deadline = Date.now() + 20_000
    while (!/listening on (http:\/\/\S+)/.test(proc.stdout()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
    }
    const url = /listening on (http:\/\/\S+)/.exec(proc.stdout())?.[1]
    assert.isDefined(url, proc.stderr())
    assert.include(proc.stdout(), "BedrockRuntimeClient")
    const client = new BedrockRuntimeClient({
      region: "eu-west-1",
      endpoint: url!,
      credentials: { accessKeyId: "AKIDCLI", secretAccessKey: "x" }
    })
    const out = await client.send(new ConverseCommand({
      modelId: "cli.model-v1",
      messages: [{ role: "user", content: [{ text: "What is 2 + 2?" }] }]
    }))
    assert.deepStrictEqual(out.output?.message?.content, [{ text: "4" }])
    proc.child.kill("SIGTERM")
    assert.strictEqual(await proc.exited, 0)
    assert.include(proc.stdout(), "SIGTERM: stopping after 1 requests")
  })

  it("rejects an invalid scenario with exit code 2 and the reason", async () => {
    const file = join(tmpdir(), `emulator-cli-bad-${process.pid}.json`)
    writeFileSync(file, JSON.stringify({ defaults: { errorRate5xx: 3 } }))
    const proc = run(["--scenario", file])
    assert.strictEqual(await proc.exited, 2)
    assert.include(proc.stderr(), "errorRate5xx")
  })
})
