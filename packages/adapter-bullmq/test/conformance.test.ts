import { afterAll, describe } from "@effect/vitest"
import { QueueTest } from "@myia/certification/testing"
import { BullMqQueue } from "../src/index.ts"
import { cleanup, freshPrefix, redisUrl, shouldRun } from "./RedisTest.ts"

const prefix = freshPrefix()
afterAll(() => cleanup(prefix))

const layer = BullMqQueue.layer({
  connection: redisUrl,
  prefix,
  lockDuration: "1 second",
  stalledInterval: "500 millis",
  backoff: { baseMillis: 20, maxMillis: 200 }
})

describe.skipIf(!shouldRun)("BullMqQueue", () => QueueTest.suite("bullmq", layer, { redeliveryTimeout: "10 seconds" }))
