/**
 * The Storage conformance suite: every Storage adapter runs it in one line and must pass it.
 *
 * `suite(name, layer)` builds the layer once and shares it across the tests, which therefore use fresh
 * ids (and fresh model ids, so the latest view of one test is its own) and compare stats as deltas.
 * Each test checks what was actually persisted by reading it back through the port, not only what a
 * write returned. Bodies run on the live clock (`TestClock.withLive`), so adapters that take time from
 * `Clock` and adapters that take it from their database both pass; where order matters, the test
 * sleeps a few milliseconds between writes so their timestamps differ.
 *
 * ```ts
 * StorageTest.suite("memory", MemoryStorage.layer)
 * ```
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import * as Domain from "../Domain.ts"
import * as Observation from "../Observation.ts"
import type { Region } from "../Region.ts"
import { ProgressEvent } from "../Queue.ts"
import { type JobKeys, maxUnitsPageSize, Storage } from "../Storage.ts"
import * as Fixtures from "./Fixtures.ts"

const DAY_MS = 86_400_000

const usEast1 = "us-east-1" as Region
const usWest2 = "us-west-2" as Region
const euWest1 = "eu-west-1" as Region

/** A JSON copy: compares values, not class identity, so any adapter's decoded rows compare equal. */
const plain = (u: unknown): unknown => JSON.parse(JSON.stringify(u))

const some = <A>(option: Option.Option<A>, what: string): A => {
  if (Option.isNone(option)) throw new Error(`expected ${what} to be present`)
  return option.value
}

const nowMillis = Clock.currentTimeMillis

/** Sleep long enough for the next write to carry a later millisecond timestamp. */
const tick = Effect.sleep("5 millis")

const create = Effect.fnUntraced(function*(overrides: Partial<Domain.Job> = {}, n?: number) {
  const storage = yield* Storage
  const job = Fixtures.makeJob(overrides)
  const units = Fixtures.makeUnits(job, n ?? job.totalUnits)
  yield* storage.createJob(job, units)
  return { job, units }
})

/** PENDING → QUEUED (units queued) → PROCESSING, as the service does when a job starts. */
const start = Effect.fnUntraced(function*(job: Domain.Job, units: ReadonlyArray<Domain.Unit>) {
  const storage = yield* Storage
  some(yield* storage.transitionJob(job.id, { from: ["PENDING"], to: "QUEUED" }), "QUEUED job")
  yield* storage.markQueued(units.map((u) => u.id))
  return some(yield* storage.transitionJob(job.id, { from: ["QUEUED"], to: "PROCESSING" }), "PROCESSING job")
})

/** Claim then complete one unit; fails the test if either step is refused. */
const finish = Effect.fnUntraced(function*(unit: Domain.Unit, verdict: Domain.Verdict, overrides: Partial<Domain.UnitOutcome> = {}) {
  const storage = yield* Storage
  const lease = crypto.randomUUID()
  some(yield* storage.claimUnit(unit.id, lease), `claim of ${unit.id}`)
  assert.isTrue(yield* storage.completeUnit(unit.id, lease, Fixtures.makeOutcome(verdict, overrides)))
  return some(yield* storage.getUnit(unit.id), `unit ${unit.id}`)
})

const unitOf = Effect.fnUntraced(function*(id: Domain.UnitId) {
  return some(yield* (yield* Storage).getUnit(id), `unit ${id}`)
})

const jobOf = Effect.fnUntraced(function*(id: Domain.JobId) {
  return some(yield* (yield* Storage).getJob(id), `job ${id}`)
})

/** Counts computed independently from unit rows, to compare with the adapter's. */
const expectedCounts = (units: ReadonlyArray<Domain.Unit>) => {
  const byVerdict = Object.fromEntries(Domain.verdicts.map((v) => [v, 0])) as Record<Domain.Verdict, number>
  for (const u of units) {
    const v = Domain.verdictOf(u)
    if (v !== null) byVerdict[v]++
  }
  const completed = units.filter((u) => Domain.verdictOf(u) !== null).length
  return {
    total: units.length,
    pending: units.filter((u) => u.status === "PENDING").length,
    queued: units.filter((u) => u.status === "QUEUED").length,
    processing: units.filter((u) => u.status === "PROCESSING").length,
    completed,
    passed: byVerdict.CERTIFIED + byVerdict.QUALITY_WARNING,
    byVerdict
  }
}

const sortedUnits = (units: ReadonlyArray<Domain.Unit>) =>
  [...units].sort((a, b) => a.modelId < b.modelId ? -1 : a.modelId > b.modelId ? 1 : a.region < b.region ? -1 : 1)

const isoAt = (millis: number): Domain.Timestamp => new Date(millis).toISOString()

/** A random base instant in 2001–2020, so a test's jobs own a time window of the history. */
const randomWindowStart = (): number => Date.UTC(2001, 0, 1) + Math.floor(Math.random() * 20 * 365) * DAY_MS

/** One conformance test: its body runs on the live clock with the suite's Storage. */
type Test = <A, E>(title: string, body: () => Effect.Effect<A, E, Storage>) => void

/**
 * Run the Storage conformance suite against `layer` (one shared instance; tests use fresh ids). Each
 * section below is one function of the port; a new port member adds its section and one call here.
 */
export const suite = (name: string, layer: Layer.Layer<Storage, unknown>): void => {
  describe(`Storage conformance (${name})`, () => {
    it.layer(layer, { timeout: "60 seconds" })((it) => {
      const test: Test = (title, body) => it.effect(title, () => TestClock.withLive(Effect.suspend(body)))

      createJobTests(test)
      createJobOnceTests(test)
      transitionJobTests(test)
      claimTests(test)
      completionTests(test)
      countsTests(test)
      latestViewTests(test)
      historyStatsCleanupTests(test)
      observationTests(test)
      largeJobTests(test)
      jobDetailTests(test)
      progressTests(test)
      reconciliationTests(test)
      recertificationTests(test)
    })
  })
}

// ---------------------------------------------------------------------------------------------
// createJob and reads
// ---------------------------------------------------------------------------------------------

const createJobTests = (test: Test): void => {
  test("createJob makes the job and all its units visible together", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({ regions: [usEast1, usWest2] })
      assert.strictEqual(units.length, 4)
      assert.deepStrictEqual(plain(yield* jobOf(job.id)), plain(job))
      assert.deepStrictEqual(plain(yield* storage.getUnits(job.id)), plain(sortedUnits(units)))
      for (const unit of units) assert.deepStrictEqual(plain(yield* unitOf(unit.id)), plain(unit))
      const counts = yield* storage.counts(job.id)
      assert.strictEqual(counts.total, 4)
      assert.strictEqual(counts.pending, 4)
    }))

  test("createJob with an existing job id fails and changes nothing", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create()
      const again = new Domain.Job({ ...job, status: "QUEUED", createdBy: "intruder" })
      const intruder = Fixtures.makeUnit(again)
      const error = yield* Effect.flip(storage.createJob(again, [intruder]))
      assert.strictEqual(error._tag, "StorageError")
      assert.deepStrictEqual(plain(yield* jobOf(job.id)), plain(job))
      assert.deepStrictEqual(plain(yield* storage.getUnits(job.id)), plain(sortedUnits(units)))
      assert.isTrue(Option.isNone(yield* storage.getUnit(intruder.id)))
    }))

  test("createJob that conflicts on one unit id writes neither the job nor any unit", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { units } = yield* create()
      const job = Fixtures.makeJob({ modelIds: [Fixtures.makeModelId(), Fixtures.makeModelId(), Fixtures.makeModelId()] })
      const fresh = Fixtures.makeUnits(job, 3)
      const clash = new Domain.Unit({ ...fresh[2]!, id: units[0]!.id })
      yield* Effect.flip(storage.createJob(job, [fresh[0]!, fresh[1]!, clash]))
      assert.isTrue(Option.isNone(yield* storage.getJob(job.id)))
      assert.deepStrictEqual(yield* storage.getUnits(job.id), [])
      assert.isTrue(Option.isNone(yield* storage.getUnit(fresh[0]!.id)))
      assert.strictEqual((yield* unitOf(units[0]!.id)).jobId, units[0]!.jobId)
    }))

  test("unknown ids read as none, an empty unit list and zero counts", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      assert.isTrue(Option.isNone(yield* storage.getJob(Fixtures.makeJobId())))
      assert.isTrue(Option.isNone(yield* storage.getUnit(Fixtures.makeUnitId())))
      assert.deepStrictEqual(yield* storage.getUnits(Fixtures.makeJobId()), [])
      const counts = yield* storage.counts(Fixtures.makeJobId())
      assert.strictEqual(counts.total, 0)
      assert.strictEqual(counts.completed, 0)
      const page = yield* storage.latest({ modelId: Fixtures.makeModelId() }, { page: 1, limit: 10 })
      assert.strictEqual(page.total, 0)
      assert.deepStrictEqual(page.items, [])
    }))
}

// ---------------------------------------------------------------------------------------------
// createJobOnce
// ---------------------------------------------------------------------------------------------

