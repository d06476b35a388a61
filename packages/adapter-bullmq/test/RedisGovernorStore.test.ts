import { afterAll, describe } from "@effect/vitest"
import { GovernorStore } from "@myia/certification"
import { GovernorStoreTest } from "@myia/certification/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { RedisConnection, RedisGovernorStore } from "../src/index.ts"
import { cleanup, freshPrefix, redisUrl, shouldRun } from "./RedisTest.ts"

const prefix = freshPrefix()
afterAll(() => cleanup(prefix))

const layer = Layer.effect(
  GovernorStore.GovernorStore,
  Effect.map(RedisConnection.producer(redisUrl), (redis) => RedisGovernorStore.make({ redis, keyPrefix: `${prefix}:governor` }))
)

describe.skipIf(!shouldRun)("RedisGovernorStore", () => GovernorStoreTest.suite("redis", layer))
