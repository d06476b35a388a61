/**
 * Issue #18: the emulator answers STS `GetCallerIdentity` through the real `@aws-sdk/client-sts`
 * (AWS query protocol, XML): the scenario's account, STS's own errors for bad tokens and the
 * scenario's `identityError`, and Bedrock calls untouched by `identityError`.
 */
import { GetCallerIdentityCommand, GetSessionTokenCommand, STSClient } from "@aws-sdk/client-sts"
import { ListFoundationModelsCommand } from "@aws-sdk/client-bedrock"
import { assert, describe, it } from "@effect/vitest"
import * as StsHandler from "../../src/emulator/StsHandler.ts"
import { controlClient, credentials, failure, useEmulator } from "./Harness.ts"

const emulator = useEmulator({ seed: 3, timeScale: 0, account: "210987654321" })

const sts = (accessKeyId: string, region = "eu-west-1") =>
  new STSClient({ region, endpoint: emulator().url, credentials: credentials(accessKeyId), maxAttempts: 1 })

describe("emulator STS GetCallerIdentity", () => {
  it("answers the scenario's account, an ARN in it and a user id, through the real STS client", async () => {
    emulator().reset()
    const output = await sts("AKIDSTSOK").send(new GetCallerIdentityCommand({}))
    assert.strictEqual(output.Account, "210987654321")
    assert.strictEqual(output.Arn, "arn:aws:iam::210987654321:user/emulator")
    assert.match(output.UserId ?? "", /^AIDA[A-Z0-9]+$/)
    assert.match(output.$metadata.requestId ?? "", /^[0-9a-f-]{36}$/)
    const [record] = emulator().requests()
    assert.strictEqual(record?.operation, "GetCallerIdentity")
    assert.strictEqual(record?.region, "eu-west-1")
    assert.strictEqual(record?.status, 200)
  })

  it("defaults to 123456789012 when the scenario names no account", async () => {
    const handle = emulator()
    handle.setScenario({ seed: 3, timeScale: 0 })
    try {
      const output = await sts("AKIDSTSDEFAULT").send(new GetCallerIdentityCommand({}))
      assert.strictEqual(output.Account, StsHandler.defaultAccount)
      assert.strictEqual(output.Account, "123456789012")
    } finally {
      handle.setScenario({ seed: 3, timeScale: 0, account: "210987654321" })
    }
  })

  it("answers STS's token errors for the INVALID / EXPIRED access key markers, as modeled SDK errors", async () => {
    const invalid = await failure(sts("AKIDINVALIDSTS").send(new GetCallerIdentityCommand({})))
    assert.strictEqual(invalid.name, "InvalidClientTokenId")
    assert.strictEqual(invalid.$metadata.httpStatusCode, 403)
    assert.strictEqual(invalid.message, "The security token included in the request is invalid.")
    const expired = await failure(sts("AKIDEXPIREDSTS").send(new GetCallerIdentityCommand({})))
    assert.strictEqual(expired.name, "ExpiredToken")
    assert.strictEqual(expired.$metadata.httpStatusCode, 400)
  })

  it("fails GetCallerIdentity with the scenario's identityError while Bedrock still answers", async () => {
    const handle = emulator()
    handle.setScenario({ seed: 3, timeScale: 0, identityError: "InternalFailure" })
    try {
      const error = await failure(sts("AKIDSTSFAIL").send(new GetCallerIdentityCommand({})))
      assert.strictEqual(error.name, "InternalFailure")
      assert.strictEqual(error.$metadata.httpStatusCode, 500)
      const listed = await controlClient(handle.url, "AKIDSTSFAIL").send(new ListFoundationModelsCommand({}))
      assert.isAbove(listed.modelSummaries?.length ?? 0, 0)
    } finally {
      handle.setScenario({ seed: 3, timeScale: 0, account: "210987654321" })
    }
  })

  it("answers another STS action with InvalidAction, not an identity", async () => {
    const error = await failure(sts("AKIDSTSOTHER").send(new GetSessionTokenCommand({})))
    assert.strictEqual(error.name, "InvalidAction")
    assert.strictEqual(error.$metadata.httpStatusCode, 400)
    assert.include(error.message, "GetSessionToken")
  })

  it("refuses an unsigned STS request with MissingAuthenticationToken", async () => {
    const response = await fetch(emulator().url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body: "Action=GetCallerIdentity&Version=2011-06-15"
    })
    assert.strictEqual(response.status, 403)
    const text = await response.text()
    assert.include(text, "<Code>MissingAuthenticationToken</Code>")
    assert.notInclude(text, "210987654321")
  })

  it("rejects a scenario account that is not 12 digits, naming the field", async () => {
    const { validate } = await import("../../src/emulator/Scenario.ts")
    assert.include(validate({ account: "12345" }) ?? "", "account")
    assert.include(validate({ identityError: "Nope" }) ?? "", "identityError")
    assert.isUndefined(validate({ account: "000000000001" }))
  })
})
