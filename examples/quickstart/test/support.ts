/**
 * Shared wiring of the end-to-end tests: the local Bedrock emulator plus the Promise facade on the
 * in-memory adapters, tuned to stay fast (short backoffs, no log noise), and a teardown that closes both.
 */
import { createCertification, type CertificationClient, RedeliveryPolicy } from "@myia/certification"
import type * as Clock from "effect/Clock"
import { BedrockEmulator, type Scenario } from "@myia/certification/emulator"
import { Fixtures } from "@myia/certification/testing"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"

/**
 * The instant every end-to-end engine runs at (its wall clock starts here and then advances in real
 * time). Tests pick their models by what the registry says at this instant, so no lifecycle date in
 * the data can turn them red on a later day.
 */
export const testInstant = "2026-12-01T12:00:00.000Z"

/** Credentials the emulator accepts; a key id containing "INVALID" makes it answer UnrecognizedClientException. */
export const emulatorCredentials = (accessKeyId = "AKIDE2ETEST") => ({ accessKeyId, secretAccessKey: "e2e-secret" })

/** Short redelivery waits (20 ms doubling, at most 200 ms), so retried units do not slow the tests. */
export const fastRedelivery: RedeliveryPolicy.Options = {
  backoff: RedeliveryPolicy.exponentialBackoff({ base: "20 millis", max: "200 millis" })
}

/** A running emulator and a facade wired to it. */
export interface Engine {
  readonly emulator: BedrockEmulator.EmulatorHandle
  /** The clock engine and emulator share: compare the emulator's request `at` with its time, not `Date.now()`. */
  readonly clock: Clock.Clock
  readonly certification: CertificationClient.CertificationClient
  readonly close: () => Promise<void>
}

type CreateOptions = Parameters<typeof createCertification>[0]

/** Start the emulator with `scenario` and a facade over memory adapters; override any option. */
export const startEngine = async (
  scenario: Scenario.ScenarioInput | Scenario.Scenario,
  overrides: Partial<CreateOptions> & { readonly accessKeyId?: string; readonly queueMaxAttempts?: number } = {}
): Promise<Engine> => {
  const { accessKeyId, queueMaxAttempts, ...options } = overrides
  // One clock for the engine and the emulator, so the emulator's request log compares with job timestamps.
  const clock = options.clock ?? Fixtures.clockAt(testInstant)
  const emulator = await BedrockEmulator.start({ port: 0, scenario, clock })
  const certification = createCertification({
    storage: MemoryStorage.layer,
    queue: MemoryQueue.layer({ redelivery: { ...fastRedelivery, maxAttempts: queueMaxAttempts ?? 3 } }),
    bedrock: { endpoint: emulator.url, credentials: emulatorCredentials(accessKeyId), timeout: "10 seconds" },
    worker: { concurrency: 8 },
    governor: { initial: 8, max: 32, openDuration: "100 millis", maxOpenDuration: "400 millis" },
    runner: { backoffBaseMillis: 5, backoffMaxMillis: 50 },
    logLevel: "None",
    ...options,
    clock
  })
  let closed: Promise<void> | undefined
  return {
    emulator,
    clock,
    certification,
    close: () => (closed ??= certification.close().finally(() => emulator.close()))
  }
}
