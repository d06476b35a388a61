/**
 * Issue 10: what the reconciler compares with a cut-off on `databaseTime` is stamped by
 * PostgreSQL's clock, not the caller's. Under `it.effect` the caller's `Clock` is `TestClock`, stuck
 * at 1970 — a process clock 56 years behind the database — and the job's `createdAt` says 2100: a
 * store that stamped from either would list the job before it was written or never.
 */
import { assert, describe, layer } from "@effect/vitest"
import { type Domain, Storage } from "@myia/certification"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { job, skip, storageLayer, units, useSchema } from "./PgTest.ts"

const schema = useSchema()

const isoAt = (millis: number) => new Date(millis).toISOString() as Domain.Timestamp

describe.skipIf(skip)("PgStorage clock stamps", () => {
  layer(storageLayer(schema), { timeout: "60 seconds" })("reconciler stamps", (it) => {
    it.effect("job creation and markEnqueued are stamped by the database's clock, whatever the caller's Clock and createdAt say", () =>
      Effect.gen(function*() {
        const storage = yield* Storage.Storage
        const beforeCreate = isoAt((yield* storage.databaseTime) - 1)
        const j = job({ status: "PENDING", createdAt: "2100-01-01T00:00:00.000Z" })
        const us = units(j)
        yield* storage.createJob(j, us)
        const afterCreate = isoAt((yield* storage.databaseTime) + 1)
        assert.notInclude(yield* storage.unenqueuedJobs(beforeCreate, 100_000), j.id, "not before it was written")
        assert.include(yield* storage.unenqueuedJobs(afterCreate, 100_000), j.id, "once written, whatever its createdAt")

        assert.isTrue(Option.isSome(yield* storage.transitionJob(j.id, { from: ["PENDING"], to: "QUEUED" })))
        const beforeEnqueue = isoAt((yield* storage.databaseTime) - 1)
        yield* storage.markEnqueued(j.id)
        const afterEnqueue = isoAt((yield* storage.databaseTime) + 1)
        const listed = (before: Domain.Timestamp) =>
          Effect.map(storage.activeUnits({ before, after: null, limit: 100_000 }), (found) =>
            found.filter((u) => u.jobId === j.id).length)
        assert.strictEqual(yield* listed(beforeEnqueue), 0, "not enqueued before the cut-off (a 1970 stamp would be)")
        assert.strictEqual(yield* listed(afterEnqueue), us.length, "enqueued before the cut-off")
        assert.notInclude(yield* storage.unenqueuedJobs(afterEnqueue, 100_000), j.id)
      }))
  })
})