const createJobOnceTests = (test: Test): void => {
  const keysOf = (overrides: Partial<JobKeys> = {}): JobKeys => ({
    idempotencyKey: null,
    activeKey: null,
    fingerprint: `fp-${crypto.randomUUID()}`,
    answer: JSON.stringify({ n: Math.random() }),
    ...overrides
  })

  const candidate = () => {
    const job = Fixtures.makeJob()
    return { job, units: Fixtures.makeUnits(job, job.totalUnits) }
  }

  test("createJobOnce writes the job and its units; a repeat of its idempotency key gets it back and writes nothing", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const first = candidate()
      const keys = keysOf({ idempotencyKey: `key-${crypto.randomUUID()}` })
      assert.deepStrictEqual(yield* storage.createJobOnce(first.job, first.units, keys), { _tag: "Created" })
      assert.deepStrictEqual(plain(yield* jobOf(first.job.id)), plain(first.job))
      assert.deepStrictEqual(plain(yield* storage.getUnits(first.job.id)), plain(sortedUnits(first.units)))
      const repeat = candidate()
      const again = yield* storage.createJobOnce(repeat.job, repeat.units, { ...keysOf(), idempotencyKey: keys.idempotencyKey })
      assert.deepStrictEqual(again, {
        _tag: "Existing",
        jobId: first.job.id,
        matched: "idempotencyKey",
        fingerprint: keys.fingerprint,
        answer: keys.answer
      })
      assert.isTrue(Option.isNone(yield* storage.getJob(repeat.job.id)))
      assert.isTrue(Option.isNone(yield* storage.getUnit(repeat.units[0]!.id)))
    }))

  test("an idempotency key stays taken after its job ends", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const first = candidate()
      const idempotencyKey = `key-${crypto.randomUUID()}`
      yield* storage.createJobOnce(first.job, first.units, keysOf({ idempotencyKey }))
      some(yield* storage.transitionJob(first.job.id, { from: ["PENDING"], to: "CANCELLED" }), "cancelled")
      const repeat = candidate()
      const again = yield* storage.createJobOnce(repeat.job, repeat.units, keysOf({ idempotencyKey }))
      assert.strictEqual(again._tag === "Existing" ? again.jobId : "created", first.job.id)
    }))

  test("an active key holds only while its job is not terminal", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const activeKey = `active-${crypto.randomUUID()}`
      const first = candidate()
      const keys = keysOf({ activeKey })
      assert.strictEqual((yield* storage.createJobOnce(first.job, first.units, keys))._tag, "Created")
      const second = candidate()
      const blocked = yield* storage.createJobOnce(second.job, second.units, keysOf({ activeKey }))
      assert.deepStrictEqual(blocked, {
        _tag: "Existing",
        jobId: first.job.id,
        matched: "activeKey",
        fingerprint: keys.fingerprint,
        answer: keys.answer
      })
      assert.isTrue(Option.isNone(yield* storage.getJob(second.job.id)))
      some(yield* storage.transitionJob(first.job.id, { from: ["PENDING"], to: "CANCELLED" }), "cancelled")
      const third = candidate()
      assert.strictEqual((yield* storage.createJobOnce(third.job, third.units, keysOf({ activeKey })))._tag, "Created")
      assert.strictEqual((yield* jobOf(third.job.id)).id, third.job.id)
    }))

  for (const kind of ["idempotencyKey", "activeKey"] as const) {
    test(`concurrent createJobOnce calls with one ${kind} create exactly one job; the others get it back`, () =>
      Effect.gen(function*() {
        const storage = yield* Storage
        const key = `${kind}-${crypto.randomUUID()}`
        const candidates = Array.from({ length: 5 }, candidate)
        const results = yield* Effect.forEach(
          candidates,
          (c) => storage.createJobOnce(c.job, c.units, keysOf({ [kind]: key })),
          { concurrency: "unbounded" }
        )
        const created = candidates.filter((_, i) => results[i]!._tag === "Created")
        assert.strictEqual(created.length, 1)
        for (const result of results) {
          if (result._tag === "Existing") assert.strictEqual(result.jobId, created[0]!.job.id)
        }
        const stored = yield* Effect.forEach(candidates, (c) => storage.getJob(c.job.id))
        assert.strictEqual(stored.filter(Option.isSome).length, 1)
      }))
  }

  test("createJobOnce checks the idempotency key before the active key, and no key when both are null", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const idempotencyKey = `key-${crypto.randomUUID()}`
      const activeKey = `active-${crypto.randomUUID()}`
      const byKey = candidate()
      yield* storage.createJobOnce(byKey.job, byKey.units, keysOf({ idempotencyKey }))
      const byActive = candidate()
      yield* storage.createJobOnce(byActive.job, byActive.units, keysOf({ activeKey }))
      const both = candidate()
      const result = yield* storage.createJobOnce(both.job, both.units, keysOf({ idempotencyKey, activeKey }))
      assert.strictEqual(result._tag === "Existing" ? `${result.matched}:${result.jobId}` : "created", `idempotencyKey:${byKey.job.id}`)
      const free = [candidate(), candidate()]
      for (const c of free) assert.strictEqual((yield* storage.createJobOnce(c.job, c.units, keysOf()))._tag, "Created")
    }))
}

// ---------------------------------------------------------------------------------------------
// transitionJob
// ---------------------------------------------------------------------------------------------

const transitionJobTests = (test: Test): void => {
  test("transitionJob from a wrong source state returns none and changes nothing", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job } = yield* create()
      const before = yield* jobOf(job.id)
      const result = yield* storage.transitionJob(job.id, { from: ["QUEUED", "PROCESSING"], to: "COMPLETED" })
      assert.isTrue(Option.isNone(result))
      assert.deepStrictEqual(plain(yield* jobOf(job.id)), plain(before))
      assert.isTrue(Option.isNone(yield* storage.transitionJob(Fixtures.makeJobId(), { from: ["PENDING"], to: "QUEUED" })))
    }))

  test("transitionJob stamps updatedAt, startedAt and completedAt as the target implies", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 1)
      const t0 = yield* nowMillis
      const queued = some(yield* storage.transitionJob(job.id, { from: ["PENDING"], to: "QUEUED" }), "queued")
      assert.strictEqual(queued.status, "QUEUED")
      assert.isAtLeast(Date.parse(queued.updatedAt), t0)
      assert.isNull(queued.startedAt)
      const processing = some(yield* storage.transitionJob(job.id, { from: ["QUEUED"], to: "PROCESSING" }), "processing")
      assert.isNotNull(processing.startedAt)
      assert.isAtLeast(Date.parse(processing.startedAt!), t0)
      yield* finish(units[0]!, "CERTIFIED")
      const completed = some(yield* storage.transitionJob(job.id, { from: ["PROCESSING"], to: "COMPLETED" }), "completed")
      const t1 = yield* nowMillis
      const stored = yield* jobOf(job.id)
      assert.strictEqual(stored.status, "COMPLETED")
      assert.isNotNull(stored.completedAt)
      assert.isAtMost(Date.parse(stored.completedAt!), t1)
      assert.isAtLeast(Date.parse(stored.completedAt!), Date.parse(processing.startedAt!))
      assert.strictEqual(stored.startedAt, processing.startedAt)
      assert.deepStrictEqual(plain(stored), plain(completed))
    }))

  test("transitionJob to COMPLETED is refused while a unit is not terminal", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 2)
      yield* start(job, units)
      yield* finish(units[0]!, "CERTIFIED")
      const result = yield* storage.transitionJob(job.id, { from: ["PROCESSING"], to: "COMPLETED" })
      assert.isTrue(Option.isNone(result))
      assert.strictEqual((yield* jobOf(job.id)).status, "PROCESSING")
      yield* finish(units[1]!, "FAILED")
      assert.isTrue(Option.isSome(yield* storage.transitionJob(job.id, { from: ["PROCESSING"], to: "COMPLETED" })))
      assert.strictEqual((yield* jobOf(job.id)).status, "COMPLETED")
    }))

  test("transitionJob to CANCELLED ends every non-terminal unit CANCELLED and keeps finished ones", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 4)
      const [done, running, queued] = units
      yield* storage.transitionJob(job.id, { from: ["PENDING"], to: "QUEUED" })
      yield* storage.markQueued([done!.id, running!.id, queued!.id])
      yield* storage.transitionJob(job.id, { from: ["QUEUED"], to: "PROCESSING" })
      yield* finish(done!, "CERTIFIED")
      some(yield* storage.claimUnit(running!.id, crypto.randomUUID()), "claim")
      const cancelled = some(
        yield* storage.transitionJob(job.id, { from: ["PENDING", "QUEUED", "PROCESSING", "PAUSED"], to: "CANCELLED", reason: "user asked" }),
        "cancelled"
      )
      assert.strictEqual(cancelled.status, "CANCELLED")
      const stored = yield* jobOf(job.id)
      assert.isNotNull(stored.cancelledAt)
      assert.strictEqual(stored.reason, "user asked")
      const rows = yield* storage.getUnits(job.id)
      const status = new Map(rows.map((u) => [u.id, u.status]))
      assert.strictEqual(status.get(done!.id), "CERTIFIED")
      assert.strictEqual(status.get(running!.id), "CANCELLED")
      assert.strictEqual(status.get(queued!.id), "CANCELLED")
      assert.strictEqual(status.get(units[3]!.id), "CANCELLED")
      const counts = yield* storage.counts(job.id)
      assert.strictEqual(counts.completed, 4)
      assert.strictEqual(counts.byVerdict.CANCELLED, 3)
      assert.strictEqual(counts.byVerdict.CERTIFIED, 1)
    }))

  test("transitionJob to FAILED ends every non-terminal unit INCONCLUSIVE with the systemic error", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 3)
      yield* start(job, units)
      const done = yield* finish(units[0]!, "QUALITY_WARNING")
      some(yield* storage.claimUnit(units[1]!.id, crypto.randomUUID()), "claim")
      const unitError = Fixtures.makeError("CREDENTIALS", { systemic: true, verdict: "INCONCLUSIVE" })
      const failed = some(
        yield* storage.transitionJob(job.id, { from: ["PROCESSING"], to: "FAILED", reason: "invalid credentials", unitError }),
        "failed"
      )
      assert.strictEqual(failed.status, "FAILED")
      const stored = yield* jobOf(job.id)
      assert.strictEqual(stored.status, "FAILED")
      assert.strictEqual(stored.reason, "invalid credentials")
      assert.isNotNull(stored.completedAt)
      assert.deepStrictEqual(plain(yield* unitOf(units[0]!.id)), plain(done))
      for (const unit of units.slice(1)) {
        const row = yield* unitOf(unit.id)
        assert.strictEqual(row.status, "INCONCLUSIVE")
        assert.strictEqual(row.error?.category, "CREDENTIALS")
        assert.isTrue(row.error?.systemic)
      }
    }))
}

