/**
 * `@myia/certification/testing`: the Bedrock emulator and the port conformance suites.
 *
 * @since 0.1.0
 */
export * as Fixtures from "./testing/Fixtures.ts"
export * as QueueTest from "./testing/QueueTest.ts"
export * as StorageTest from "./testing/StorageTest.ts"
export * as BedrockEmulator from "./testing/BedrockEmulator.ts"
export * as EventStream from "./testing/EventStream.ts"
export * as Scenario from "./testing/Scenario.ts"
export * as Responder from "./testing/Responder.ts"
