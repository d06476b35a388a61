/**
 * Issue #18: the capability manifest of `bedrock-certify certify` names the AWS account, from STS
 * `GetCallerIdentity` with Bedrock's endpoint and credentials — on the emulator, the scenario's
 * `account` — and an STS failure leaves `account: null` with one warning line while the job
 * completes and every report is written. STS is not asked when no manifest is written.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { BedrockEmulator } from "@myia/certification/emulator"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cleanEnv, runCli, schemaErrors } from "./support.ts"

const tmp = mkdtempSync(join(tmpdir(), "bedrock-certify-account-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const out = (name: string) => join(tmp, name)
const nova = "amazon.nova-lite-v1:0"

const scenarioFile = (name: string, scenario: Record<string, unknown>) => {
  writeFileSync(out(name), JSON.stringify({ timeScale: 0, ...scenario }))
  return out(name)
}
const manifestOf = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>

describe("the manifest's account", () => {
  it("an emulator run names the scenario's account", async () => {
    const ran = await runCli([
      "certify", "--emulator", "--scenario", scenarioFile("acct.json", { account: "444455556666" }),
      "--models", nova, "--regions", "eu-west-1", "--no-table", "-o", out("a.manifest.json")
    ])
    assert.strictEqual(ran.status, 0, `stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
    const manifest = manifestOf(out("a.manifest.json"))
    assert.strictEqual(schemaErrors("manifest", manifest), "")
    assert.strictEqual(manifest["account"], "444455556666")
    assert.notInclude(ran.stderr, "warning:")
  }, 60_000)

  it("an STS failure: account null, one warning, the job completes and every report is written", async () => {
    const ran = await runCli([
      "certify", "--emulator", "--scenario", scenarioFile("fail.json", { account: "444455556666", identityError: "InternalFailure" }),
      "--models", nova, "--regions", "us-east-1", "--no-table", "-o", out("f.manifest.json"), "-o", out("f.json")
    ])
    assert.strictEqual(ran.status, 0, `stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
    assert.include(ran.stdout, "Job COMPLETED")
    const manifest = manifestOf(out("f.manifest.json"))
    assert.strictEqual(schemaErrors("manifest", manifest), "")
    assert.isNull(manifest["account"])
    assert.isAbove((manifest["entries"] as ReadonlyArray<unknown>).length, 0)
    const results = JSON.parse(readFileSync(out("f.json"), "utf8")) as { readonly job: { readonly status: string } }
    assert.strictEqual(results.job.status, "COMPLETED")
    const warnings = ran.stderr.split("\n").filter((l) => l.startsWith("warning:"))
    assert.deepStrictEqual(warnings.length, 1, ran.stderr)
    assert.include(warnings[0]!, "GetCallerIdentity in us-east-1")
    assert.include(warnings[0]!, "unknown error")
  }, 60_000)

  it("live with an endpoint override: STS goes to that endpoint with the default chain's credentials", async () => {
    const emulator = await BedrockEmulator.start({ port: 0, scenario: { timeScale: 0, account: "777788889999" } })
    try {
      const secret = "not-a-secret-live-key"
      const ran = await runCli(
        ["certify", "--endpoint", emulator.url, "--models", nova, "--regions", "us-east-1", "--no-table", "-o", out("l.manifest.json")],
        { env: cleanEnv({ AWS_ACCESS_KEY_ID: "AKIDLIVEACCOUNT", AWS_SECRET_ACCESS_KEY: secret }) }
      )
      assert.strictEqual(ran.status, 0, `stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
      assert.strictEqual(manifestOf(out("l.manifest.json"))["account"], "777788889999")
      const identityCalls = emulator.requests().filter((r) => r.operation === "GetCallerIdentity")
      assert.strictEqual(identityCalls.length, 1)
      assert.strictEqual(identityCalls[0]!.region, "us-east-1")
      assert.notInclude(ran.stdout + ran.stderr, secret)
    } finally {
      await emulator.close()
    }
  }, 60_000)

  it("no manifest requested: STS is not asked", async () => {
    const emulator = await BedrockEmulator.start({ port: 0, scenario: { timeScale: 0 } })
    try {
      const ran = await runCli(
        ["certify", "--endpoint", emulator.url, "--models", nova, "--regions", "us-east-1", "--no-table", "-o", out("n.json")],
        { env: cleanEnv({ AWS_ACCESS_KEY_ID: "AKIDNOMANIFEST", AWS_SECRET_ACCESS_KEY: "not-a-secret" }) }
      )
      assert.strictEqual(ran.status, 0, `stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
      assert.isAbove(emulator.requests().length, 0)
      assert.deepStrictEqual(emulator.requests().filter((r) => r.operation === "GetCallerIdentity"), [])
    } finally {
      await emulator.close()
    }
  }, 60_000)
})
