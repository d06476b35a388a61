/**
 * `bedrock-certify certify` as a CI job runs it: a child process on the built-in emulator (real
 * AWS SDK client, real sockets), its exit codes, its one-line reasons, and the reports it writes —
 * the results file and manifest against the JSON Schemas core ships, the JUnit file through a JUnit
 * consumer library (`test-results-parser`), the CSV row count.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { BedrockEmulator } from "@myia/certification/emulator"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parse } from "test-results-parser"
import { cleanEnv, reasonLines, runCli, schemaErrors } from "./support.ts"

const tmp = mkdtempSync(join(tmpdir(), "bedrock-certify-test-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const nova = "amazon.nova-lite-v1:0"
const llama = "meta.llama3-8b-instruct-v1:0" // answers wrong in the built-in demo scenario

interface Results {
  readonly kind: string
  readonly version: number
  readonly units: ReadonlyArray<{
    readonly modelId: string
    readonly region: string
    readonly verdict: string
    readonly tests: ReadonlyArray<{ readonly id: string; readonly status: string }>
  }>
}

describe("bedrock-certify certify", () => {
  it("a wrong-answer model: exit 100 naming it, and every report written and valid", async () => {
    const out = (name: string) => join(tmp, name)
    const ran = await runCli([
      "certify", "--emulator", "--models", `${nova},${llama}`, "--regions", "us-east-1,eu-west-1",
      "-o", out("out.xml"), "-o", out("out.json"), "-o", out("out.csv"), "-o", out("out.md"), "-o", out("out.manifest.json")
    ])
    assert.strictEqual(ran.status, 100, `stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
    const reasons = reasonLines(ran.stderr)
    assert.strictEqual(reasons.length, 1, ran.stderr)
    assert.include(reasons[0]!, `${llama}@us-east-1 FAILED`)
    assert.include(ran.stdout, "Job COMPLETED")

    const results = JSON.parse(readFileSync(out("out.json"), "utf8")) as Results
    assert.strictEqual(schemaErrors("results", results), "")
    assert.strictEqual(results.kind, "myia.certification/results")
    assert.strictEqual(results.version, 1)
    const manifest = JSON.parse(readFileSync(out("out.manifest.json"), "utf8")) as { readonly entries: ReadonlyArray<unknown> }
    assert.strictEqual(schemaErrors("manifest", manifest), "")
    assert.strictEqual(manifest.entries.length, results.units.length)
    const verdicts = Object.fromEntries(results.units.map((u) => [`${u.modelId}|${u.region}`, u.verdict]))
    assert.strictEqual(verdicts[`${llama}|us-east-1`], "FAILED")
    assert.strictEqual(verdicts[`${nova}|us-east-1`], "CERTIFIED")
    assert.strictEqual(verdicts[`${nova}|eu-west-1`], "CERTIFIED")

    // The JUnit file as a CI reporter reads it: one suite per unit, its failures = the FAILED tests.
    const junit = parse({ type: "junit", files: [out("out.xml")] })
    assert.strictEqual(junit.suites.length, results.units.length)
    const failedTests = results.units.flatMap((u) => u.tests.filter((t) => t.status === "FAILED"))
    assert.isAbove(failedTests.length, 0)
    const failedCases = junit.suites.flatMap((s) => s.cases.filter((c) => c.status === "FAIL"))
    assert.strictEqual(failedCases.length, failedTests.length)
    assert.strictEqual(junit.failed, failedTests.length)
    for (const suite of junit.suites) {
      const unit = results.units.find((u) => suite.name.startsWith(u.modelId) && suite.name.endsWith(u.region))
      assert.isDefined(unit, suite.name)
      assert.deepStrictEqual(suite.cases.map((c) => c.name), unit!.tests.map((t) => t.id))
    }
    const failure = readFileSync(out("out.xml"), "utf8")
    assert.match(failure, /<failure message="[^"]+" type="QUALITY">/)

    const csv = readFileSync(out("out.csv"), "utf8").trimEnd().split("\r\n")
    assert.strictEqual(csv.length, results.units.length + 1)
    assert.match(csv[0]!, /^modelId,hostModelId,region,verdict,/)
    assert.include(readFileSync(out("out.md"), "utf8"), `| ${llama} | us-east-1 | FAILED |`)
  }, 60_000)

  it("all units healthy: exit 0 and no reason on stderr", async () => {
    const ran = await runCli(["certify", "--emulator", "--models", nova, "--regions", "us-east-1", "--no-table"])
    assert.strictEqual(ran.status, 0, ran.stderr)
    assert.deepStrictEqual(reasonLines(ran.stderr), [])
    assert.notInclude(ran.stdout, "MODEL  ")
  }, 60_000)

  it("--fail-on none lets the wrong answer pass the gate; --fail-on CERTIFIED fails it", async () => {
    const none = await runCli(["certify", "--emulator", "--models", llama, "--regions", "us-east-1", "--fail-on", "none"])
    assert.strictEqual(none.status, 0, none.stderr)
    const certified = await runCli([
      "certify", "--emulator", "--models", nova, "--regions", "us-east-1", "--fail-on", "CERTIFIED"
    ], { env: cleanEnv() })
    assert.strictEqual(certified.status, 100, certified.stderr)
  }, 60_000)

  it.each([
    [["certify", "--emulator", "--no-such-flag"], "no-such-flag"],
    [["certify", "--emulator", "--regions", "us-east-1", "-o", "report.txt"], "unknown format"],
    [["certify", "--emulator", "--regions", "us-east-1", "--fail-on", "BROKEN"], "unknown verdict BROKEN"],
    [["certify", "--emulator", "--models", nova, "--all", "--regions", "us-east-1"], "either --models or --all"],
    [["certify", "--emulator", "--models", nova], "--regions"],
    [["certify", "--scenario", "x.json", "--regions", "us-east-1"], "--scenario needs --emulator"],
    [["certify", "--emulator", "--regions", "us-east-1", "--concurrency", "0"], "--concurrency"],
    [["status"], "job"]
  ])("usage error %j: exit 2 with one line naming %s", async (args, names) => {
    const ran = await runCli(args)
    assert.strictEqual(ran.status, 2, `stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
    const reasons = reasonLines(ran.stderr)
    assert.strictEqual(reasons.length, 1, ran.stderr)
    assert.include(reasons[0]!, names)
    assert.notInclude(ran.stdout, "Job ")
  }, 30_000)

  it("invalid credentials (default chain, endpoint override): the job FAILS and the exit is 1", async () => {
    const emulator = await BedrockEmulator.start({ port: 0, scenario: { timeScale: 0 } })
    try {
      const ran = await runCli(["certify", "--endpoint", emulator.url, "--models", nova, "--regions", "us-east-1"], {
        env: cleanEnv({ AWS_ACCESS_KEY_ID: "AKIDINVALIDCLI", AWS_SECRET_ACCESS_KEY: "not-a-secret" })
      })
      assert.strictEqual(ran.status, 1, `stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`)
      const reasons = reasonLines(ran.stderr)
      assert.strictEqual(reasons.length, 1, ran.stderr)
      assert.match(reasons[0]!, /FAILED/)
      assert.notInclude(ran.stdout + ran.stderr, "not-a-secret")
      assert.isAbove(emulator.requests().length, 0, "the CLI reached the endpoint")
    } finally {
      await emulator.close()
    }
  }, 60_000)

  it.each([["certify"], ["status"], ["history"], ["export"], ["emulator"], ["migrate"]])(
    "%s --help prints its usage and exits 0",
    async (name) => {
      const ran = await runCli([name, "--help"])
      assert.strictEqual(ran.status, 0, ran.stderr)
      assert.include(ran.stdout, `bedrock-certify ${name}`)
    },
    30_000
  )
})
