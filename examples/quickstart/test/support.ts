/**
 * Shared wiring of the end-to-end tests: the local Bedrock emulator plus the Promise facade on the
 * in-memory adapters, tuned to stay fast (short backoffs, no log noise), and a teardown that closes both.
 */
import { createCertification, type CertificationClient } from "@myia/certification"
import { BedrockEmulator, Fixtures, type Scenario } from "@myia/certification/testing"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"

/**
 * The instant every end-to-end engine runs at (its wall clock starts here and then advances in real
 * time). Tests pick their models by what the registry says at this instant, so no lifecycle date in
 * the data can turn them red on a later day.
 */
export const testInstant = "2026-12-01T12:00:00.000Z"

/** Credentials the emulator accepts; a key id containing "INVALID" makes it answer UnrecognizedClientException. */
export const emulatorCredentials = (accessKeyId = "AKIDE2ETEST") => ({ accessKeyId, secretAccessKey: "e2e-secret" })

/** A running emulator and a facade wired to it. */
export interface Engine {
  readonly emulator: BedrockEmulator.EmulatorHandle
  readonly certification: CertificationClient.CertificationClient
  readonly close: () => Promise<void>
}

type CreateOptions = Parameters<typeof createCertification>[0]

/** Start the emulator with `scenario` and a facade over memory adapters; override any option. */
export const startEngine = async (
  scenario: Scenario.ScenarioInput | Scenario.Scenario,
  overrides: Partial<CreateOptions> & { readonly accessKeyId?: string; readonly queueMaxAttempts?: number } = {}
): Promise<Engine> => {
  const emulator = await BedrockEmulator.start({ port: 0, scenario })
  const { accessKeyId, queueMaxAttempts, ...options } = overrides
  const certification = createCertification({
    storage: MemoryStorage.layer,
    queue: MemoryQueue.layer({ maxAttempts: queueMaxAttempts ?? 3, retryBackoff: () => "20 millis" }),
    bedrock: { endpoint: emulator.url, credentials: emulatorCredentials(accessKeyId), timeout: "10 seconds" },
    worker: { concurrency: 8, retryDelayMillis: 20 },
    governor: { initial: 8, max: 32, openDuration: "100 millis", maxOpenDuration: "400 millis" },
    runner: { backoffBaseMillis: 5, backoffMaxMillis: 50 },
    logLevel: "None",
    clock: Fixtures.clockAt(testInstant),
    ...options
  })
  let closed: Promise<void> | undefined
  return {
    emulator,
    certification,
    close: () => (closed ??= certification.close().finally(() => emulator.close()))
  }
}
