/**
 * Test harness for the PostgreSQL adapter: a real server, a fresh schema per test run.
 *
 * Each run gets its own schema (`cert_test_<random>`) so runs never collide. The schema is dropped
 * after the run only if every test passed, so a failed run leaves its rows behind as evidence.
 * Without a reachable server the tests are skipped locally but FAIL when `CI` is set.
 */
import { afterAll, beforeEach } from "@effect/vitest"
import { Domain, type Storage } from "@myia/certification"
import { Fixtures } from "@myia/certification/testing"
import * as Layer from "effect/Layer"
import * as net from "node:net"
import postgres from "postgres"
import * as PgClient from "../src/PgClient.ts"
import * as PgStorage from "../src/PgStorage.ts"

/** The test database (trust auth on the project's machines). */
export const url = process.env["CERTIFICATION_PG_TEST_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"

const probe = (): Promise<boolean> => {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 5432) })
    socket.setTimeout(2_000)
    socket.once("connect", () => {
      socket.end()
      resolve(true)
    })
    socket.once("timeout", () => {
      socket.destroy()
      resolve(false)
    })
    socket.once("error", () => resolve(false))
  })
}

/** Whether to skip: only when PostgreSQL is unreachable and we are not in CI (in CI the tests run and fail). */
export const skip = !(await probe()) && process.env["CI"] === undefined

/** A fresh schema name for one test run. */
export const freshSchema = (): string => `cert_test_${Math.random().toString(36).slice(2, 10)}`

/**
 * Register the run's schema: dropped after the file's tests only if none failed. Returns the
 * schema name; call once at the top of a test file.
 */
export const useSchema = (): string => {
  const schema = freshSchema()
  let failed = false
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      failed = true
    })
  })
  afterAll(async () => {
    if (skip) return
    if (failed) {
      console.error(`PostgreSQL test run failed: schema "${schema}" kept for inspection`)
      return
    }
    const sql = postgres(url, { max: 1, onnotice: () => {} })
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await sql.end({ timeout: 5 })
  })
  return schema
}

/** A pool on the test database, closed with the layer. */
export const clientLayer: Layer.Layer<PgClient.PgClient, Storage.StorageError> = PgClient.layer({ url, max: 4 })

/** Storage on a fresh schema of the test database, with its own pool (migrates on build). */
export const storageLayer = (
  schema: string
): Layer.Layer<Storage.Storage | PgClient.PgClient, Storage.StorageError> =>
  Layer.provideMerge(PgStorage.layer({ schema }), clientLayer)

// ---------------------------------------------------------------------------------------------
// Builders (local, so these tests do not depend on the emulator behind the testing barrel)
// ---------------------------------------------------------------------------------------------

const fresh = (): string => crypto.randomUUID()

/** A job of `modelIds × regions`, created at `createdAt`. */
export const job = (options: {
  readonly models?: number
  readonly regions?: ReadonlyArray<string>
  readonly modelIds?: ReadonlyArray<string>
  readonly status?: Domain.JobStatus
  readonly createdAt?: string
} = {}): Domain.Job => {
  const modelIds = (options.modelIds ?? Array.from({ length: options.models ?? 1 }, () => `test.model-${fresh().slice(0, 8)}`)) as Array<Domain.ModelId>
  const regions = (options.regions ?? ["us-east-1"]) as Array<Domain.Region>
  const createdAt = options.createdAt ?? new Date().toISOString()
  return new Domain.Job({
    id: fresh() as Domain.JobId,
    type: "MULTIPLE_MODELS",
    status: options.status ?? "QUEUED",
    modelIds,
    regions,
    totalUnits: modelIds.length * regions.length,
    config: new Domain.JobConfig({ certifyThreshold: 80, validityDays: 30, suiteVersion: "1.0.0" }),
    createdBy: "pg-test",
    parentJobId: null,
    reason: null,
    createdAt,
    updatedAt: createdAt,
    startedAt: null,
    completedAt: null,
    cancelledAt: null
  })
}

/** One PENDING unit per (model, region) of the job. */
export const units = (j: Domain.Job): Array<Domain.Unit> =>
  j.modelIds.flatMap((modelId) =>
    j.regions.map((region) =>
      Domain.pendingUnit({
        id: fresh() as Domain.UnitId,
        jobId: j.id,
        modelId,
        hostModelId: null,
        region,
        createdAt: j.createdAt
      })
    )
  )

/** A terminal outcome with one passed test and a finding that names who wrote it. */
export const outcome = (verdict: Domain.Verdict, writer: string): Domain.UnitOutcome =>
  new Domain.UnitOutcome({
    verdict,
    invocationTarget: new Domain.InvocationTarget({ kind: "ON_DEMAND", id: "test.model" }),
    suiteVersion: "1.0.0",
    tests: [Fixtures.makeTestResult({ latencyMs: 12.5 })],
    score: 91.25,
    grade: "A",
    stars: 4.5,
    error: null,
    findings: [`written by ${writer}`]
  })
