/**
 * `@myia/certification-bullmq`: the certification `Queue` on BullMQ and Redis, with per-region
 * concurrency and start-rate limits that hold across every worker process.
 *
 * @since 0.1.0
 */
export * as BullMqQueue from "./BullMqQueue.ts"
export * as RedisConnection from "./RedisConnection.ts"
export * as RedisGovernorStore from "./RedisGovernorStore.ts"
export * as RegionLimiter from "./RegionLimiter.ts"
export * as WorkerProcess from "./WorkerProcess.ts"
