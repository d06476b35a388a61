import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as PgClient from "../src/PgClient.ts"
import { clientLayer, skip } from "./PgTest.ts"

describe("PgClient", () => {
  describe("error code table", () => {
    // Every row of the table maps as written.
    for (const [code, reason] of Object.entries(PgClient.errorCodes)) {
      it(`${code} → ${reason}`, () => {
        assert.strictEqual(PgClient.reasonOfCode(code), reason)
      })
    }
    // SQLSTATEs not listed fall back to their class, then to StorageUnknown.
    const fallbacks: ReadonlyArray<readonly [string | undefined, PgClient.ReasonTag]> = [
      ["08006", "StorageUnavailable"],
      ["08001", "StorageUnavailable"],
      ["23505", "StorageInvalid"],
      ["23503", "StorageInvalid"],
      ["22P02", "StorageInvalid"],
      ["22003", "StorageInvalid"],
      ["42P01", "StorageUnknown"],
      ["57014", "StorageUnknown"],
      ["XX000", "StorageUnknown"],
      ["EWHATEVER", "StorageUnknown"],
      [undefined, "StorageUnknown"]
    ]
    for (const [code, reason] of fallbacks) {
      it(`${code ?? "no code"} → ${reason}`, () => {
        assert.strictEqual(PgClient.reasonOfCode(code), reason)
      })
    }

    it("finds the code inside an AggregateError (dual-stack connect)", () => {
      const error = new AggregateError([Object.assign(new Error("connect"), { code: "ECONNREFUSED" })], "failed")
      assert.strictEqual(PgClient.toStorageError("op")(error).reason._tag, "StorageUnavailable")
    })
  })

  it.effect("a closed port is StorageUnavailable (retryable) and the message carries no password", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.gen(function*() {
          const client = yield* PgClient.PgClient
          return yield* client.run("probe", (sql) => sql`SELECT 1`)
        }).pipe(
          Effect.provide(PgClient.layer({ url: Redacted.make("postgres://postgres:s3cret@127.0.0.1:1/test"), max: 1 }))
        )
      )
      assert.strictEqual(error._tag, "StorageError")
      assert.strictEqual(error.reason._tag, "StorageUnavailable")
      assert.isTrue(error.isRetryable)
      assert.notInclude(error.message, "s3cret")
    }))

  describe.skipIf(skip)("against PostgreSQL", () => {
    layer(clientLayer, { timeout: "60 seconds" })("real errors", (it) => {
      const cases: ReadonlyArray<readonly [string, string, PgClient.ReasonTag]> = [
        ["unique violation", "CREATE TEMP TABLE t1 (id int PRIMARY KEY); INSERT INTO t1 VALUES (1), (1)", "StorageInvalid"],
        ["bad input syntax", "SELECT 'x'::int", "StorageInvalid"],
        ["division by zero", "SELECT 1 / 0", "StorageInvalid"],
        ["serialization failure", "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$", "StorageConflict"],
        ["deadlock", "DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$", "StorageConflict"],
        ["admin shutdown", "DO $$ BEGIN RAISE EXCEPTION 'bye' USING ERRCODE = '57P01'; END $$", "StorageUnavailable"],
        ["undefined table", "SELECT * FROM no_such_table_here", "StorageUnknown"]
      ]
      for (const [name, statement, reason] of cases) {
        it.effect(`${name} from the server maps to ${reason}`, () =>
          Effect.gen(function*() {
            const client = yield* PgClient.PgClient
            const error = yield* Effect.flip(
              client.transaction("test", (tx) => client.run("test", () => tx.unsafe(statement).simple()))
            )
            assert.strictEqual(error.reason._tag, reason)
          }))
      }

      it.effect("a failed transaction rolls back and its connection goes back to the pool", () =>
        Effect.gen(function*() {
          const client = yield* PgClient.PgClient
          const table = client.sql(`pg_client_rollback_${crypto.randomUUID().slice(0, 8)}`)
          yield* client.run("test", (sql) => sql`CREATE TABLE ${table} (id int)`)
          yield* Effect.flip(client.transaction("test", (tx) =>
            client.run("test", () => tx`INSERT INTO ${table} VALUES (1)`).pipe(
              Effect.andThen(client.run("test", () => tx`SELECT 1 / 0`))
            )))
          const rows = yield* client.run("test", (sql) => sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${table}`)
          yield* client.run("test", (sql) => sql`DROP TABLE ${table}`)
          assert.strictEqual(rows[0]!.n, 0)
        }))
    })
  })
})
