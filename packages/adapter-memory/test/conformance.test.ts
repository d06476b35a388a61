import { QueueTest, StorageTest } from "@myia/certification/testing"
import { MemoryQueue, MemoryStorage } from "../src/index.ts"

StorageTest.suite("memory", MemoryStorage.layer)
QueueTest.suite("memory", MemoryQueue.layer())
