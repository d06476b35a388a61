import { assert, describe, it } from "@effect/vitest"
import { Queue as BullQueue } from "bullmq"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Domain, Queue } from "@myia/certification"
import { BullMqQueue } from "../src/index.ts"
import { cleanup, freshPrefix, message, redisUrl, shouldRun } from "./RedisTest.ts"

const fastOptions = (prefix: string, overrides: Partial<BullMqQueue.Options> = {}): BullMqQueue.Options => ({
  connection: redisUrl,
  prefix,
  lockDuration: "1 second",
  stalledInterval: "500 millis",
  backoff: { baseMillis: 20, maxMillis: 100 },
  ...overrides
})

/** Build a queue layer in the current scope; each call opens its own Redis connections. */
const build = (options: BullMqQueue.Options) =>
  // Registered first, so it runs after the layer has closed its connections.
  Effect.addFinalizer(() => Effect.promise(() => cleanup(options.prefix ?? "bull"))).pipe(
    Effect.andThen(Layer.build(BullMqQueue.layer(options))),
    Effect.map((context) => ({ queue: Context.get(context, Queue.Queue), admin: Context.get(context, BullMqQueue.BullMqQueueAdmin) }))
  )

const waitUntil = (what: string, predicate: () => boolean, timeoutMillis = 10_000) =>
  Effect.gen(function*() {
    const deadline = performance.now() + timeoutMillis
    while (!predicate()) {
      if (performance.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

/** Run `effect` until its result satisfies `predicate` (the queue settles a moment after a handler ends). */
const eventually = <A, E>(effect: Effect.Effect<A, E>, predicate: (a: A) => boolean, timeoutMillis = 5_000) =>
  Effect.gen(function*() {
    const deadline = performance.now() + timeoutMillis
    let value = yield* effect
    while (!predicate(value) && performance.now() < deadline) {
      yield* Effect.sleep("20 millis")
      value = yield* effect
    }
    return value
  })

const noDeadLetter = () => Effect.die(new Error("unexpected dead letter"))

describe.skipIf(!shouldRun)("BullMqQueue", () => {
  it("backoffDelay doubles from the base, caps at the maximum and keeps jitter within [d/2, d]", () => {
    const backoff = { baseMillis: 100, maxMillis: 1000 }
    const rows: ReadonlyArray<readonly [failures: number, full: number]> = [[1, 100], [2, 200], [3, 400], [4, 800], [5, 1000], [9, 1000]]
    for (const [failures, full] of rows) {
      assert.strictEqual(BullMqQueue.backoffDelay(failures, backoff, 0), full / 2)
      assert.strictEqual(BullMqQueue.backoffDelay(failures, backoff, 0.999999), full)
      const mid = BullMqQueue.backoffDelay(failures, backoff, 0.5)
      assert.isTrue(mid >= full / 2 && mid <= full)
    }
  })

  it.live("a completed unit is not redelivered when enqueued again (idempotent enqueue after completion)", () =>
    Effect.gen(function*() {
      const { queue } = yield* build(fastOptions(freshPrefix()))
      const unit = message()
      let handled = 0
      yield* queue.consume({
        concurrency: 2,
        handler: () => Effect.sync(() => (handled += 1, Queue.Done)),
        onDeadLetter: noDeadLetter
      })
      yield* queue.enqueue([unit, unit])
      yield* waitUntil("first delivery", () => handled === 1)
      yield* Effect.sleep("200 millis")
      yield* queue.enqueue([unit])
      yield* Effect.sleep("500 millis")
      assert.strictEqual(handled, 1)
      assert.deepStrictEqual(yield* queue.counts, { waiting: 0, active: 0, delayed: 0, failed: 0 })
    }))

  it.live("Retry that does not count as failure never spends the failure budget", () =>
    Effect.gen(function*() {
      const { queue } = yield* build(fastOptions(freshPrefix(), { maxAttempts: 2 }))
      const attempts: Array<number> = []
      yield* queue.consume({
        concurrency: 1,
        handler: (delivery) =>
          Effect.sync(() => {
            attempts.push(delivery.attempt)
            return delivery.attempt < 5
              ? Queue.Retry({ delayMillis: 10, countsAsFailure: false, reason: "throttled" })
              : Queue.Done
          }),
        onDeadLetter: noDeadLetter
      })
      yield* queue.enqueue([message()])
      yield* waitUntil("five deliveries", () => attempts.length === 5)
      yield* Effect.sleep("200 millis")
      assert.deepStrictEqual(attempts, [1, 2, 3, 4, 5])
      assert.strictEqual((yield* queue.counts).failed, 0)
    }))

  it.live("uncounted retries are still capped by maxStarts, then dead-lettered", () =>
    Effect.gen(function*() {
      const { queue } = yield* build(fastOptions(freshPrefix(), { maxAttempts: 2, maxStarts: 3 }))
      const dead: Array<{ error: string; attempts: number }> = []
      let starts = 0
      yield* queue.consume({
        concurrency: 1,
        handler: () => Effect.sync(() => (starts += 1, Queue.Retry({ delayMillis: 5, countsAsFailure: false, reason: "wait" }))),
        onDeadLetter: (_message, error, attempts) => Effect.sync(() => dead.push({ error, attempts }))
      })
      yield* queue.enqueue([message()])
      yield* waitUntil("dead letter", () => dead.length === 1)
      assert.strictEqual(starts, 3)
      assert.match(dead[0]!.error, /maxStarts 3/)
    }))

  it.live("a failing unit is retried until maxAttempts, then dead-lettered once with its last error", () =>
    Effect.gen(function*() {
      const { admin, queue } = yield* build(fastOptions(freshPrefix(), { maxAttempts: 3 }))
      const unit = message()
      const attempts: Array<number> = []
      const dead: Array<{ message: Queue.UnitMessage; error: string; attempts: number }> = []
      yield* queue.consume({
        concurrency: 1,
        handler: (delivery) =>
          Effect.suspend(() => {
            attempts.push(delivery.attempt)
            return delivery.attempt === 2 ? Effect.die(new Error("defect 2")) : Effect.fail(`boom ${delivery.attempt}`)
          }),
        onDeadLetter: (m, error, n) => Effect.sync(() => dead.push({ message: m, error, attempts: n }))
      })
      yield* queue.enqueue([unit])
      yield* waitUntil("dead letter", () => dead.length === 1)
      assert.deepStrictEqual(attempts, [1, 2, 3])
      assert.strictEqual(dead[0]!.message.unitId, unit.unitId)
      assert.match(dead[0]!.error, /boom 3/)
      assert.strictEqual(dead[0]!.attempts, 3)
      const letters = yield* eventually(admin.deadLetters(), (l) => l.length === 1)
      assert.strictEqual(letters[0]!.id, unit.unitId)
      assert.strictEqual(letters[0]!.message?.region, unit.region)
      assert.match(letters[0]!.lastError, /boom 3/)
      assert.strictEqual(letters[0]!.attempts, 3)
      assert.strictEqual((yield* queue.counts).failed, 1)
      yield* Effect.sleep("200 millis")
      assert.strictEqual(dead.length, 1)
    }))

  it.live("a bad payload goes to the dead letters and the consumer keeps working", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const { admin, queue } = yield* build(fastOptions(prefix))
      const bull = new BullQueue(BullMqQueue.defaultQueueName, { connection: { url: redisUrl }, prefix })
      yield* Effect.addFinalizer(() => Effect.promise(() => bull.close()))
      yield* Effect.promise(() => bull.add("unit", { unitId: "x", region: "mars-1" }, { jobId: "bad-payload" }))
      const handled: Array<string> = []
      yield* queue.consume({
        concurrency: 1,
        handler: (delivery) => Effect.sync(() => (handled.push(delivery.message.unitId), Queue.Done)),
        onDeadLetter: noDeadLetter
      })
      const good = message()
      yield* queue.enqueue([good])
      yield* waitUntil("good unit", () => handled.length === 1)
      assert.deepStrictEqual(handled, [good.unitId])
      const letters = yield* eventually(admin.deadLetters(), (l) => l.length === 1)
      assert.strictEqual(letters[0]!.id, "bad-payload")
      assert.isNull(letters[0]!.message)
      assert.match(letters[0]!.lastError, /invalid unit payload/)
    }))

  it.live("the region concurrency limit holds across two consumers on separate connections", () =>
    Effect.gen(function*() {
      const options = fastOptions(freshPrefix(), {
        regionLimits: { "us-east-1": { concurrency: 2, ratePerSecond: 0 } },
        lockDuration: "5 seconds"
      })
      const a = yield* build(options)
      const b = yield* build(options)
      let current = 0
      let max = 0
      let done = 0
      const otherRegion = { current: 0, max: 0 }
      const handler = (delivery: Queue.Delivery) => {
        const counter = delivery.message.region === "us-east-1" ? null : otherRegion
        return Effect.sync(() => {
          if (counter) counter.max = Math.max(counter.max, ++counter.current)
          else max = Math.max(max, ++current)
        }).pipe(
          Effect.andThen(Effect.sleep("100 millis")),
          Effect.andThen(Effect.sync(() => {
            if (counter) counter.current -= 1
            else current -= 1
            done += 1
            return Queue.Done
          }))
        )
      }
      yield* a.queue.consume({ concurrency: 4, handler, onDeadLetter: noDeadLetter })
      yield* b.queue.consume({ concurrency: 4, handler, onDeadLetter: noDeadLetter })
      yield* a.queue.enqueue([...Array.from({ length: 10 }, () => message("us-east-1")), ...Array.from({ length: 6 }, () => message("eu-west-1"))])
      yield* waitUntil("all units", () => done === 16, 20_000)
      assert.isAtMost(max, 2)
      assert.strictEqual(max, 2)
      // An unlimited region is not held back by another region's limit.
      assert.isAbove(otherRegion.max, 2)
      assert.strictEqual(yield* a.admin.inFlight("us-east-1" as Domain.Region), 0)
    }))

  it.live("the region start rate holds across two consumers in every 1 s window", () =>
    Effect.gen(function*() {
      const rate = 5
      const options = fastOptions(freshPrefix(), { regionLimits: { "us-west-2": { concurrency: 100, ratePerSecond: rate } } })
      const a = yield* build(options)
      const b = yield* build(options)
      const starts: Array<number> = []
      const handler = () => Effect.sync(() => (starts.push(performance.now()), Queue.Done))
      yield* a.queue.consume({ concurrency: 10, handler, onDeadLetter: noDeadLetter })
      yield* b.queue.consume({ concurrency: 10, handler, onDeadLetter: noDeadLetter })
      const total = 18
      yield* a.queue.enqueue(Array.from({ length: total }, () => message("us-west-2")))
      yield* waitUntil("all starts", () => starts.length === total, 20_000)
      const sorted = [...starts].sort((x, y) => x - y)
      let worst = 0
      for (let i = 0; i < sorted.length; i++) {
        let j = i
        while (j < sorted.length && sorted[j]! < sorted[i]! + 1000) j++
        worst = Math.max(worst, j - i)
      }
      assert.isAtMost(worst, Math.floor(rate * 1.1))
      // Without the limit all 18 would start at once: the rate was actually reached, not idle.
      assert.isAtLeast(worst, rate - 1)
    }))

  it.live("closing the consumer's scope releases in-flight units for redelivery without failing them", () =>
    Effect.gen(function*() {
      const options = fastOptions(freshPrefix(), { maxAttempts: 1 })
      const { queue } = yield* build(options)
      const first: Array<number> = []
      let interrupted = false
      const consumerScope = yield* Scope.make()
      yield* queue.consume({
        concurrency: 1,
        handler: (delivery) =>
          Effect.sync(() => first.push(delivery.attempt)).pipe(
            Effect.andThen(Effect.never),
            Effect.onInterrupt(() => Effect.sync(() => (interrupted = true)))
          ),
        onDeadLetter: noDeadLetter
      }).pipe(Scope.provide(consumerScope))
      yield* queue.enqueue([message()])
      yield* waitUntil("first delivery", () => first.length === 1)
      yield* Scope.close(consumerScope, Exit.void)
      assert.isTrue(interrupted)
      const counts = yield* queue.counts
      assert.strictEqual(counts.failed, 0)
      assert.strictEqual(counts.active, 0)
      const second: Array<number> = []
      yield* queue.consume({
        concurrency: 1,
        handler: (delivery) => Effect.sync(() => (second.push(delivery.attempt), Queue.Done)),
        onDeadLetter: noDeadLetter
      })
      yield* waitUntil("redelivery", () => second.length === 1)
      assert.deepStrictEqual(second, [2])
    }))

  it.live("a unit whose consumer process is SIGKILLed mid-delivery is redelivered after the lock expires", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const options = fastOptions(prefix, { regionLimits: { "us-east-1": { concurrency: 1, ratePerSecond: 0 } } })
      const { queue } = yield* build(options)
      const unit = message("us-east-1")
      yield* queue.enqueue([unit])
      const script = fileURLToPath(new URL("./fixtures/crash-consumer.ts", import.meta.url))
      const child = spawn(process.execPath, ["--conditions=@myia/source", script, redisUrl, prefix, BullMqQueue.defaultQueueName], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      let output = ""
      let exited: number | null = null
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
      child.on("exit", (code) => (exited = code ?? -1))
      yield* waitUntil("the child's first delivery", () => output.includes(`started ${unit.unitId} 1`) || exited !== null, 20_000)
      assert.isNull(exited, "the consumer process died before its first delivery")
      child.kill("SIGKILL")
      const redelivered: Array<number> = []
      yield* queue.consume({
        concurrency: 1,
        handler: (delivery) => Effect.sync(() => (redelivered.push(delivery.attempt), Queue.Done)),
        onDeadLetter: noDeadLetter
      })
      // The dead process's lock (1 s) and its region lease (1 s) both expire; the stalled check runs every 0.5 s.
      yield* waitUntil("redelivery", () => redelivered.length === 1, 10_000)
      assert.deepStrictEqual(redelivered, [2])
      assert.strictEqual((yield* queue.counts).failed, 0)
    }))

  it.live("cancelJob removes the job's waiting units and reaches cancellations in another process's layer", () =>
    Effect.gen(function*() {
      const options = fastOptions(freshPrefix())
      const a = yield* build(options)
      const b = yield* build(options)
      const jobId = crypto.randomUUID() as Domain.JobId
      const other = message()
      yield* a.queue.enqueue([message("us-east-1", jobId), message("eu-west-1", jobId), other])
      assert.strictEqual((yield* a.queue.counts).waiting, 3)
      const received = yield* b.queue.cancellations.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* Effect.sleep("50 millis")
      yield* a.queue.cancelJob(jobId)
      assert.deepStrictEqual(yield* Fiber.join(received), [jobId])
      assert.strictEqual((yield* a.queue.counts).waiting, 1)
    }))

  it.live("progress events published in one layer reach another layer's events stream", () =>
    Effect.gen(function*() {
      const options = fastOptions(freshPrefix())
      const a = yield* build(options)
      const b = yield* build(options)
      const event = new Queue.ProgressEvent({
        jobId: crypto.randomUUID() as Domain.JobId,
        type: "unit-started",
        unitId: crypto.randomUUID() as Domain.UnitId,
        status: "PROCESSING",
        at: new Date().toISOString()
      })
      const received = yield* b.queue.events.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* Effect.sleep("50 millis")
      yield* a.queue.publish(event)
      const [got] = yield* Fiber.join(received)
      assert.deepStrictEqual(got, event)
    }))

  it.live("the layer fails fast with a retryable QueueError when Redis is unreachable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        build({ connection: { host: "127.0.0.1", port: 1, connectTimeout: 500, retryStrategy: () => null }, prefix: freshPrefix() })
      )
      assert.strictEqual(error._tag, "QueueError")
      assert.isTrue((error as Queue.QueueError).retryable)
    }))
})
