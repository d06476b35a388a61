import { assert, describe, it } from "@effect/vitest"
import { Queue as BullQueue } from "bullmq"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { Redis } from "ioredis"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Domain, Queue, RedeliveryPolicy } from "@myia/certification"
import { BullMqQueue } from "../src/index.ts"
import { cleanup, freshPrefix, message, redisUrl, shouldRun } from "./RedisTest.ts"

const fastOptions = (prefix: string, overrides: Partial<BullMqQueue.Options> = {}): BullMqQueue.Options => ({
  connection: redisUrl,
  prefix,
  lockDuration: "1 second",
  stalledInterval: "500 millis",
  redelivery: { backoff: RedeliveryPolicy.exponentialBackoff({ base: "20 millis", max: "100 millis" }) },
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
  it.live("the layer obeys the redelivery option, with maxAttempts / maxStarts as shorthands over it", () =>
    Effect.gen(function*() {
      const defaults = yield* build(fastOptions(freshPrefix(), { redelivery: {} }))
      assert.deepStrictEqual(
        [defaults.queue.redelivery.maxAttempts, defaults.queue.redelivery.maxStarts],
        [RedeliveryPolicy.defaultPolicy.maxAttempts, RedeliveryPolicy.defaultPolicy.maxStarts]
      )
      const shorthand = yield* build(fastOptions(freshPrefix(), { redelivery: { maxAttempts: 5, maxStarts: 9 }, maxAttempts: 2 }))
      assert.deepStrictEqual([shorthand.queue.redelivery.maxAttempts, shorthand.queue.redelivery.maxStarts], [2, 9])
      // An impossible policy is refused before any connection is made, naming the option.
      const exit = yield* Effect.exit(build(fastOptions(freshPrefix(), { maxAttempts: 4, maxStarts: 3 })))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : ""), "maxStarts")
    }))

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

  it.live("deadLetters lists a dead-lettered unit with its message, last error and starts", () =>
    Effect.gen(function*() {
      const { admin, queue } = yield* build(fastOptions(freshPrefix(), { maxAttempts: 2 }))
      const unit = message()
      const dead: Array<string> = []
      yield* queue.consume({
        concurrency: 1,
        handler: (delivery) => Effect.fail(`boom ${delivery.attempt}`),
        onDeadLetter: (m) => Effect.sync(() => dead.push(m.unitId))
      })
      yield* queue.enqueue([unit])
      yield* waitUntil("dead letter", () => dead.length === 1)
      const letters = yield* eventually(admin.deadLetters(), (l) => l.length === 1)
      assert.strictEqual(letters[0]!.id, unit.unitId)
      assert.strictEqual(letters[0]!.message?.region, unit.region)
      assert.match(letters[0]!.lastError, /boom 2/)
      assert.strictEqual(letters[0]!.attempts, 2)
      assert.strictEqual((yield* queue.counts).failed, 1)
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

  it.live("a unit parked in the delayed set beyond maxDelay (as a worker with a clock hours ahead places it) is promoted by a consumer's sweep; one within the bound stays", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const { queue } = yield* build(fastOptions(prefix, { maxDelay: "1 minute" }))
      const bull = new BullQueue(BullMqQueue.defaultQueueName, { connection: { url: redisUrl }, prefix })
      yield* Effect.addFinalizer(() => Effect.promise(() => bull.close()))
      const [parked, near] = [message(), message()]
      // BullMQ scores a delay on the adding process's clock: 2 h here is what a worker 2 h ahead
      // produces with a delay of ~0; 30 s is within the bound and must be left alone.
      yield* Effect.promise(() => bull.add("unit", { ...parked }, { jobId: parked.unitId, delay: 2 * 3_600_000 }))
      yield* Effect.promise(() => bull.add("unit", { ...near }, { jobId: near.unitId, delay: 30_000 }))
      assert.strictEqual((yield* queue.counts).delayed, 2)
      const handled: Array<string> = []
      yield* queue.consume({
        concurrency: 2,
        handler: (delivery) => Effect.sync(() => (handled.push(delivery.message.unitId), Queue.Done)),
        onDeadLetter: noDeadLetter
      })
      // The consumer sweeps once when it starts (then every few seconds).
      yield* waitUntil("the parked unit", () => handled.length >= 1)
      assert.deepStrictEqual(handled, [parked.unitId])
      assert.strictEqual(yield* Effect.promise(() => bull.getJobState(near.unitId)), "delayed")
    }))

  it.live("a payload that is not JSON is dead-lettered at once, not stalled; onUndecodable hears of both kinds of poison", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const { admin, queue } = yield* build(fastOptions(prefix))
      const bull = new BullQueue(BullMqQueue.defaultQueueName, { connection: { url: redisUrl }, prefix })
      yield* Effect.addFinalizer(() => Effect.promise(() => bull.close()))
      yield* Effect.promise(() => bull.add("unit", { unitId: "y", region: "mars-1" }, { jobId: "undecodable" }))
      yield* Effect.promise(() => bull.add("unit", { placeholder: true }, { jobId: "not-json" }))
      // Corrupt the stored payload the way a foreign producer or a bad migration would.
      const raw = new Redis(redisUrl)
      yield* Effect.addFinalizer(() => Effect.promise(() => raw.quit()))
      yield* Effect.promise(() => raw.hset(`${prefix}:${BullMqQueue.defaultQueueName}:not-json`, "data", "{not json"))
      const poison: Array<{ readonly id: string; readonly reason: string }> = []
      const handled: Array<string> = []
      yield* queue.consume({
        concurrency: 2,
        handler: (delivery) => Effect.sync(() => (handled.push(delivery.message.unitId), Queue.Done)),
        onDeadLetter: noDeadLetter,
        onUndecodable: (id, reason) => Effect.sync(() => poison.push({ id, reason }))
      })
      yield* waitUntil("both poison payloads", () => poison.length >= 2)
      const letters = yield* eventually(admin.deadLetters(), (l) => l.length === 2)
      assert.deepStrictEqual(letters.map((l) => l.id).sort(), ["not-json", "undecodable"])
      assert.deepStrictEqual(poison.map((p) => p.id).sort(), ["not-json", "undecodable"])
      assert.include(poison.find((p) => p.id === "not-json")!.reason, "{not json")
      // Dead-lettered at once: a single start each, never redelivered by the stalled check.
      yield* Effect.sleep("2 seconds")
      assert.strictEqual(poison.length, 2)
      assert.deepStrictEqual(handled, [])
      const states = yield* queue.inspect(["not-json", "undecodable"] as Array<Domain.UnitId>)
      assert.deepStrictEqual(states.map((e) => e.state), ["failed", "failed"])
      assert.match(states[0]!.lastError ?? "", /invalid unit payload/)
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
      // `done` counts inside the handler; each lease is released just after it returns.
      assert.strictEqual(yield* eventually(a.admin.inFlight("us-east-1" as Domain.Region), (n) => n === 0), 0)
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

  it.live("a job of more units than one enqueue chunk is queued whole, and cancelJob still finds every unit", () =>
    Effect.gen(function*() {
      const { queue } = yield* build(fastOptions(freshPrefix()))
      const jobId = crypto.randomUUID() as Domain.JobId
      const regions = ["us-east-1", "eu-west-1", "us-west-2"] as const
      const units = Array.from({ length: 2_500 }, (_, i) => message(regions[i % 3]!, jobId))
      const other = message()
      yield* queue.enqueue([...units, other])
      assert.strictEqual((yield* queue.counts).waiting, 2_501)
      yield* queue.cancelJob(jobId)
      assert.strictEqual((yield* queue.counts).waiting, 1)
    }))
})