// ---------------------------------------------------------------------------------------------
// markQueued, claimUnit
// ---------------------------------------------------------------------------------------------

const claimTests = (test: Test): void => {
  test("markQueued moves only PENDING units to QUEUED and stamps queuedAt", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 2)
      yield* storage.transitionJob(job.id, { from: ["PENDING"], to: "QUEUED" })
      const lease = crypto.randomUUID()
      const claimed = some(yield* storage.claimUnit(units[1]!.id, lease), "claim")
      yield* storage.markQueued([units[0]!.id, units[1]!.id, Fixtures.makeUnitId()])
      const queued = yield* unitOf(units[0]!.id)
      assert.strictEqual(queued.status, "QUEUED")
      assert.isNotNull(queued.queuedAt)
      assert.deepStrictEqual(plain(yield* unitOf(units[1]!.id)), plain(claimed))
      assert.strictEqual(claimed.lease, lease)
    }))

  test("claimUnit stamps a new lease, counts the attempt and keeps the first startedAt", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 1)
      yield* start(job, units)
      const first = some(yield* storage.claimUnit(units[0]!.id, "lease-1"), "first claim")
      assert.strictEqual(first.status, "PROCESSING")
      assert.strictEqual(first.lease, "lease-1")
      assert.strictEqual(first.attempts, 1)
      assert.isNotNull(first.startedAt)
      yield* tick
      some(yield* storage.claimUnit(units[0]!.id, "lease-2"), "second claim")
      const stored = yield* unitOf(units[0]!.id)
      assert.strictEqual(stored.lease, "lease-2")
      assert.strictEqual(stored.attempts, 2)
      assert.strictEqual(stored.startedAt, first.startedAt)
      assert.isTrue(Option.isNone(yield* storage.claimUnit(Fixtures.makeUnitId(), "lease-3")))
    }))

  test("claimUnit refuses a terminal unit and leaves it untouched", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 2)
      yield* start(job, units)
      const done = yield* finish(units[0]!, "CERTIFIED")
      assert.isTrue(Option.isNone(yield* storage.claimUnit(units[0]!.id, crypto.randomUUID())))
      assert.deepStrictEqual(plain(yield* unitOf(units[0]!.id)), plain(done))
    }))

  test("claimUnit refuses units of PAUSED, CANCELLED and FAILED jobs", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const ends: ReadonlyArray<Domain.JobStatus> = ["PAUSED", "CANCELLED", "FAILED"]
      for (const to of ends) {
        const { job, units } = yield* create({}, 2)
        yield* start(job, units)
        some(yield* storage.transitionJob(job.id, { from: ["PROCESSING"], to }), `job ${to}`)
        const before = yield* unitOf(units[0]!.id)
        assert.isTrue(Option.isNone(yield* storage.claimUnit(units[0]!.id, crypto.randomUUID())), `claim after ${to}`)
        const after = yield* unitOf(units[0]!.id)
        assert.deepStrictEqual(plain(after), plain(before))
        assert.notStrictEqual(after.status, "PROCESSING")
      }
    }))
}

// ---------------------------------------------------------------------------------------------
// completeUnit, releaseUnit
// ---------------------------------------------------------------------------------------------

const completionTests = (test: Test): void => {
  test("completeUnit with the current lease writes the verdict once with its timings", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 1)
      yield* start(job, units)
      const lease = crypto.randomUUID()
      const claimed = some(yield* storage.claimUnit(units[0]!.id, lease), "claim")
      yield* tick
      const outcome = Fixtures.makeOutcome("CERTIFIED", { findings: ["works on demand"] })
      assert.isTrue(yield* storage.completeUnit(units[0]!.id, lease, outcome))
      const done = yield* unitOf(units[0]!.id)
      assert.strictEqual(done.status, "CERTIFIED")
      assert.strictEqual(done.score, outcome.score)
      assert.strictEqual(done.grade, outcome.grade)
      assert.deepStrictEqual(done.findings, ["works on demand"])
      assert.deepStrictEqual(plain(done.tests), plain(outcome.tests))
      assert.deepStrictEqual(plain(done.invocationTarget), plain(outcome.invocationTarget))
      assert.isNotNull(done.completedAt)
      const completedAt = Date.parse(done.completedAt!)
      assert.isAtLeast(completedAt, Date.parse(claimed.startedAt!))
      assert.approximately(done.durationMs!, completedAt - Date.parse(claimed.startedAt!), 1)
      assert.strictEqual(Date.parse(done.expiresAt!) - completedAt, job.config.validityDays * DAY_MS)
      assert.isFalse(yield* storage.completeUnit(units[0]!.id, lease, Fixtures.makeOutcome("FAILED")))
      assert.deepStrictEqual(plain(yield* unitOf(units[0]!.id)), plain(done))
    }))

  test("completeUnit with a stale lease after a re-claim writes nothing and the newer result stands", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 1)
      yield* start(job, units)
      const id = units[0]!.id
      some(yield* storage.claimUnit(id, "zombie"), "first claim")
      some(yield* storage.claimUnit(id, "fresh"), "re-claim")
      assert.isFalse(yield* storage.completeUnit(id, "zombie", Fixtures.makeOutcome("FAILED")))
      assert.strictEqual((yield* unitOf(id)).status, "PROCESSING")
      assert.isTrue(yield* storage.completeUnit(id, "fresh", Fixtures.makeOutcome("CERTIFIED")))
      assert.isFalse(yield* storage.completeUnit(id, "zombie", Fixtures.makeOutcome("FAILED")))
      assert.isFalse(yield* storage.completeUnit(id, "never-issued", Fixtures.makeOutcome("FAILED")))
      assert.strictEqual((yield* unitOf(id)).status, "CERTIFIED")
      assert.strictEqual((yield* storage.counts(job.id)).byVerdict.FAILED, 0)
    }))

  test("20 concurrent completeUnit calls for one unit write exactly once", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 1)
      yield* start(job, units)
      const id = units[0]!.id
      const lease = crypto.randomUUID()
      some(yield* storage.claimUnit(id, lease), "claim")
      const verdicts: ReadonlyArray<Domain.Verdict> = ["CERTIFIED", "FAILED", "QUALITY_WARNING", "INCONCLUSIVE"]
      const outcomes = Array.from({ length: 20 }, (_, i) => Fixtures.makeOutcome(verdicts[i % verdicts.length]!))
      const wrote = yield* Effect.all(outcomes.map((o) => storage.completeUnit(id, lease, o)), { concurrency: "unbounded" })
      assert.strictEqual(wrote.filter((w) => w).length, 1)
      const winner = outcomes[wrote.indexOf(true)]!
      const stored = yield* unitOf(id)
      assert.strictEqual(stored.status, winner.verdict)
      const counts = yield* storage.counts(job.id)
      assert.strictEqual(counts.completed, 1)
      assert.strictEqual(counts.byVerdict[winner.verdict], 1)
      assert.strictEqual(counts.processing, 0)
    }))

  test("completeUnit writes nothing after the job was CANCELLED or FAILED", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const ends: ReadonlyArray<Domain.JobStatus> = ["CANCELLED", "FAILED"]
      for (const to of ends) {
        const { job, units } = yield* create({}, 1)
        yield* start(job, units)
        const lease = crypto.randomUUID()
        some(yield* storage.claimUnit(units[0]!.id, lease), "claim")
        some(yield* storage.transitionJob(job.id, { from: ["PROCESSING"], to }), `job ${to}`)
        const before = yield* unitOf(units[0]!.id)
        assert.isFalse(yield* storage.completeUnit(units[0]!.id, lease, Fixtures.makeOutcome("CERTIFIED")), `after ${to}`)
        assert.deepStrictEqual(plain(yield* unitOf(units[0]!.id)), plain(before))
        assert.notStrictEqual(before.status, "CERTIFIED")
        assert.strictEqual((yield* storage.counts(job.id)).passed, 0)
      }
    }))

  test("releaseUnit is fenced: only the current lease returns the unit to QUEUED", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 1)
      yield* start(job, units)
      const id = units[0]!.id
      some(yield* storage.claimUnit(id, "lease-1"), "claim")
      assert.isFalse(yield* storage.releaseUnit(id, "other"))
      assert.strictEqual((yield* unitOf(id)).status, "PROCESSING")
      assert.isTrue(yield* storage.releaseUnit(id, "lease-1"))
      const released = yield* unitOf(id)
      assert.strictEqual(released.status, "QUEUED")
      assert.isNull(released.lease)
      assert.isFalse(yield* storage.releaseUnit(id, "lease-1"))
      assert.isFalse(yield* storage.completeUnit(id, "lease-1", Fixtures.makeOutcome("CERTIFIED")))
      const again = some(yield* storage.claimUnit(id, "lease-2"), "claim after release")
      assert.strictEqual(again.attempts, 2)
    }))
}

