/**
 * Issue 15: the HTTP plugin's GET /ready reads the process↔database clock offset from
 * `Storage.databaseTime` (real PostgreSQL, which keeps the real time) against the process's `Clock`.
 * A plugin whose clock is set 1 h ahead (and one 1 h behind) answers 200 `degraded` with the offset;
 * one on the database's time answers `ready`; one whose database is down answers 503.
 */
import { createCertificationHandler } from "@myia/certification-http"
import * as Memory from "@myia/certification-memory"
import { PgStorage } from "@myia/certification-postgres"
import { Fixtures } from "@myia/certification/testing"
import { afterAll, assert, describe, it } from "vitest"
import postgres from "postgres"
import { dropSchema, requireServices, runName } from "./services.ts"

const databaseUrl = "postgres://postgres@127.0.0.1:5432/test"
const up = await requireServices()
const hour = 3_600_000

/** The database's now (the reference: under `faketime` this process's own clock is not). */
const databaseNow = async (): Promise<number> => {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  try {
    const [row] = await sql<Array<{ ms: number }>>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`
    return Math.round(row!.ms)
  } finally {
    await sql.end()
  }
}

describe.skipIf(!up)("GET /ready reports the clock offset from the database (issue 15)", () => {
  const schema = runName("ready")
  const handlers: Array<ReturnType<typeof createCertificationHandler>> = []
  /** A plugin on real PostgreSQL whose clock reads the database's now + `offsetMillis`. */
  const plugin = async (offsetMillis: number, url = databaseUrl) => {
    const handler = createCertificationHandler({
      certification: {
        storage: PgStorage.layerFromUrl(url, { schema, max: 1 }),
        queue: Memory.MemoryQueue.layer(),
        worker: false,
        logLevel: "None",
        clock: Fixtures.clockAt((await databaseNow()) + offsetMillis)
      },
      authorize: () => ({ status: 401 }),
      maxClockSkewMillis: 60_000
    })
    handlers.push(handler)
    return handler
  }
  const ready = async (handler: ReturnType<typeof createCertificationHandler>) => {
    const response = await handler.fetch(new Request("http://host/ready"))
    return { status: response.status, json: (await response.json()) as any }
  }

  afterAll(async () => {
    await Promise.all(handlers.map((h) => h.dispose()))
    await dropSchema(schema)
  })

  it("a process 1 h ahead is degraded (200) with the offset, the threshold and which clock", async () => {
    const { status, json } = await ready(await plugin(hour))
    assert.strictEqual(status, 200)
    assert.strictEqual(json.status, "success")
    assert.strictEqual(json.data.status, "degraded")
    assert.strictEqual(json.data.storage, "ok")
    assert.strictEqual(json.data.clock.reference, "database")
    assert.strictEqual(json.data.clock.status, "skewed")
    assert.strictEqual(json.data.clock.thresholdMillis, 60_000)
    // Within the round trip (and the time between reading the database's now and the probe).
    assert.approximately(json.data.clock.offsetMillis, hour, 30_000)
  })

  it("a process 1 h behind is degraded with a negative offset", async () => {
    const { status, json } = await ready(await plugin(-hour))
    assert.strictEqual(status, 200)
    assert.strictEqual(json.data.status, "degraded")
    assert.approximately(json.data.clock.offsetMillis, -hour, 30_000)
  })

  it("a process on the database's time is ready, without a token (public by default)", async () => {
    const { status, json } = await ready(await plugin(0))
    assert.strictEqual(status, 200)
    assert.strictEqual(json.data.status, "ready")
    assert.strictEqual(json.data.clock.status, "ok")
    assert.isAtMost(Math.abs(json.data.clock.offsetMillis), 30_000)
  })

  it("a process whose database does not answer is 503, with the envelope and no detail", async () => {
    const { status, json } = await ready(await plugin(0, "postgres://postgres@127.0.0.1:1/none"))
    assert.strictEqual(status, 503)
    assert.strictEqual(json.status, "error")
    assert.strictEqual(json.error.code, "SERVICE_UNAVAILABLE")
    assert.notInclude(JSON.stringify(json), "127.0.0.1")
  })
})
