/**
 * The served OpenAPI document is a contract a frontend generates a client from (issue 18): it
 * passes Redocly's `recommended` ruleset with no error, every operation has a summary, a
 * description and the bearer scheme, pagination is integers with real bounds, and the version is
 * the package's.
 */
import * as Memory from "@myia/certification-memory"
import { createCertificationHandler } from "@myia/certification-http"
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll } from "vitest"

const base = "/api/certification-queue"
const packageJson = JSON.parse(readFileSync(fileURLToPath(new URL("../package.json", import.meta.url)), "utf8"))
const redocly = fileURLToPath(new URL("../node_modules/.bin/redocly", import.meta.url))

let handler: ReturnType<typeof createCertificationHandler>
let spec: any

beforeAll(async () => {
  handler = createCertificationHandler({
    certification: { storage: Memory.MemoryStorage.layer, queue: Memory.MemoryQueue.layer(), worker: false },
    basePath: base,
    authorize: () => ({ id: "reader", canRead: true, canWrite: false }),
    maxPageSize: 50
  })
  spec = await (await handler.fetch(new Request(`http://host${base}/openapi.json`))).json()
})

afterAll(() => handler.dispose())

const operations = () =>
  Object.entries(spec.paths as Record<string, Record<string, any>>).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method, operation }))
  )

describe("OpenAPI document", () => {
  it("passes Redocly's recommended rules with no error", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "openapi-")), "openapi.json")
    writeFileSync(file, JSON.stringify(spec))
    // `redocly lint` exits non-zero on errors; the JSON report is on stdout either way.
    const result = await promisify(execFile)(redocly, ["lint", "--extends=recommended", "--format=json", file], {
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" }
    }).catch((error: { stdout: string }) => ({ stdout: error.stdout }))
    const report = JSON.parse(result.stdout) as {
      problems: Array<{ severity: string; ruleId: string; message: string; location: Array<{ pointer: string }> }>
    }
    const errors = report.problems
      .filter((p) => p.severity === "error")
      .map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`)
    assert.deepStrictEqual(errors, [])
  })

  it("every operation has a summary, a description and the bearer scheme (except public /health and /ready)", () => {
    assert.deepStrictEqual(spec.components.securitySchemes.bearer, { type: "http", scheme: "Bearer" })
    for (const { path, method, operation } of operations()) {
      const name = `${method.toUpperCase()} ${path}`
      assert.isString(operation.summary, `${name} summary`)
      assert.isString(operation.description, `${name} description`)
      assert.deepStrictEqual(operation.security, ["/health", "/ready"].includes(path) ? [] : [{ bearer: [] }], `${name} security`)
    }
    for (const tag of spec.tags) assert.isString(tag.description, `tag ${tag.name}`)
  })

  it("pagination parameters are integers with real bounds (limit up to the plugin's maxPageSize)", () => {
    for (const path of ["/history", "/certifications"]) {
      const parameters = spec.paths[path].get.parameters as Array<{ name: string; schema: any }>
      const schemaOf = (name: string) => parameters.find((p) => p.name === name)?.schema
      assert.deepInclude(schemaOf("page"), { type: "integer", minimum: 1, default: 1 })
      assert.deepInclude(schemaOf("limit"), { type: "integer", minimum: 1, maximum: 50, default: 20 })
    }
    assert.notInclude(JSON.stringify(spec), String(Number.MAX_SAFE_INTEGER), "no ±2^53 bounds shown as examples")
  })

  it("info.version is the package's version, and the SSE events have a named schema", () => {
    assert.strictEqual(spec.info.version, packageJson.version)
    const sse = spec.paths["/jobs/{jobId}/events"].get.responses[200].content["text/event-stream"]
    const refs = JSON.stringify(sse.schema)
    assert.include(refs, "#/components/schemas/ProgressSseEvent")
    assert.include(refs, "#/components/schemas/HeartbeatSseEvent")
    assert.include(spec.components.schemas.ProgressSseEvent.required, "id")
  })

  it("the create payloads carry examples that are valid requests", () => {
    const example = spec.paths["/certify-model"].post.requestBody.content["application/json"].schema.examples[0]
    assert.deepStrictEqual(Object.keys(example).sort(), ["modelId", "region"])
  })
})
