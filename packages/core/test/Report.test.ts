/**
 * The shipped JSON Schema files are what the Effect Schemas generate (so they cannot drift), and a
 * results file and manifest built from units decode with those Schemas.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Domain, ErrorCategory, Report } from "../src/index.ts"
import * as Fixtures from "../src/testing/Fixtures.ts"

const folder = join(import.meta.dirname, "..", "json-schemas")

describe("Report JSON Schemas", () => {
  it("every shipped file equals what scripts/build-json-schemas.ts generates", () => {
    for (const [name, document] of Object.entries(Report.jsonSchemaFiles())) {
      const shipped = JSON.parse(readFileSync(join(folder, name), "utf8")) as unknown
      assert.deepStrictEqual(shipped, document, `json-schemas/${name} is stale: run node packages/core/scripts/build-json-schemas.ts`)
    }
  })

  it("each document's $id is the URL its documents name in $schema", () => {
    const files = Report.jsonSchemaFiles()
    assert.strictEqual(files["certification-results.v1.schema.json"]!["$id"], Report.resultsSchemaUrl)
    assert.strictEqual(files["capability-manifest.v1.schema.json"]!["$id"], Report.manifestSchemaUrl)
    assert.isTrue(Report.resultsSchemaUrl.endsWith("/json-schemas/certification-results.v1.schema.json"))
  })

  it("the schemas reject a document of another kind or version", () => {
    const decode = Schema.decodeUnknownResult(Report.ResultsFile)
    const base = { kind: "myia.certification/results", version: 1, generatedAt: null, summary: { byVerdict: {}, byRegion: {} }, units: [] }
    const job = {
      id: "j", type: "SINGLE_MODEL", status: "COMPLETED", modelIds: [], regions: [], totalUnits: 0, createdBy: null,
      parentJobId: null, reason: null, createdAt: "2026-12-01T00:00:00.000Z", startedAt: null, completedAt: null, cancelledAt: null
    }
    assert.strictEqual(decode({ ...base, job })._tag, "Success")
    assert.strictEqual(decode({ ...base, job, version: 2 })._tag, "Failure")
    assert.strictEqual(decode({ ...base, job, kind: "other" })._tag, "Failure")
  })

  it("the manifest tells 'the registry says no' (declared-no, not measured) from 'measured no'", () => {
    const result = (id: string, status: Domain.TestStatus, extra: Partial<Domain.TestResult> = {}) =>
      new Domain.TestResult({
        id, name: id, status, critical: false, weight: 1, latencyMs: 100, ttftMs: null, outputTokensPerSecond: null,
        attempts: 1, detail: null, error: null, ...extra
      })
    const job = Fixtures.makeJob({})
    const unit = Fixtures.makeUnit(job, {
      status: "CERTIFIED",
      completedAt: "2026-12-01T00:00:00.000Z" as Domain.Timestamp,
      tests: [
        result("connectivity", "PASSED"),
        result("vision", "SKIPPED", { detail: "registry marks vision unsupported" }),
        result("tool-use", "FAILED", {
          error: ErrorCategory.make("UNSUPPORTED_FEATURE", { message: "tools are not supported" })
        }),
        result("streaming", "SKIPPED", { detail: "a critical test failed first" })
      ]
    })
    const [entry] = Report.manifest([unit], { generatedAt: "2026-12-01T00:00:00.000Z" }).entries
    assert.deepStrictEqual(entry!.capabilities, {
      converse: "yes",
      vision: "declared-no",
      toolUse: "no",
      streaming: "untested"
    })
  })
})
