import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as PgClient from "../src/PgClient.ts"
import * as PgMigrations from "../src/PgMigrations.ts"
import { clientLayer, freshSchema, skip, useSchema } from "./PgTest.ts"

const schema = useSchema()
const concurrentSchema = useSchema()

const appliedVersions = (s: string) =>
  Effect.gen(function*() {
    const client = yield* PgClient.PgClient
    const rows = yield* client.run("test", (sql) =>
      sql<Array<{ version: number }>>`SELECT version FROM ${sql(`${s}.schema_migrations`)} ORDER BY version`)
    return rows.map((r) => r.version)
  })

const everyVersion = PgMigrations.migrations.map((m) => m.version)

describe("PgMigrations", () => {
  describe("schema names", () => {
    const cases: ReadonlyArray<readonly [string, boolean]> = [
      ["certification", true],
      ["cert_test_ab12", true],
      ["_private", true],
      ["Certification", false],
      ["1certification", false],
      ["cert-ification", false],
      ["cert;drop table x", false],
      ["pg_catalog", false],
      ["", false],
      ["a".repeat(64), false]
    ]
    for (const [name, valid] of cases) {
      it(`"${name.slice(0, 20)}" is ${valid ? "accepted" : "rejected"}`, () => {
        assert.strictEqual(PgMigrations.isValidSchemaName(name), valid)
      })
    }
  })

  describe.skipIf(skip)("against PostgreSQL", () => {
    layer(clientLayer, { timeout: "60 seconds" })("run", (it) => {
      it.effect("running twice applies every migration once and the second run is a no-op", () =>
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* PgMigrations.run(schema), everyVersion)
          assert.deepStrictEqual(yield* PgMigrations.run(schema), [])
          assert.deepStrictEqual(yield* appliedVersions(schema), everyVersion)
        }))

      it.effect("concurrent migrators apply each migration exactly once", () =>
        Effect.gen(function*() {
          const results = yield* Effect.all(
            Array.from({ length: 4 }, () => PgMigrations.run(concurrentSchema)),
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(results.flat().sort(), everyVersion)
          assert.strictEqual(results.filter((r) => r.length > 0).length, 1)
          assert.deepStrictEqual(yield* appliedVersions(concurrentSchema), everyVersion)
        }))

      it.effect("an unsafe schema name is refused before any SQL runs", () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(PgMigrations.run(`${freshSchema()}; DROP TABLE x`))
          assert.strictEqual(error.reason._tag, "StorageInvalid")
        }))
    })
  })
})
