/**
 * The README's main job, run as a user runs it: `pnpm demo` (the `bedrock-certify certify` command
 * on the built-in emulator scenario) in a child process, on a tiny set of models. Its results file
 * and manifest validate against the JSON Schemas core ships.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll } from "vitest"
import { Ajv2020 } from "ajv/dist/2020.js"
import manifestSchema from "@myia/certification/json-schemas/capability-manifest.v1.schema.json" with { type: "json" }
import resultsSchema from "@myia/certification/json-schemas/certification-results.v1.schema.json" with { type: "json" }

// The JSON Schema files core ships, through its exports map, as a user's validator loads them.
const ajv = new Ajv2020({ allErrors: true, strict: false })
const validators = { results: ajv.compile(resultsSchema), manifest: ajv.compile(manifestSchema) }
const schemaErrors = (which: keyof typeof validators, document: unknown) =>
  validators[which](document) ? "" : ajv.errorsText(validators[which].errors)

const repoRoot = resolve(import.meta.dirname, "../../..")
const tmp = mkdtempSync(join(tmpdir(), "quickstart-test-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

// pnpm runs the script on the Node of the root devDependency; the child gets the test's PATH.
const run = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync("pnpm", ["--silent", "demo", ...args], { cwd: repoRoot, env, encoding: "utf8", timeout: 50_000 })

/** The part of the results file a user relies on. */
const ResultsFile = Schema.Struct({
  job: Schema.Struct({ id: Schema.String, status: Schema.String }),
  units: Schema.Array(Schema.Struct({
    modelId: Schema.String,
    region: Schema.String,
    verdict: Schema.String,
    score: Schema.NullOr(Schema.Number),
    grade: Schema.NullOr(Schema.String),
    errorCategory: Schema.NullOr(Schema.String),
    invocationTarget: Schema.NullOr(Schema.Unknown),
    tests: Schema.Array(Schema.Struct({ id: Schema.String, status: Schema.String, latencyMs: Schema.NullOr(Schema.Number) }))
  }))
})
const decodeResults = Schema.decodeUnknownSync(Schema.fromJsonString(ResultsFile))

const Manifest = Schema.Struct({
  entries: Schema.Array(Schema.Struct({
    modelId: Schema.String,
    region: Schema.String,
    capabilities: Schema.Record(Schema.String, Schema.String)
  }))
})
const decodeManifest = Schema.decodeUnknownSync(Schema.fromJsonString(Manifest))

describe("quickstart main", () => {
  const nova = "amazon.nova-lite-v1:0"
  const llama = "meta.llama3-8b-instruct-v1:0"

  it("certifies a tiny set of models and writes the results file and manifest", () => {
    const json = join(tmp, "r.json")
    const manifest = join(tmp, "m.manifest.json")
    // The demo's own two files land in the working directory; -o adds these two.
    const out = run(["--models", `${nova},${llama}`, "--regions", "us-east-1", "-o", json, "-o", manifest, "--no-table"])
    assert.strictEqual(out.status, 0, `exit ${out.status}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`)
    assert.include(out.stdout, "Job COMPLETED")
    assert.include(out.stdout, `Wrote ${json}`)

    assert.strictEqual(schemaErrors("results", JSON.parse(readFileSync(json, "utf8"))), "")
    assert.strictEqual(schemaErrors("manifest", JSON.parse(readFileSync(manifest, "utf8"))), "")
    const results = decodeResults(readFileSync(json, "utf8"))
    assert.strictEqual(results.job.status, "COMPLETED")
    assert.isAbove(results.job.id.length, 0)
    assert.strictEqual(results.units.length, 2)
    const byModel = new Map(results.units.map((u) => [u.modelId, u]))
    const novaUnit = byModel.get(nova)
    const llamaUnit = byModel.get(llama)
    assert.isDefined(novaUnit)
    assert.isDefined(llamaUnit)
    assert.strictEqual(novaUnit!.verdict, "CERTIFIED")
    assert.strictEqual(novaUnit!.region, "us-east-1")
    assert.isNotNull(novaUnit!.score)
    assert.isNotNull(novaUnit!.invocationTarget)
    // The demo scenario makes llama3-8b answer wrong: a judged failure, not an environment problem.
    assert.strictEqual(llamaUnit!.verdict, "FAILED")
    assert.strictEqual(llamaUnit!.errorCategory, "QUALITY")
    assert.isTrue(novaUnit!.tests.every((t) => t.status === "PASSED" || t.status === "SKIPPED"))
    const judged = llamaUnit!.tests.find((t) => t.status === "FAILED")
    assert.isDefined(judged, "llama3-8b has a judged (FAILED) test")
    assert.isNumber(judged!.latencyMs)
    for (const unit of results.units) assert.isTrue(unit.tests.some((t) => t.id === "connectivity"), unit.modelId)

    const entries = decodeManifest(readFileSync(manifest, "utf8")).entries
    assert.strictEqual(entries.length, results.units.length)
    assert.deepStrictEqual(entries.map((e) => e.modelId).sort(), [nova, llama].sort())
    for (const e of entries) assert.isAbove(Object.keys(e.capabilities).length, 0, e.modelId)

    // Issue #18: the demo's own manifest (in the working directory) is a capability manifest, and
    // both name the emulator's account, as STS GetCallerIdentity answers it.
    const own = JSON.parse(readFileSync(join(repoRoot, "capability.manifest.json"), "utf8")) as Record<string, unknown>
    assert.strictEqual(schemaErrors("manifest", own), "")
    assert.strictEqual(own["kind"], "myia.certification/capability-manifest")
    assert.strictEqual(own["account"], "123456789012")
    assert.strictEqual((JSON.parse(readFileSync(manifest, "utf8")) as Record<string, unknown>)["account"], "123456789012")
  })

  it("rejects an unknown flag with a one-line reason and exit 2", () => {
    const out = run(["--no-such-flag"])
    assert.strictEqual(out.status, 2, out.stderr)
    assert.include(out.stderr, "no-such-flag")
  })

  it("--store postgres without DATABASE_URL exits 2 naming DATABASE_URL", () => {
    const { DATABASE_URL: _, ...env } = process.env
    const out = run(["--store", "postgres", "--models", nova, "--regions", "us-east-1"], env)
    assert.strictEqual(out.status, 2, out.stderr)
    assert.include(out.stderr, "DATABASE_URL")
  })
})