// ---------------------------------------------------------------------------------------------
// counts
// ---------------------------------------------------------------------------------------------

const countsTests = (test: Test): void => {
  test("counts are derived from the unit rows", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 8)
      yield* storage.transitionJob(job.id, { from: ["PENDING"], to: "QUEUED" })
      yield* storage.markQueued(units.slice(1).map((u) => u.id))
      yield* storage.transitionJob(job.id, { from: ["QUEUED"], to: "PROCESSING" })
      some(yield* storage.claimUnit(units[2]!.id, crypto.randomUUID()), "claim")
      const verdicts: ReadonlyArray<Domain.Verdict> = ["CERTIFIED", "QUALITY_WARNING", "FAILED", "UNAVAILABLE", "CERTIFIED"]
      for (const [i, verdict] of verdicts.entries()) yield* finish(units[3 + i]!, verdict)
      const counts = yield* storage.counts(job.id)
      assert.deepStrictEqual(plain(counts), plain(expectedCounts(yield* storage.getUnits(job.id))))
      assert.strictEqual(counts.total, 8)
      assert.strictEqual(counts.pending, 1)
      assert.strictEqual(counts.queued, 1)
      assert.strictEqual(counts.processing, 1)
      assert.strictEqual(counts.completed, 5)
      assert.strictEqual(counts.passed, 3)
      assert.strictEqual(counts.byVerdict.CERTIFIED, 2)
      assert.strictEqual(counts.byVerdict.UNAVAILABLE, 1)
    }))
}

// ---------------------------------------------------------------------------------------------
// latest view
// ---------------------------------------------------------------------------------------------

const latestViewTests = (test: Test): void => {
  test("the latest view holds the newest terminal result per (model, region)", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const model = Fixtures.makeModelId()
      const results: Array<Domain.Unit> = []
      for (const verdict of ["FAILED", "CERTIFIED", "QUALITY_WARNING"] as const) {
        const { job, units } = yield* create({ modelIds: [model], regions: [usEast1] })
        yield* start(job, units)
        yield* tick
        results.push(yield* finish(units[0]!, verdict))
      }
      const page = yield* storage.latest({ modelId: model }, { page: 1, limit: 10 })
      assert.strictEqual(page.total, 1)
      assert.strictEqual(page.items[0]!.id, results[2]!.id)
      assert.strictEqual(page.items[0]!.status, "QUALITY_WARNING")
    }))

  test("the latest view equals one of many concurrently completed units, as stored", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const model = Fixtures.makeModelId()
      const jobs = yield* Effect.forEach(Array.from({ length: 10 }), () =>
        Effect.gen(function*() {
          const created = yield* create({ modelIds: [model], regions: [usWest2] })
          yield* start(created.job, created.units)
          return created.units[0]!
        }))
      const leases = yield* Effect.forEach(jobs, (unit) =>
        Effect.gen(function*() {
          const lease = crypto.randomUUID()
          some(yield* storage.claimUnit(unit.id, lease), "claim")
          return lease
        }))
      yield* Effect.all(
        jobs.map((unit, i) =>
          Effect.sleep(`${(i % 4) * 3} millis`).pipe(
            Effect.andThen(storage.completeUnit(unit.id, leases[i]!, Fixtures.makeOutcome(i % 2 ? "CERTIFIED" : "FAILED")))
          )
        ),
        { concurrency: "unbounded" }
      )
      const rows = yield* Effect.forEach(jobs, (unit) => unitOf(unit.id))
      const page = yield* storage.latest({ modelId: model, region: usWest2 }, { page: 1, limit: 10 })
      assert.strictEqual(page.total, 1)
      // Which concurrent write is last is storage's order (issue 15), not the writers' clocks.
      const source = rows.find((u) => u.id === page.items[0]!.id)
      assert.isDefined(source)
      assert.strictEqual(page.items[0]!.status, source!.status)
    }))

  test("latest filters by model, region and verdict, newest first, with pagination totals", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const model = Fixtures.makeModelId()
      const { job, units } = yield* create({ modelIds: [model], regions: [usEast1, usWest2, euWest1] })
      yield* start(job, units)
      const done: Array<Domain.Unit> = []
      for (const [i, verdict] of (["CERTIFIED", "FAILED", "CERTIFIED"] as const).entries()) {
        yield* tick
        done.push(yield* finish(units[i]!, verdict))
      }
      const newestFirst = [...done].reverse().map((u) => u.id)
      const first = yield* storage.latest({ modelId: model }, { page: 1, limit: 2 })
      const second = yield* storage.latest({ modelId: model }, { page: 2, limit: 2 })
      assert.strictEqual(first.total, 3)
      assert.strictEqual(second.total, 3)
      assert.strictEqual(first.limit, 2)
      assert.deepStrictEqual([...first.items, ...second.items].map((u) => u.id), newestFirst)
      const inRegion = yield* storage.latest({ modelId: model, region: done[1]!.region }, { page: 1, limit: 10 })
      assert.deepStrictEqual(inRegion.items.map((u) => u.id), [done[1]!.id])
      const certified = yield* storage.latest({ modelId: model, status: "CERTIFIED" }, { page: 1, limit: 10 })
      assert.strictEqual(certified.total, 2)
      assert.deepStrictEqual(certified.items.map((u) => u.id), [done[2]!.id, done[0]!.id])
      const regionOnly = yield* storage.latest({ region: done[1]!.region, status: "FAILED" }, { page: 1, limit: 100 })
      assert.isAtLeast(regionOnly.total, 1)
      for (const u of regionOnly.items) {
        assert.strictEqual(u.region, done[1]!.region)
        assert.strictEqual(u.status, "FAILED")
      }
      const capped = yield* storage.latest({}, { page: 1, limit: 1000 })
      assert.isAtMost(capped.limit, 100)
      assert.isAtMost(capped.items.length, 100)
    }))
}

// ---------------------------------------------------------------------------------------------
// history, stats, cleanup
// ---------------------------------------------------------------------------------------------

