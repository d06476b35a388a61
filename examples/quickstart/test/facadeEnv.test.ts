/**
 * The facade reads what its options leave unset from the environment (through `Config`, an `env`
 * record here): the Bedrock endpoint, the region of a request without one, a malformed timeout
 * named in the error; and its logs go to the logger a host injects.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { CertificationClient, createCertification } from "@myia/certification"
import { BedrockEmulator } from "@myia/certification/emulator"
import { Fixtures } from "@myia/certification/testing"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { emulatorCredentials, testInstant } from "./support.ts"

describe("facade configuration from the environment", () => {
  let emulator: BedrockEmulator.EmulatorHandle
  beforeAll(async () => {
    emulator = await BedrockEmulator.start({ port: 0, scenario: { timeScale: 0 } })
  })
  afterAll(() => emulator?.close())

  const make = (env: Record<string, string>, extra: Partial<Parameters<typeof createCertification>[0]> = {}) =>
    createCertification({
      storage: MemoryStorage.layer,
      queue: MemoryQueue.layer(),
      bedrock: { credentials: emulatorCredentials() },
      clock: Fixtures.clockAt(testInstant),
      logLevel: "None",
      env,
      ...extra
    })

  it("BEDROCK_ENDPOINT and AWS_REGION fill in the endpoint and a request's missing region", async () => {
    const certification = make({ BEDROCK_ENDPOINT: emulator.url, AWS_REGION: "us-west-2" })
    try {
      const before = emulator.requests().length
      const created = await certification.certifyModel({ modelId: "amazon.titan-text-express-v1" })
      assert.deepStrictEqual([...created.regions], ["us-west-2"] as ReadonlyArray<string>)
      const detail = await certification.waitForJob(created.jobId, { timeout: "30 seconds" })
      assert.strictEqual(detail.units[0]!.status, "CERTIFIED")
      const regions = new Set(emulator.requests().slice(before).map((r) => r.region))
      assert.deepStrictEqual([...regions], ["us-west-2"], "the calls went to the endpoint from the environment")
    } finally {
      await certification.close()
    }
  }, 60_000)

  it("a request without a region and no AWS_REGION is an InvalidRequest naming the field", async () => {
    const certification = make({ BEDROCK_ENDPOINT: emulator.url })
    try {
      const error = await certification.certifyMultiple({ modelIds: ["amazon.titan-text-express-v1"] }).then(
        () => undefined,
        (e: unknown) => e as { readonly _tag: string; readonly message: string }
      )
      assert.strictEqual(error?._tag, "InvalidRequest")
      assert.include(error!.message, "AWS_REGION")
    } finally {
      await certification.close()
    }
  })

  it("a malformed CERTIFICATION_TIMEOUT rejects calls with a ConfigError naming the variable", async () => {
    const certification = make({ BEDROCK_ENDPOINT: emulator.url, CERTIFICATION_TIMEOUT: "soon" })
    try {
      const error = await certification.stats().then(() => undefined, (e: unknown) => e as { readonly _tag: string })
      assert.strictEqual(error?._tag, "ConfigError")
      assert.include(String(error), "CERTIFICATION_TIMEOUT")
    } finally {
      await certification.close()
    }
  })

  it("logs go to the injected logger", async () => {
    const seen: Array<string> = []
    const logger = Logger.make<unknown, void>(({ message }) => {
      seen.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    const certification = make({ BEDROCK_ENDPOINT: emulator.url }, { logger, logLevel: "Info" })
    try {
      await certification.runtime.runPromise(Effect.logInfo("facade log line"))
      assert.deepStrictEqual(seen, ["facade log line"])
    } finally {
      await certification.close()
    }
  })

  it("CERTIFICATION_LOG_FORMAT selects json or pretty and rejects anything else", async () => {
    assert.strictEqual((await Effect.runPromise(CertificationClient.loadEnv({ CERTIFICATION_LOG_FORMAT: "json" }))).logFormat, "json")
    assert.strictEqual((await Effect.runPromise(CertificationClient.loadEnv({}))).logFormat, "pretty")
    const error = await Effect.runPromise(Effect.flip(CertificationClient.loadEnv({ CERTIFICATION_LOG_FORMAT: "xml" })))
    assert.include(String(error), "CERTIFICATION_LOG_FORMAT")
  })
})
