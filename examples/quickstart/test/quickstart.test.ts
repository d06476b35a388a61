/**
 * The README's main job, run as a user runs it: the quickstart script in a child Node process,
 * against its built-in emulator scenario, on a tiny set of models.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll } from "vitest"

const repoRoot = resolve(import.meta.dirname, "../../..")
const main = "examples/quickstart/src/main.ts"
const tmp = mkdtempSync(join(tmpdir(), "quickstart-test-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const run = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, ["--conditions=@myia/source", main, ...args], {
    cwd: repoRoot,
    env: { ...env, INIT_CWD: repoRoot },
    encoding: "utf8",
    timeout: 50_000
  })

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
    const manifest = join(tmp, "m.json")
    const out = run(["--models", `${nova},${llama}`, "--regions", "us-east-1", "--json", json, "--manifest", manifest, "--no-table"])
    assert.strictEqual(out.status, 0, `exit ${out.status}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`)
    assert.include(out.stdout, "Job COMPLETED")

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
  })

  it("rejects an unknown flag with a message and a non-zero exit", () => {
    const out = run(["--no-such-flag"])
    assert.notStrictEqual(out.status, 0)
    assert.include(out.stderr, "no-such-flag")
  })

  it("--store postgres without DATABASE_URL exits 2 naming DATABASE_URL", () => {
    const { DATABASE_URL: _, ...env } = process.env
    const out = run(["--store", "postgres", "--models", nova, "--regions", "us-east-1"], env)
    assert.strictEqual(out.status, 2, out.stderr)
    assert.include(out.stderr, "DATABASE_URL")
  })
})