const historyStatsCleanupTests = (test: Test): void => {
  test("history lists jobs newest first with counts, filters and pagination", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const base = randomWindowStart()
      const at = (seconds: number) => isoAt(base + seconds * 1000)
      const a = yield* create({ type: "SINGLE_MODEL", createdAt: at(1) }, 1)
      const b = yield* create({ type: "ALL_MODELS", createdAt: at(2) }, 2)
      const c = yield* create({ type: "SINGLE_MODEL", createdAt: at(3) }, 1)
      yield* start(b.job, b.units)
      yield* finish(b.units[0]!, "CERTIFIED")
      some(yield* storage.transitionJob(c.job.id, { from: ["PENDING"], to: "CANCELLED" }), "cancel")
      const window = { from: at(0), to: at(10) }
      const all = yield* storage.history(window, { page: 1, limit: 10 })
      assert.strictEqual(all.total, 3)
      assert.deepStrictEqual(all.items.map((s) => s.job.id), [c.job.id, b.job.id, a.job.id])
      const bSummary = all.items[1]!
      assert.strictEqual(bSummary.job.status, "PROCESSING")
      assert.deepStrictEqual(plain(bSummary.counts), plain(yield* storage.counts(b.job.id)))
      assert.strictEqual(bSummary.counts.completed, 1)
      assert.strictEqual(bSummary.counts.passed, 1)
      assert.strictEqual(all.items[0]!.counts.byVerdict.CANCELLED, 1)
      const singles = yield* storage.history({ ...window, type: "SINGLE_MODEL" }, { page: 1, limit: 10 })
      assert.deepStrictEqual(singles.items.map((s) => s.job.id), [c.job.id, a.job.id])
      const cancelled = yield* storage.history({ ...window, status: "CANCELLED" }, { page: 1, limit: 10 })
      assert.deepStrictEqual(cancelled.items.map((s) => s.job.id), [c.job.id])
      const fromB = yield* storage.history({ from: at(2), to: at(10) }, { page: 1, limit: 10 })
      assert.deepStrictEqual(fromB.items.map((s) => s.job.id), [c.job.id, b.job.id])
      const beforeB = yield* storage.history({ from: at(0), to: at(2) }, { page: 1, limit: 10 })
      assert.deepStrictEqual(beforeB.items.map((s) => s.job.id), [a.job.id])
      const page2 = yield* storage.history(window, { page: 2, limit: 1 })
      assert.strictEqual(page2.total, 3)
      assert.strictEqual(page2.page, 2)
      assert.strictEqual(page2.limit, 1)
      assert.deepStrictEqual(page2.items.map((s) => s.job.id), [b.job.id])
      const past = yield* storage.history(window, { page: 4, limit: 1 })
      assert.strictEqual(past.total, 3)
      assert.deepStrictEqual(past.items, [])
      const capped = yield* storage.history({}, { page: 1, limit: 1000 })
      assert.isAtMost(capped.limit, 100)
      assert.isAtMost(capped.items.length, 100)
    }))

  test("stats count jobs by status, terminal units by verdict and region, and errors by category", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const before = yield* storage.stats
      const { job, units } = yield* create({ regions: [usEast1, euWest1] }, 4)
      yield* start(job, units)
      const east = units.filter((u) => u.region === usEast1)
      const west = units.filter((u) => u.region === euWest1)
      yield* finish(east[0]!, "CERTIFIED")
      yield* finish(east[1]!, "UNAVAILABLE")
      yield* finish(west[0]!, "INCONCLUSIVE")
      const after = yield* storage.stats
      const region = (s: typeof after, r: Region) =>
        s.unitsByRegion.find((x) => x.region === r) ?? { region: r, total: 0, passed: 0, byVerdict: {} }
      assert.strictEqual(after.jobsByStatus.PROCESSING - before.jobsByStatus.PROCESSING, 1)
      assert.strictEqual(after.unitsByVerdict.CERTIFIED - before.unitsByVerdict.CERTIFIED, 1)
      assert.strictEqual(after.unitsByVerdict.UNAVAILABLE - before.unitsByVerdict.UNAVAILABLE, 1)
      assert.strictEqual(after.unitsByVerdict.INCONCLUSIVE - before.unitsByVerdict.INCONCLUSIVE, 1)
      assert.strictEqual(region(after, usEast1).total - region(before, usEast1).total, 2)
      assert.strictEqual(region(after, usEast1).passed - region(before, usEast1).passed, 1)
      assert.strictEqual(
        (region(after, usEast1).byVerdict.UNAVAILABLE ?? 0) - (region(before, usEast1).byVerdict.UNAVAILABLE ?? 0),
        1
      )
      assert.strictEqual(region(after, euWest1).total - region(before, euWest1).total, 1)
      assert.strictEqual(region(after, euWest1).passed - region(before, euWest1).passed, 0)
      assert.strictEqual((after.errorsByCategory.ACCESS_DENIED ?? 0) - (before.errorsByCategory.ACCESS_DENIED ?? 0), 1)
      assert.strictEqual((after.errorsByCategory.THROTTLED ?? 0) - (before.errorsByCategory.THROTTLED ?? 0), 1)
    }))

  test("cleanup deletes only terminal jobs ended before the cutoff and keeps the latest view", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const old = yield* create({}, 1)
      yield* start(old.job, old.units)
      const oldResult = yield* finish(old.units[0]!, "CERTIFIED")
      some(yield* storage.transitionJob(old.job.id, { from: ["PROCESSING"], to: "COMPLETED" }), "complete old")
      const running = yield* create({}, 1)
      yield* start(running.job, running.units)
      yield* tick
      const cutoff = isoAt(yield* nowMillis)
      yield* tick
      const recent = yield* create({}, 1)
      yield* start(recent.job, recent.units)
      yield* finish(recent.units[0]!, "FAILED")
      some(yield* storage.transitionJob(recent.job.id, { from: ["PROCESSING"], to: "COMPLETED" }), "complete recent")
      const deleted = yield* storage.cleanup(cutoff)
      assert.isAtLeast(deleted, 1)
      assert.isTrue(Option.isNone(yield* storage.getJob(old.job.id)))
      assert.deepStrictEqual(yield* storage.getUnits(old.job.id), [])
      assert.isTrue(Option.isNone(yield* storage.getUnit(old.units[0]!.id)))
      assert.strictEqual((yield* jobOf(running.job.id)).status, "PROCESSING")
      assert.strictEqual((yield* storage.getUnits(running.job.id)).length, 1)
      assert.strictEqual((yield* jobOf(recent.job.id)).status, "COMPLETED")
      assert.strictEqual((yield* storage.getUnits(recent.job.id)).length, 1)
      const kept = yield* storage.latest({ modelId: oldResult.modelId }, { page: 1, limit: 10 })
      assert.strictEqual(kept.total, 1)
      assert.strictEqual(kept.items[0]!.id, oldResult.id)
      assert.strictEqual(kept.items[0]!.status, "CERTIFIED")
      assert.strictEqual(yield* storage.cleanup(cutoff), 0)
    }))
}

/** Continuous certification (issue 14): latest results by expiry, suite version, verdicts; shared settings. */
const recertificationTests = (test: Test): void => {
  test("latest results filter by expiry, verdicts, models, regions and suite version", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      // Two models × two regions; validity 1 day for one job, 30 days for the other.
      const [m1, m2] = [Fixtures.makeModelId("recheck.a"), Fixtures.makeModelId("recheck.b")]
      const short = yield* create({
        modelIds: [m1],
        regions: [usEast1, euWest1],
        totalUnits: 2,
        config: new Domain.JobConfig({ certifyThreshold: 80, validityDays: 1, suiteVersion: "1.0.0" })
      })
      const long = yield* create({ modelIds: [m2], regions: [usEast1, euWest1], totalUnits: 2 })
      yield* start(short.job, short.units)
      yield* start(long.job, long.units)
      yield* finish(short.units[0]!, "CERTIFIED", { suiteVersion: "0.9.0" })
      yield* finish(short.units[1]!, "INCONCLUSIVE")
      yield* finish(long.units[0]!, "FAILED")
      yield* finish(long.units[1]!, "CERTIFIED")
      const now = yield* nowMillis
      const mine = { modelIds: [m1, m2] }
      const ids = (page: { readonly items: ReadonlyArray<Domain.Unit> }) => page.items.map((u) => u.id).sort()
      const all = yield* storage.latest(mine, { page: 1, limit: 10 })
      assert.strictEqual(all.total, 4)
      const soon = yield* storage.latest({ ...mine, expiringBefore: isoAt(now + 2 * DAY_MS) }, { page: 1, limit: 10 })
      assert.deepStrictEqual(ids(soon), short.units.map((u) => u.id).sort())
      const none = yield* storage.latest({ ...mine, expiringBefore: isoAt(now - DAY_MS) }, { page: 1, limit: 10 })
      assert.strictEqual(none.total, 0)
      const later = yield* storage.latest({ ...mine, expiringBefore: isoAt(now + 31 * DAY_MS) }, { page: 1, limit: 10 })
      assert.strictEqual(later.total, 4)
      const bad = yield* storage.latest({ ...mine, verdicts: ["FAILED", "INCONCLUSIVE"] }, { page: 1, limit: 10 })
      assert.deepStrictEqual(ids(bad), [short.units[1]!.id, long.units[0]!.id].sort())
      const east = yield* storage.latest({ ...mine, regions: [usEast1] }, { page: 1, limit: 10 })
      assert.deepStrictEqual(ids(east), [short.units[0]!.id, long.units[0]!.id].sort())
      const one = yield* storage.latest({ modelIds: [m2], verdicts: [] }, { page: 1, limit: 10 })
      assert.strictEqual(one.total, 2)
      const old = yield* storage.latest({ ...mine, suiteVersionOtherThan: "1.0.0" }, { page: 1, limit: 10 })
      assert.deepStrictEqual(ids(old), [short.units[0]!.id])
      const current = yield* storage.latest({ ...mine, suiteVersion: "1.0.0" }, { page: 1, limit: 10 })
      assert.strictEqual(current.total, 3)
      const combined = yield* storage.latest(
        { ...mine, expiringBefore: isoAt(now + 2 * DAY_MS), verdicts: ["CERTIFIED"] },
        { page: 1, limit: 10 }
      )
      assert.deepStrictEqual(ids(combined), [short.units[0]!.id])
      // The stored expiry is the completion plus the job's validity.
      const stored = some(yield* storage.getUnit(long.units[1]!.id), "long unit")
      assert.strictEqual(
        Date.parse(stored.expiresAt!) - Date.parse(stored.completedAt!),
        30 * DAY_MS
      )
    }))

  test("settings: none until written, then the last write wins", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const key = `test/${crypto.randomUUID()}`
      assert.isTrue(Option.isNone(yield* storage.getSetting(key)))
      yield* storage.putSetting(key, `{"a":1}`)
      assert.deepStrictEqual(yield* storage.getSetting(key), Option.some(`{"a":1}`))
      yield* storage.putSetting(key, "second")
      assert.deepStrictEqual(yield* storage.getSetting(key), Option.some("second"))
      assert.isTrue(Option.isNone(yield* storage.getSetting(`${key}/other`)))
    }))
}

// ---------------------------------------------------------------------------------------------
// Issue #13 — control-plane observations per (account, region)
// ---------------------------------------------------------------------------------------------

const observationOf = (account: string, observedAt: string, modelId: string) =>
  new Observation.RegionObservation({
    account,
    region: usEast1,
    observedAt,
    models: [{
      modelId,
      name: "Fixture",
      provider: "Acme",
      inputModalities: ["TEXT"],
      outputModalities: ["TEXT"],
      streaming: true,
      inferenceTypes: ["ON_DEMAND"],
      lifecycle: {
        status: "LEGACY",
        startOfLifeAt: null,
        legacyAt: "2026-10-01T00:00:00.000Z",
        extendedAccessAt: null,
        eolAt: "2027-01-01T00:00:00.000Z"
      }
    }],
    profiles: [{ id: `us.${modelId}`, arn: null, type: "SYSTEM_DEFINED", status: "ACTIVE", models: [modelId] }],
    availability: [{
      modelId,
      authorizationStatus: "NOT_AUTHORIZED",
      entitlementAvailability: "AVAILABLE",
      agreementStatus: "PENDING",
      regionAvailability: "AVAILABLE",
      observedAt
    }]
  })

