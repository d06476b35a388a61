import { assert, describe, layer } from "@effect/vitest"
import { Storage } from "@myia/certification"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/testing/TestClock"
import * as PgClient from "../src/PgClient.ts"
import { job, outcome, skip, storageLayer, units, useSchema } from "./PgTest.ts"

const schema = useSchema()

/** Raw row counts, to check what was persisted rather than what was returned. */
const countRows = (table: "jobs" | "units" | "latest_results", column: string, value: string) =>
  Effect.gen(function*() {
    const client = yield* PgClient.PgClient
    const rows = yield* client.run("test", (sql) =>
      sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${sql(`${schema}.${table}`)} WHERE ${sql(column)} = ${value}`)
    return rows[0]!.n
  })

/** A QUEUED job with one unit, claimed with `lease`. */
const claimedUnit = (lease: string) =>
  Effect.gen(function*() {
    const storage = yield* Storage.Storage
    const j = job()
    const [u] = units(j)
    yield* storage.createJob(j, [u!])
    const claimed = yield* storage.claimUnit(u!.id, lease)
    assert.isTrue(Option.isSome(claimed))
    return { job: j, unit: u! }
  })

describe.skipIf(skip)("PgStorage", () => {
  layer(storageLayer(schema), { timeout: "60 seconds" })("fenced writes", (it) => {
    it.effect("20 concurrent terminal writes for one unit leave one row, one count and one latest", () =>
      Effect.gen(function*() {
        const storage = yield* Storage.Storage
        const { job: j, unit } = yield* claimedUnit("lease-1")
        const writes = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => storage.completeUnit(unit.id, "lease-1", outcome("CERTIFIED", `w${i}`))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(writes.filter((w) => w).length, 1)
        const counts = yield* storage.counts(j.id)
        assert.strictEqual(counts.completed, 1)
        assert.strictEqual(counts.byVerdict.CERTIFIED, 1)
        assert.strictEqual(counts.total, 1)
        assert.strictEqual(yield* countRows("units", "job_id", j.id), 1)
        assert.strictEqual(yield* countRows("latest_results", "model_id", unit.modelId), 1)
        // The winner's result is what was stored, in the unit and in the latest view.
        const winner = writes.indexOf(true)
        const stored = Option.getOrThrow(yield* storage.getUnit(unit.id))
        assert.deepStrictEqual(stored.findings, [`written by w${winner}`])
        const latest = yield* storage.latest({ modelId: unit.modelId }, { page: 1, limit: 10 })
        assert.deepStrictEqual(latest.items.map((u) => u.findings), [[`written by w${winner}`]])
      }))

    it.effect("a stale worker's write after a redelivery changes nothing", () =>
      Effect.gen(function*() {
        const storage = yield* Storage.Storage
        const { unit } = yield* claimedUnit("old-lease")
        // The queue redelivers the unit: a second worker claims it with a new lease.
        const reclaimed = Option.getOrThrow(yield* storage.claimUnit(unit.id, "new-lease"))
        assert.strictEqual(reclaimed.attempts, 2)
        assert.isFalse(yield* storage.completeUnit(unit.id, "old-lease", outcome("FAILED", "zombie")))
        const untouched = Option.getOrThrow(yield* storage.getUnit(unit.id))
        assert.strictEqual(untouched.status, "PROCESSING")
        assert.strictEqual(untouched.lease, "new-lease")
        assert.strictEqual(yield* countRows("latest_results", "model_id", unit.modelId), 0)
        assert.isTrue(yield* storage.completeUnit(unit.id, "new-lease", outcome("CERTIFIED", "current")))
        // The zombie finishing again, even later, still loses.
        assert.isFalse(yield* storage.completeUnit(unit.id, "old-lease", outcome("FAILED", "zombie")))
        assert.isFalse(yield* storage.releaseUnit(unit.id, "old-lease"))
        const done = Option.getOrThrow(yield* storage.getUnit(unit.id))
        assert.strictEqual(done.status, "CERTIFIED")
        assert.deepStrictEqual(done.findings, ["written by current"])
      }))

    it.effect("a job whose creation fails midway (duplicate unit) leaves no rows", () =>
      Effect.gen(function*() {
        const storage = yield* Storage.Storage
        const j = job({ models: 3 })
        const [a, b, c] = units(j)
        // The third unit repeats the first one's (job, model, region): the units insert violates UNIQUE.
        const duplicate = { ...c!, modelId: a!.modelId, region: a!.region }
        const error = yield* Effect.flip(storage.createJob(j, [a!, b!, duplicate as typeof c & {}]))
        assert.strictEqual(error.reason._tag, "StorageInvalid")
        assert.isTrue(Option.isNone(yield* storage.getJob(j.id)))
        assert.strictEqual(yield* countRows("jobs", "id", j.id), 0)
        assert.strictEqual(yield* countRows("units", "job_id", j.id), 0)
      }))

    it.effect("a unit id already used by another job fails the whole new job", () =>
      Effect.gen(function*() {
        const storage = yield* Storage.Storage
        const first = job()
        const [taken] = units(first)
        yield* storage.createJob(first, [taken!])
        const second = job({ models: 2 })
        const [x, y] = units(second)
        const error = yield* Effect.flip(storage.createJob(second, [x!, { ...y!, id: taken!.id } as typeof y & {}]))
        assert.strictEqual(error.reason._tag, "StorageInvalid")
        assert.strictEqual(yield* countRows("jobs", "id", second.id), 0)
        assert.strictEqual(yield* countRows("units", "job_id", second.id), 0)
        assert.strictEqual(yield* countRows("units", "job_id", first.id), 1)
      }))

    it.effect("the latest view follows the result sequence: a result written later wins even when its worker's clock is behind (issue 15)", () =>
      Effect.gen(function*() {
        const storage = yield* Storage.Storage
        const modelId = `test.model-${crypto.randomUUID().slice(0, 8)}`
        const first = job({ modelIds: [modelId] })
        const second = job({ modelIds: [modelId] })
        const [firstUnit] = units(first)
        const [secondUnit] = units(second)
        yield* storage.createJob(first, [firstUnit!])
        yield* storage.createJob(second, [secondUnit!])
        yield* storage.claimUnit(firstUnit!.id, "a")
        yield* storage.claimUnit(secondUnit!.id, "b")
        // The first write comes from a worker whose clock is a day ahead; the second from one on time.
        yield* TestClock.setTime(Date.parse("2026-06-02T00:00:00.000Z"))
        assert.isTrue(yield* storage.completeUnit(firstUnit!.id, "a", outcome("CERTIFIED", "first")))
        yield* TestClock.setTime(Date.parse("2026-06-01T00:00:00.000Z"))
        assert.isTrue(yield* storage.completeUnit(secondUnit!.id, "b", outcome("FAILED", "second")))
        const page = yield* storage.latest({ modelId: modelId as never }, { page: 1, limit: 10 })
        assert.strictEqual(page.total, 1)
        assert.strictEqual(page.items[0]!.id, secondUnit!.id)
        assert.strictEqual(page.items[0]!.status, "FAILED")
        // The timestamps shown are still the writer's (Clock), only the order is storage's.
        assert.strictEqual(page.items[0]!.completedAt, "2026-06-01T00:00:00.000Z")
        assert.strictEqual(page.items[0]!.expiresAt, "2026-07-01T00:00:00.000Z")
        // The first unit itself still holds its own verdict.
        assert.strictEqual(Option.getOrThrow(yield* storage.getUnit(firstUnit!.id)).status, "CERTIFIED")
      }))

    it.effect("a cancel ends every unfinished unit in the same step and fences later writes", () =>
      Effect.gen(function*() {
        const storage = yield* Storage.Storage
        const j = job({ models: 3, status: "PROCESSING" })
        const us = units(j)
        yield* storage.createJob(j, us)
        yield* storage.claimUnit(us[0]!.id, "l0")
        yield* storage.claimUnit(us[1]!.id, "l1")
        assert.isTrue(yield* storage.completeUnit(us[1]!.id, "l1", outcome("CERTIFIED", "done")))
        const cancelled = yield* storage.transitionJob(j.id, { from: ["QUEUED", "PROCESSING"], to: "CANCELLED" })
        assert.strictEqual(Option.getOrThrow(cancelled).status, "CANCELLED")
        assert.isFalse(yield* storage.completeUnit(us[0]!.id, "l0", outcome("CERTIFIED", "late")))
        assert.isTrue(Option.isNone(yield* storage.claimUnit(us[2]!.id, "l2")))
        const counts = yield* storage.counts(j.id)
        assert.deepStrictEqual([counts.completed, counts.byVerdict.CANCELLED, counts.byVerdict.CERTIFIED], [3, 2, 1])
      }))

    it.effect("COMPLETED is refused while a unit is unfinished, in the same statement", () =>
      Effect.gen(function*() {
        const storage = yield* Storage.Storage
        const j = job({ models: 2, status: "PROCESSING" })
        const us = units(j)
        yield* storage.createJob(j, us)
        yield* storage.claimUnit(us[0]!.id, "l0")
        assert.isTrue(yield* storage.completeUnit(us[0]!.id, "l0", outcome("CERTIFIED", "one")))
        const early = yield* storage.transitionJob(j.id, { from: ["PROCESSING"], to: "COMPLETED" })
        assert.isTrue(Option.isNone(early))
        yield* storage.claimUnit(us[1]!.id, "l1")
        assert.isTrue(yield* storage.completeUnit(us[1]!.id, "l1", outcome("UNAVAILABLE", "two")))
        const done = Option.getOrThrow(yield* storage.transitionJob(j.id, { from: ["PROCESSING"], to: "COMPLETED" }))
        assert.strictEqual(done.status, "COMPLETED")
        assert.isNotNull(done.completedAt)
      }))
  })
})
