/**
 * The commands on stored jobs, on a real PostgreSQL (127.0.0.1:5432, or `CERTIFICATION_PG_TEST_URL`):
 * `migrate`, `certify --store postgres`, then `status JOB`, `history` and `export JOB -o …` from
 * separate processes, each reading what the first one stored. Fails (never skips) when the
 * database is down.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Queue } from "bullmq"
import postgres from "postgres"
import { cleanEnv, runCli, schemaErrors } from "./support.ts"

const url = process.env["CERTIFICATION_PG_TEST_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
const schema = `cli_test_${Math.random().toString(36).slice(2, 10)}`
const env = cleanEnv({ DATABASE_URL: url, CERTIFICATION_PG_SCHEMA: schema })
const tmp = mkdtempSync(join(tmpdir(), "bedrock-certify-stored-"))

const queueName = `cli-recertify-${Math.random().toString(36).slice(2, 10)}`

afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true })
  const queue = new Queue(queueName, { connection: { host: "127.0.0.1", port: 6379 } })
  await queue.obliterate({ force: true }).catch(() => {})
  await queue.close()
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await sql.end()
})

describe("bedrock-certify on PostgreSQL", () => {
  it("migrate, certify --store postgres, then status, history and export read the stored job", async () => {
    const migrated = await runCli(["migrate"], { env })
    assert.strictEqual(migrated.status, 0, migrated.stderr)
    assert.include(migrated.stdout, `schema "${schema}": applied migration(s)`)
    const again = await runCli(["migrate"], { env })
    assert.include(again.stdout, "is up to date")

    const certified = await runCli(
      ["certify", "--emulator", "--store", "postgres", "--models", "amazon.nova-lite-v1:0", "--regions", "us-east-1,us-west-2"],
      { env }
    )
    assert.strictEqual(certified.status, 0, certified.stderr)
    const jobId = /Job ([0-9a-f-]{36}):/.exec(certified.stdout)?.[1]
    assert.isDefined(jobId, certified.stdout)

    const status = await runCli(["status", jobId!, "--json"], { env })
    assert.strictEqual(status.status, 0, status.stderr)
    const results = JSON.parse(status.stdout) as { readonly job: { readonly id: string; readonly status: string } }
    assert.strictEqual(schemaErrors("results", results), "")
    assert.strictEqual(results.job.id, jobId)
    assert.strictEqual(results.job.status, "COMPLETED")

    const history = await runCli(["history", "--status", "COMPLETED"], { env })
    assert.strictEqual(history.status, 0, history.stderr)
    assert.include(history.stdout, jobId!)
    assert.include(history.stdout, "(1 jobs)")

    const csv = join(tmp, "job.csv")
    const exported = await runCli(["export", jobId!, "-o", csv], { env })
    assert.strictEqual(exported.status, 0, exported.stderr)
    assert.strictEqual(readFileSync(csv, "utf8").trimEnd().split("\r\n").length, 1 + 2)

    const missing = await runCli(["status", "00000000-0000-4000-8000-000000000000"], { env })
    assert.strictEqual(missing.status, 1)
    assert.match(missing.stderr, /bedrock-certify: JobNotFound/)
  }, 120_000)

  // Continuous certification (issue 14): runs after the test above, on the results it stored.
  it("recertify queues a RECERTIFY job for the stored results a selection picks; nothing matching exits 0", async () => {
    const withQueue = { ...env, CERTIFICATION_QUEUE_NAME: queueName, REDIS_URL: "redis://127.0.0.1:6379" }
    const none = await runCli(["recertify", "--verdicts", "FAILED"], { env: withQueue })
    assert.strictEqual(none.status, 0, none.stderr)
    assert.include(none.stdout, "Nothing to recertify: no latest result matches the selection")

    const queued = await runCli(["recertify", "--verdicts", "CERTIFIED", "--regions", "us-east-1", "--json"], { env: withQueue })
    assert.strictEqual(queued.status, 0, queued.stderr)
    const result = JSON.parse(queued.stdout)
    assert.strictEqual(result.job.type, "RECERTIFY")
    assert.deepStrictEqual(result.selected.map((s: any) => [s.modelId, s.region, s.reason]), [
      ["amazon.nova-lite-v1:0", "us-east-1", "requested"]
    ])
    const sql = postgres(url, { max: 1, onnotice: () => {} })
    const rows = await sql<Array<{ type: string; status: string; total_units: number; created_by: string }>>`
      SELECT type, status, total_units, created_by FROM ${sql(schema)}.jobs WHERE id = ${result.job.jobId}`
    await sql.end()
    assert.deepStrictEqual(rows.map((r) => [r.type, r.status, r.total_units, r.created_by]), [
      ["RECERTIFY", "QUEUED", 1, "bedrock-certify"]
    ])
    const waiting = new Queue(queueName, { connection: { host: "127.0.0.1", port: 6379 } })
    const counts = await waiting.getJobCounts("waiting", "prioritized")
    await waiting.close()
    assert.strictEqual((counts.waiting ?? 0) + (counts.prioritized ?? 0), 1)

    const negative = await runCli(["recertify", "--expiring-within", "-1"], { env: withQueue })
    assert.strictEqual(negative.status, 2, negative.stderr)
    assert.include(negative.stderr, "--expiring-within")
    const region = await runCli(["recertify", "--regions", "moon-1"], { env: withQueue })
    assert.strictEqual(region.status, 2, region.stderr)
    assert.include(region.stderr, "moon-1")
  }, 120_000)
})