const observationTests = (test: Test): void => {
  test("observations: stored as given, per (account, region), never replaced by an older one", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const account = `acct-${crypto.randomUUID()}`
      assert.isTrue(Option.isNone(yield* storage.getObservation(account, usEast1)))
      const first = observationOf(account, "2026-12-01T12:00:00.000Z", "acme.first-v1:0")
      assert.isTrue(yield* storage.saveObservation(first))
      assert.deepStrictEqual(plain(some(yield* storage.getObservation(account, usEast1), "observation")), plain(first))
      // Another account and another region are other rows.
      assert.isTrue(Option.isNone(yield* storage.getObservation(`${account}-other`, usEast1)))
      assert.isTrue(Option.isNone(yield* storage.getObservation(account, usWest2)))
      // An equal time overwrites (availability added to the same listing); an older one never does.
      const same = observationOf(account, "2026-12-01T12:00:00.000Z", "acme.same-v1:0")
      assert.isTrue(yield* storage.saveObservation(same))
      const older = observationOf(account, "2026-12-01T11:00:00.000Z", "acme.older-v1:0")
      assert.isFalse(yield* storage.saveObservation(older))
      assert.deepStrictEqual(plain(some(yield* storage.getObservation(account, usEast1), "observation")), plain(same))
      const newer = observationOf(account, "2026-12-01T13:00:00.000Z", "acme.newer-v1:0")
      assert.isTrue(yield* storage.saveObservation(newer))
      assert.deepStrictEqual(plain(some(yield* storage.getObservation(account, usEast1), "observation")), plain(newer))
    }))
}

// ---------------------------------------------------------------------------------------------
// Large jobs (issue 16): unitsPage, unitCells, saveProgress
// ---------------------------------------------------------------------------------------------

const largeJobTests = (test: Test): void => {
  /** A job of 3 models × 3 regions, started, with a few units finished. */
  const grid = Effect.fnUntraced(function*() {
    const modelIds = [Fixtures.makeModelId("a.m"), Fixtures.makeModelId("b.m"), Fixtures.makeModelId("c.m")]
    const { job, units } = yield* create({ modelIds, regions: [usWest2, euWest1, usEast1] })
    yield* start(job, units)
    const sorted = sortedUnits(units)
    const withTests = { tests: [Fixtures.makeTestResult(), Fixtures.makeTestResult({ id: "math", name: "Math" })] }
    yield* finish(sorted[0]!, "CERTIFIED", withTests)
    yield* finish(sorted[4]!, "FAILED", withTests)
    yield* finish(sorted[8]!, "CERTIFIED", withTests)
    return { job, sorted: yield* Effect.forEach(sorted, (u) => unitOf(u.id)) }
  })

  test("unitsPage pages a job's units by model then region, leaving test records out unless asked", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, sorted } = yield* grid()
      const first = yield* storage.unitsPage(job.id, { filter: {}, page: { page: 1, limit: 4 } })
      assert.strictEqual(first.total, 9)
      assert.strictEqual(first.limit, 4)
      assert.deepStrictEqual(first.items.map((u) => u.id), sorted.slice(0, 4).map((u) => u.id))
      assert.isTrue(first.items.every((u) => u.tests.length === 0))
      // Everything but the test records is the stored unit.
      assert.deepStrictEqual(plain(first.items[0]), plain({ ...sorted[0]!, tests: [] }))
      const last = yield* storage.unitsPage(job.id, { filter: {}, page: { page: 3, limit: 4 }, withTests: true })
      assert.deepStrictEqual(plain(last.items), plain([sorted[8]]))
      assert.strictEqual(last.items[0]!.tests.length, 2)
      const uncounted = yield* storage.unitsPage(job.id, { filter: {}, page: { page: 1, limit: 4 }, countTotal: false })
      assert.include([9, -1], uncounted.total)
      assert.deepStrictEqual(uncounted.items.map((u) => u.id), first.items.map((u) => u.id))
      const past = yield* storage.unitsPage(job.id, { filter: {}, page: { page: 4, limit: 4 } })
      assert.strictEqual(past.total, 9)
      assert.deepStrictEqual(past.items, [])
      const unknown = yield* storage.unitsPage(Fixtures.makeJobId(), { filter: {}, page: { page: 1, limit: 10 } })
      assert.strictEqual(unknown.total, 0)
      assert.deepStrictEqual(unknown.items, [])
    }))

  test("unitsPage filters by status, region and model id, and totals count the filtered units", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, sorted } = yield* grid()
      const ids = (p: { readonly items: ReadonlyArray<Domain.Unit> }) => p.items.map((u) => u.id)
      const page = { page: 1, limit: 10 }
      const certified = yield* storage.unitsPage(job.id, { filter: { status: "CERTIFIED" }, page })
      assert.strictEqual(certified.total, 2)
      assert.deepStrictEqual(ids(certified), [sorted[0]!.id, sorted[8]!.id])
      const west = yield* storage.unitsPage(job.id, { filter: { region: usWest2 }, page })
      assert.deepStrictEqual(ids(west), sorted.filter((u) => u.region === usWest2).map((u) => u.id))
      const model = sorted[4]!.modelId
      const one = yield* storage.unitsPage(job.id, { filter: { modelId: model, region: sorted[4]!.region }, page })
      assert.deepStrictEqual(ids(one), [sorted[4]!.id])
      const failedElsewhere = yield* storage.unitsPage(job.id, { filter: { modelId: model, status: "CERTIFIED" }, page })
      assert.strictEqual(failedElsewhere.total, 0)
      const queued = yield* storage.unitsPage(job.id, { filter: { status: "QUEUED" }, page: { page: 2, limit: 4 } })
      assert.strictEqual(queued.total, 6)
      assert.deepStrictEqual(ids(queued), sorted.filter((u) => u.status === "QUEUED").slice(4).map((u) => u.id))
    }))

  test("unitsPage caps the page size at maxUnitsPageSize", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const modelIds = Array.from({ length: 130 }, () => Fixtures.makeModelId())
      const { job } = yield* create({ modelIds, regions: [usEast1, usWest2, euWest1, "ap-south-1" as Region] })
      const page = yield* storage.unitsPage(job.id, { filter: {}, page: { page: 1, limit: 10_000 } })
      assert.strictEqual(page.total, 520)
      assert.strictEqual(page.limit, maxUnitsPageSize)
      assert.strictEqual(page.items.length, maxUnitsPageSize)
    }))

  test("unitCells lists every unit's model, region, status and grade in model then region order", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, sorted } = yield* grid()
      const cells = yield* storage.unitCells(job.id)
      assert.deepStrictEqual(
        plain(cells),
        plain(sorted.map((u) => ({ modelId: u.modelId, region: u.region, status: u.status, score: u.score, grade: u.grade })))
      )
      assert.deepStrictEqual(yield* storage.unitCells(Fixtures.makeJobId()), [])
    }))

  test("saveProgress merges tests by id under the current lease and survives release and reclaim", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 1)
      yield* start(job, units)
      const unit = units[0]!
      const lease = crypto.randomUUID()
      some(yield* storage.claimUnit(unit.id, lease), "claim")
      const target = new Domain.InvocationTarget({ kind: "SYSTEM_PROFILE", id: "us.fixture" })
      const gate = Fixtures.makeTestResult({ id: "connectivity", status: "ERRORED", attempts: 4 })
      assert.isTrue(yield* storage.saveProgress(unit.id, lease, { invocationTarget: target, tests: [gate] }))
      const math = Fixtures.makeTestResult({ id: "math", name: "Math" })
      const gateAgain = Fixtures.makeTestResult({ id: "connectivity", attempts: 1 })
      assert.isTrue(yield* storage.saveProgress(unit.id, lease, { invocationTarget: null, tests: [math, gateAgain] }))
      const saved = yield* unitOf(unit.id)
      assert.strictEqual(saved.status, "PROCESSING")
      assert.strictEqual(saved.lease, lease)
      assert.strictEqual(saved.attempts, 1)
      assert.deepStrictEqual(plain(saved.invocationTarget), plain(target))
      assert.deepStrictEqual(plain(saved.tests), plain([math, gateAgain]))
      // A redelivery finds what the first claim saved.
      assert.isTrue(yield* storage.releaseUnit(unit.id, lease))
      const again = some(yield* storage.claimUnit(unit.id, "second"), "reclaim")
      assert.deepStrictEqual(plain(again.tests), plain([math, gateAgain]))
      assert.deepStrictEqual(plain(again.invocationTarget), plain(target))
    }))

  test("saveProgress with a stale lease, on a terminal unit or in a cancelled job writes nothing", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 2)
      yield* start(job, units)
      const [a, b] = units
      const test = Fixtures.makeTestResult()
      const progress = { invocationTarget: null, tests: [test] }
      some(yield* storage.claimUnit(a!.id, "old"), "claim")
      some(yield* storage.claimUnit(a!.id, "new"), "reclaim")
      assert.isFalse(yield* storage.saveProgress(a!.id, "old", progress))
      assert.deepStrictEqual((yield* unitOf(a!.id)).tests, [])
      assert.isTrue(yield* storage.completeUnit(a!.id, "new", Fixtures.makeOutcome("FAILED", { tests: [] })))
      assert.isFalse(yield* storage.saveProgress(a!.id, "new", progress))
      assert.deepStrictEqual((yield* unitOf(a!.id)).tests, [])
      some(yield* storage.claimUnit(b!.id, "b"), "claim b")
      some(yield* storage.transitionJob(job.id, { from: ["PROCESSING"], to: "CANCELLED" }), "cancel")
      assert.isFalse(yield* storage.saveProgress(b!.id, "b", progress))
      assert.deepStrictEqual((yield* unitOf(b!.id)).tests, [])
      assert.isFalse(yield* storage.saveProgress(Fixtures.makeUnitId(), "b", progress))
    }))
}

// ---------------------------------------------------------------------------------------------
// Progress events (issue 18): appendProgress, progressAfter
// ---------------------------------------------------------------------------------------------

