/**
 * `@myia/certification/testing`: the port conformance suites (`StorageTest.suite`,
 * `QueueTest.suite`) and test fixtures. The suites import `vitest` and `@effect/vitest`, so this
 * entry needs them installed. The Bedrock emulator is `@myia/certification/emulator`.
 *
 * @since 0.1.0
 */
export * as Fixtures from "./testing/Fixtures.ts"
export * as GovernorStoreTest from "./testing/GovernorStoreTest.ts"
export * as Promtool from "./testing/Promtool.ts"
export * as QueueTest from "./testing/QueueTest.ts"
export * as StorageTest from "./testing/StorageTest.ts"
