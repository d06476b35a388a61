/**
 * `@myia/certification-memory`: the Storage and Queue ports in process memory, for tests, demos and
 * single-process embedding. Both pass the conformance suites of `@myia/certification/testing`.
 *
 * @since 0.1.0
 */
import type { Queue, Storage } from "@myia/certification"
import * as Layer from "effect/Layer"
import * as MemoryQueue from "./MemoryQueue.ts"
import * as MemoryStorage from "./MemoryStorage.ts"

export * as MemoryQueue from "./MemoryQueue.ts"
export * as MemoryStorage from "./MemoryStorage.ts"

/** Both in-memory ports with default options: a fresh, empty Storage and Queue per build. */
export const layer: Layer.Layer<Storage.Storage | Queue.Queue> = Layer.mergeAll(MemoryStorage.layer, MemoryQueue.layer())
