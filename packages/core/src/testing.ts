/**
 * `@myia/certification/testing`: the Bedrock emulator and the port conformance suites.
 *
 * @since 0.1.0
 */
export {}