const progressTests = (test: Test): void => {
  const progressOf = (job: Domain.Job, i: number) =>
    new ProgressEvent({
      jobId: job.id,
      type: i === 0 ? "job-status" : "unit-completed",
      unitId: i === 0 ? null : Fixtures.makeUnits(job, 1)[0]!.id,
      status: i === 0 ? "QUEUED" : "CERTIFIED",
      at: isoAt(Date.UTC(2020, 0, 1) + i)
    })

  test("appendProgress numbers a job's events 1, 2, 3 and progressAfter reads them back after a cursor, in order", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job } = yield* create({}, 1)
      const other = yield* create({}, 1)
      const events = [0, 1, 2].map((i) => progressOf(job, i))
      const seqs = yield* Effect.forEach(events, (e) => storage.appendProgress(e))
      assert.deepStrictEqual(seqs.map((o) => some(o, "seq")), [1, 2, 3])
      assert.deepStrictEqual(some(yield* storage.appendProgress(progressOf(other.job, 0)), "other seq"), 1)
      const all = yield* storage.progressAfter(job.id, 0, 10)
      assert.deepStrictEqual(plain(all), plain(events.map((event, i) => ({ seq: i + 1, event }))))
      assert.deepStrictEqual(plain(yield* storage.progressAfter(job.id, 1, 1)), plain([{ seq: 2, event: events[1] }]))
      assert.deepStrictEqual(yield* storage.progressAfter(job.id, 3, 10), [])
      assert.strictEqual((yield* storage.progressAfter(other.job.id, 0, 10)).length, 1)
    }))

  test("appendProgress for an unknown job writes nothing; progressAfter of an unknown job is empty", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const ghost = Fixtures.makeJob({})
      assert.isTrue(Option.isNone(yield* storage.appendProgress(progressOf(ghost, 0))))
      assert.deepStrictEqual(yield* storage.progressAfter(ghost.id, 0, 10), [])
    }))

  test("concurrent appends to one job get distinct consecutive numbers, read back in that order", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job } = yield* create({}, 1)
      const events = Array.from({ length: 20 }, (_, i) => progressOf(job, i + 1))
      const seqs = yield* Effect.forEach(events, (e) => storage.appendProgress(e), { concurrency: 20 })
      const numbers = seqs.map((o) => some(o, "seq"))
      assert.deepStrictEqual([...numbers].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1))
      const stored = yield* storage.progressAfter(job.id, 0, 100)
      assert.deepStrictEqual(stored.map((s) => s.seq), Array.from({ length: 20 }, (_, i) => i + 1))
      // Each number belongs to the event it was returned for.
      for (const [i, seq] of numbers.entries()) assert.strictEqual(stored[seq - 1]!.event.at, events[i]!.at)
    }))

  test("cleanup deletes a job's progress events with the job", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const old = yield* create({}, 1)
      yield* start(old.job, old.units)
      yield* finish(old.units[0]!, "CERTIFIED")
      some(yield* storage.transitionJob(old.job.id, { from: ["PROCESSING"], to: "COMPLETED" }), "complete old")
      some(yield* storage.appendProgress(progressOf(old.job, 0)), "seq")
      yield* tick
      const cutoff = isoAt(yield* nowMillis)
      assert.isAtLeast(yield* storage.cleanup(cutoff), 1)
      assert.deepStrictEqual(yield* storage.progressAfter(old.job.id, 0, 10), [])
    }))
}

/** Issue 15: not-yet-enqueued jobs, the reconciler's reads, the database clock, and the latest view by order of writes. */
const reconciliationTests = (test: Test): void => {
  test("a job is created not yet enqueued: unenqueuedJobs lists live ones written before the cutoff, oldest first, until markEnqueued", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      // Issue 10: the cut-off is on the backend's clock and the stamps must be too. The jobs carry
      // `createdAt`s from callers whose clocks are decades off (behind, ahead, ahead), so a store
      // that compared the caller's stamp would list the first before it was written and never the others.
      const early = isoAt((yield* storage.databaseTime) - 1)
      const older = yield* create({ createdAt: isoAt(Date.UTC(1990, 0, 1)) }, 1)
      yield* tick
      const newer = yield* create({ createdAt: isoAt(Date.UTC(2100, 0, 1)) }, 1)
      yield* tick
      const ended = yield* create({ createdAt: isoAt(Date.UTC(2100, 0, 2)) }, 1)
      some(yield* storage.transitionJob(ended.job.id, { from: ["PENDING"], to: "CANCELLED" }), "cancel")
      const ours = (ids: ReadonlyArray<Domain.JobId>) => ids.filter((id) => [older, newer, ended].some((c) => c.job.id === id))
      assert.deepStrictEqual(ours(yield* storage.unenqueuedJobs(early, 100_000)), [], "written after the cut-off")
      // What the reconciler does: after the grace, the cut-off is databaseTime − grace.
      const grace = 50
      yield* Effect.sleep(`${grace * 3} millis`)
      const cutoff = isoAt((yield* storage.databaseTime) - grace)
      const listed = yield* storage.unenqueuedJobs(cutoff, 100_000)
      assert.deepStrictEqual(ours(listed), [older.job.id, newer.job.id], "live jobs older than the grace, oldest first; terminal ones left out")
      assert.deepStrictEqual(yield* storage.unenqueuedJobs(cutoff, 1), listed.slice(0, 1), "limit")
      yield* storage.markEnqueued(older.job.id)
      yield* storage.markEnqueued(older.job.id)
      yield* storage.markEnqueued(Fixtures.makeJobId())
      const after = yield* storage.unenqueuedJobs(cutoff, 100_000)
      assert.notInclude(after, older.job.id)
      assert.include(after, newer.job.id)
      yield* storage.markEnqueued(newer.job.id)
    }))

  test("activeUnits lists non-terminal units of enqueued QUEUED/PROCESSING jobs by id, with keyset paging", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const live = yield* create({}, 4)
      yield* start(live.job, live.units)
      const done = yield* finish(live.units[0]!, "CERTIFIED")
      const paused = yield* create({}, 1)
      yield* start(paused.job, paused.units)
      some(yield* storage.transitionJob(paused.job.id, { from: ["PROCESSING"], to: "PAUSED" }), "pause")
      const notEnqueued = yield* create({}, 1)
      yield* start(notEnqueued.job, notEnqueued.units)
      // Issue 10: enqueued before a cut-off on the backend's clock, whatever this process's says.
      const early = isoAt((yield* storage.databaseTime) - 1)
      yield* storage.markEnqueued(live.job.id)
      yield* storage.markEnqueued(paused.job.id)
      yield* tick
      const cutoff = isoAt((yield* storage.databaseTime) + 1)
      const mine = new Set([...live.units, ...paused.units, ...notEnqueued.units].map((u) => u.id))
      const all = (yield* storage.activeUnits({ before: cutoff, after: null, limit: 100_000 })).filter((u) =>
        mine.has(u.id)
      )
      const expected = live.units.filter((u) => u.id !== done.id).map((u) => u.id).sort()
      assert.deepStrictEqual(all.map((u) => u.id), expected, "by id; terminal, paused and unenqueued left out")
      assert.deepStrictEqual(all.map((u) => u.status), expected.map(() => "QUEUED"))
      const first = yield* storage.activeUnits({ before: cutoff, after: expected[0]!, limit: 1 })
      assert.strictEqual(first.length, 1)
      assert.isTrue(first[0]!.id > expected[0]!, "keyset: strictly after the cursor")
      const beforeEnqueue = yield* storage.activeUnits({ before: early, after: null, limit: 100_000 })
      assert.isFalse(beforeEnqueue.some((u) => mine.has(u.id)), "jobs enqueued after `before` are left out")
      for (const unit of live.units.slice(1)) yield* finish(unit, "FAILED")
    }))

  test("finishableJobs lists QUEUED/PROCESSING jobs whose units are all terminal", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const all = yield* create({}, 2)
      yield* start(all.job, all.units)
      for (const unit of all.units) yield* finish(unit, "CERTIFIED")
      const half = yield* create({}, 2)
      yield* start(half.job, half.units)
      yield* finish(half.units[0]!, "CERTIFIED")
      const completed = yield* create({}, 1)
      yield* start(completed.job, completed.units)
      yield* finish(completed.units[0]!, "CERTIFIED")
      some(yield* storage.transitionJob(completed.job.id, { from: ["PROCESSING"], to: "COMPLETED" }), "complete")
      const listed = yield* storage.finishableJobs(100_000)
      assert.include(listed, all.job.id)
      assert.notInclude(listed, half.job.id)
      assert.notInclude(listed, completed.job.id)
    }))

  test("the latest view follows the order of writes, not the writer's clock (a clock 1 h behind or ahead)", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const model = Fixtures.makeModelId()
      // The writer's clock, shifted from the live one.
      const shifted = <A, E, R>(offsetMillis: number, effect: Effect.Effect<A, E, R>) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.provideService(effect, Clock.Clock, Fixtures.clockAt(now + offsetMillis)))
      const run = (verdict: Domain.Verdict, offsetMillis: number) =>
        Effect.gen(function*() {
          const { job, units } = yield* create({ modelIds: [model], regions: [usEast1] })
          yield* start(job, units)
          return yield* shifted(offsetMillis, finish(units[0]!, verdict))
        })
      const ahead = yield* run("FAILED", 3_600_000)
      yield* tick
      const normal = yield* run("CERTIFIED", 0)
      let page = yield* storage.latest({ modelId: model }, { page: 1, limit: 10 })
      assert.strictEqual(page.items[0]!.id, normal.id, "a clock ahead does not pin the view with an older result")
      assert.isAbove(Date.parse(ahead.completedAt!), Date.parse(normal.completedAt!))
      yield* tick
      const behind = yield* run("QUALITY_WARNING", -3_600_000)
      page = yield* storage.latest({ modelId: model }, { page: 1, limit: 10 })
      assert.strictEqual(page.total, 1)
      assert.strictEqual(page.items[0]!.id, behind.id, "a clock behind still gets its newer result in")
      assert.strictEqual(page.items[0]!.status, "QUALITY_WARNING")
    }))

  test("databaseTime is the backend's clock, in epoch milliseconds: its offset from this process's clock is steady and it advances with elapsed time", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      // Issue 10: nothing here assumes the two clocks agree (a database months behind a faked
      // process clock is fine); only that each advances at the pace of real time.
      const sample = Effect.gen(function*() {
        const before = yield* nowMillis
        const theirs = yield* storage.databaseTime
        const after = yield* nowMillis
        return { theirs, offset: theirs - (before + after) / 2, spread: after - before }
      })
      const first = yield* sample
      yield* Effect.sleep("300 millis")
      const second = yield* sample
      for (const s of [first, second]) assert.isTrue(Number.isInteger(s.theirs))
      assert.isAtLeast(second.theirs - first.theirs, 250, "advances with elapsed time")
      assert.isAtMost(second.theirs - first.theirs, 10_000, "at the pace of real time")
      assert.isAtMost(Math.abs(second.offset - first.offset), 2_000 + first.spread + second.spread, "a steady offset")
    }))
}

