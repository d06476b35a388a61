/**
 * `@myia/certification/emulator`: the local Bedrock emulator — the server (`BedrockEmulator`), its
 * scenario language (`Scenario`), the generic answer generator (`Responder`) and the event-stream
 * framing (`EventStream`). Needs no test tooling: plain Node with `effect` installed runs it.
 *
 * @since 0.1.0
 */
export * as BedrockEmulator from "./emulator/BedrockEmulator.ts"
export * as EventStream from "./emulator/EventStream.ts"
export * as Responder from "./emulator/Responder.ts"
export * as Scenario from "./emulator/Scenario.ts"
