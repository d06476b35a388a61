import { QueueTest, StorageTest } from "@myia/certification/testing"
import { MemoryQueue, MemoryStorage } from "../src/index.ts"

StorageTest.suite("memory", MemoryStorage.layer)
QueueTest.suite("memory", (config) => MemoryQueue.layer(config))