// ---------------------------------------------------------------------------------------------
// Job detail in one read (issue 16): jobDetail, and counts kept through every unit write
// ---------------------------------------------------------------------------------------------

const jobDetailTests = (test: Test): void => {
  /** What `jobDetail` must equal: the three reads it stands for. */
  const separately = Effect.fnUntraced(function*(jobId: Domain.JobId, query: Parameters<Storage["Service"]["unitsPage"]>[1]) {
    const storage = yield* Storage
    const job = some(yield* storage.getJob(jobId), `job ${jobId}`)
    return { job, counts: yield* storage.counts(jobId), units: yield* storage.unitsPage(jobId, query) }
  })

  /** The counts, both through `counts` and `jobDetail`, equal the ones derived from the unit rows. */
  const assertCounts = Effect.fnUntraced(function*(jobId: Domain.JobId, step: string) {
    const storage = yield* Storage
    const expected = plain(expectedCounts(yield* storage.getUnits(jobId)))
    assert.deepStrictEqual(plain(yield* storage.counts(jobId)), expected, `counts after ${step}`)
    const detail = some(yield* storage.jobDetail(jobId, { filter: {}, page: { page: 1, limit: 1 } }), "detail")
    assert.deepStrictEqual(plain(detail.counts), expected, `jobDetail counts after ${step}`)
  })

  test("jobDetail is getJob, counts and unitsPage of the job in one read; an unknown job is none", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const modelIds = [Fixtures.makeModelId("a.m"), Fixtures.makeModelId("b.m"), Fixtures.makeModelId("c.m")]
      const { job, units } = yield* create({ modelIds, regions: [usWest2, euWest1, usEast1] })
      yield* start(job, units)
      const sorted = sortedUnits(units)
      const withTests = { tests: [Fixtures.makeTestResult(), Fixtures.makeTestResult({ id: "math", name: "Math" })] }
      yield* finish(sorted[0]!, "CERTIFIED", withTests)
      yield* finish(sorted[4]!, "FAILED", withTests)
      some(yield* storage.claimUnit(sorted[5]!.id, crypto.randomUUID()), "claim")
      const queries = [
        { filter: {}, page: { page: 1, limit: 4 } },
        { filter: {}, page: { page: 3, limit: 4 }, withTests: true },
        { filter: {}, page: { page: 1, limit: 100 }, withTests: true },
        { filter: { status: "CERTIFIED" as const }, page: { page: 1, limit: 10 } },
        { filter: { region: usWest2 }, page: { page: 1, limit: 2 } },
        { filter: { modelId: sorted[4]!.modelId, status: "FAILED" as const }, page: { page: 1, limit: 10 }, withTests: true },
        { filter: {}, page: { page: 9, limit: 4 } }
      ]
      for (const query of queries) {
        const detail = some(yield* storage.jobDetail(job.id, query), "detail")
        assert.deepStrictEqual(plain(detail), plain(yield* separately(job.id, query)), JSON.stringify(query))
      }
      const first = some(yield* storage.jobDetail(job.id, { filter: {}, page: { page: 1, limit: 100 }, withTests: true }), "all")
      assert.deepStrictEqual(plain(first.units.items), plain(yield* Effect.forEach(sorted, (u) => unitOf(u.id))))
      assert.strictEqual(first.units.items[0]!.tests.length, 2)
      assert.instanceOf(first.job, Domain.Job)
      assert.instanceOf(first.units.items[0], Domain.Unit)
      const uncounted = some(
        yield* storage.jobDetail(job.id, { filter: {}, page: { page: 1, limit: 4 }, countTotal: false }),
        "uncounted"
      )
      assert.include([9, -1], uncounted.units.total)
      assert.deepStrictEqual(uncounted.units.items.map((u) => u.id), sorted.slice(0, 4).map((u) => u.id))
      const capped = some(yield* storage.jobDetail(job.id, { filter: {}, page: { page: 1, limit: 10_000 } }), "capped")
      assert.strictEqual(capped.units.limit, maxUnitsPageSize)
      assert.isTrue(Option.isNone(yield* storage.jobDetail(Fixtures.makeJobId(), { filter: {}, page: { page: 1, limit: 10 } })))
    }))

  test("a job without units has a detail with zero counts and an empty page", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job } = yield* create({}, 0)
      const detail = some(yield* storage.jobDetail(job.id, { filter: {}, page: { page: 1, limit: 10 } }), "detail")
      assert.strictEqual(detail.counts.total, 0)
      assert.deepStrictEqual(detail.units.items, [])
      assert.strictEqual(detail.units.total, 0)
      assert.deepStrictEqual(plain(detail.job), plain(yield* jobOf(job.id)))
    }))

  test("counts follow every unit write: queue, claim, progress, release, complete, cancel, cleanup", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 6)
      yield* assertCounts(job.id, "create")
      yield* start(job, units.slice(0, 5))
      yield* assertCounts(job.id, "markQueued")
      const lease = crypto.randomUUID()
      some(yield* storage.claimUnit(units[0]!.id, lease), "claim")
      some(yield* storage.claimUnit(units[1]!.id, "other"), "claim")
      yield* assertCounts(job.id, "claim")
      assert.isTrue(yield* storage.saveProgress(units[0]!.id, lease, { invocationTarget: null, tests: [Fixtures.makeTestResult()] }))
      yield* assertCounts(job.id, "saveProgress")
      assert.isTrue(yield* storage.releaseUnit(units[1]!.id, "other"))
      yield* assertCounts(job.id, "release")
      assert.isTrue(yield* storage.completeUnit(units[0]!.id, lease, Fixtures.makeOutcome("CERTIFIED")))
      assert.isFalse(yield* storage.completeUnit(units[0]!.id, lease, Fixtures.makeOutcome("FAILED")), "a refused write")
      yield* assertCounts(job.id, "complete")
      yield* finish(units[2]!, "UNAVAILABLE")
      some(yield* storage.claimUnit(units[3]!.id, crypto.randomUUID()), "claim")
      some(yield* storage.transitionJob(job.id, { from: ["PROCESSING"], to: "CANCELLED" }), "cancel")
      yield* assertCounts(job.id, "cancel")
      const counts = yield* storage.counts(job.id)
      assert.strictEqual(counts.byVerdict.CANCELLED, 4)
      assert.strictEqual(counts.total, 6)
      // Retention deletes the job with its units: nothing of its counts remains.
      const { job: ended } = yield* create({ status: "COMPLETED", completedAt: isoAt(Date.UTC(1999, 0, 1)) }, 3)
      yield* assertCounts(ended.id, "create a terminal job")
      assert.isAtLeast(yield* storage.cleanup(isoAt(Date.UTC(1999, 0, 2))), 1)
      assert.isTrue(Option.isNone(yield* storage.jobDetail(ended.id, { filter: {}, page: { page: 1, limit: 10 } })))
      assert.strictEqual((yield* storage.counts(ended.id)).total, 0)
    }))

  test("counts stay exact under concurrent claims and completions of one job", () =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const { job, units } = yield* create({}, 24)
      yield* start(job, units)
      const verdicts: ReadonlyArray<Domain.Verdict> = ["CERTIFIED", "FAILED", "QUALITY_WARNING", "UNAVAILABLE"]
      yield* Effect.forEach(units, (u, i) => {
        const lease = `lease-${i}`
        return Effect.flatMap(storage.claimUnit(u.id, lease), () =>
          i % 3 === 0
            ? storage.releaseUnit(u.id, lease)
            : storage.completeUnit(u.id, lease, Fixtures.makeOutcome(verdicts[i % verdicts.length]!)))
      }, { concurrency: "unbounded", discard: true })
      yield* assertCounts(job.id, "concurrent writes")
      const counts = yield* storage.counts(job.id)
      assert.strictEqual(counts.queued, 8)
      assert.strictEqual(counts.completed, 16)
    }))
}
