/**
 * The shipped JSON Schema files are what the Effect Schemas generate (so they cannot drift), and a
 * results file and manifest built from units decode with those Schemas.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Report } from "../src/index.ts"

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
})
