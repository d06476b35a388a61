import { afterAll, describe } from "@effect/vitest"
import { QueueTest } from "@myia/certification/testing"
import { BullMqQueue } from "../src/index.ts"
import { cleanup, freshPrefix, redisUrl, shouldRun } from "./RedisTest.ts"

const prefix = freshPrefix()
afterAll(() => cleanup(prefix))

// Short locks so a dead consumer's unit comes back within the suite's patience.
const connection = { connection: redisUrl, prefix, lockDuration: "1 second", stalledInterval: "500 millis" } as const

describe.skipIf(!shouldRun)("BullMqQueue", () =>
  QueueTest.suite("bullmq", (config) => BullMqQueue.layer({ ...connection, ...config }), { redeliveryTimeout: "10 seconds" }))
