/**
 * What the emulator's SDK tests share: one emulator per test file (started before, closed after),
 * the real runtime and control-plane clients pointed at it (SDK retries off unless asked), and
 * `failure`, which returns the error a call must end with.
 */
import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime"
import { BedrockClient } from "@aws-sdk/client-bedrock"
import { assert } from "@effect/vitest"
import { afterAll, beforeAll } from "vitest"
import * as BedrockEmulator from "../../src/emulator/BedrockEmulator.ts"
import type * as Scenario from "../../src/emulator/Scenario.ts"

/** Start an emulator on `scenario` for the file's tests; the returned function gives its handle. */
export const useEmulator = (scenario: Scenario.ScenarioInput): () => BedrockEmulator.EmulatorHandle => {
  let handle: BedrockEmulator.EmulatorHandle | undefined
  beforeAll(async () => {
    handle = await BedrockEmulator.start({ scenario })
  })
  afterAll(async () => {
    await handle?.close()
  })
  return () => handle ?? assert.fail("the emulator has not started")
}

/** Static credentials whose access key id names the test (the emulator reads only the credential scope). */
export const credentials = (accessKeyId: string) => ({ accessKeyId, secretAccessKey: "not-a-secret" })

/** A runtime client on `url` in `region`, SDK retries off unless `maxAttempts` says otherwise. */
export const runtimeClient = (
  url: string,
  accessKeyId: string,
  options: { readonly region?: string; readonly maxAttempts?: number } = {}
) =>
  new BedrockRuntimeClient({
    region: options.region ?? "us-east-1",
    endpoint: url,
    credentials: credentials(accessKeyId),
    maxAttempts: options.maxAttempts ?? 1
  })

/** A control-plane client on `url` in `region`, SDK retries off. */
export const controlClient = (url: string, accessKeyId: string, region = "us-east-1") =>
  new BedrockClient({ region, endpoint: url, credentials: credentials(accessKeyId), maxAttempts: 1 })

/** The error `promise` rejects with; fails the test when it resolves. */
export const failure = async (promise: Promise<unknown>): Promise<any> => {
  const result = await promise.then(() => undefined, (error: unknown) => ({ error }))
  if (result === undefined) return assert.fail("expected the call to fail")
  return result.error
}
