/**
 * Issue #18: `Identity.callerAccount` asks STS `GetCallerIdentity` with the Bedrock runtime's
 * endpoint override, credentials and a region, and never fails: every STS failure is `null` plus
 * one warning that names the failure and never the credentials.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Identity from "../src/Identity.ts"
import { Region } from "../src/Region.ts"
import * as BedrockEmulator from "../src/emulator/BedrockEmulator.ts"

const ireland = Schema.decodeSync(Region)("eu-west-1")
const secret = "s3cr3t-never-printed"
const credentials = { accessKeyId: "AKIDIDENTITYTEST", secretAccessKey: secret }

/** Runs `effect` with every log line captured. */
const capturing = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      lines.push(`${logLevel}: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
    const value = yield* Effect.provide(
      Effect.provideService(effect, References.MinimumLogLevel, "All"),
      Logger.layer([capture])
    )
    return { value, lines }
  })

describe("Identity.callerAccount", () => {
  it.live("names the emulator scenario's account, asking in the given region at the endpoint override", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.make({ scenario: { timeScale: 0, account: "555566667777" } })
      const asked: Array<string> = []
      const { value, lines } = yield* capturing(Identity.callerAccount({
        region: ireland,
        endpoint: (region) => {
          asked.push(region)
          return emulator.url
        },
        credentials
      }))
      assert.strictEqual(value, "555566667777")
      assert.deepStrictEqual(asked, ["eu-west-1"])
      assert.deepStrictEqual(lines.filter((l) => l.startsWith("Warn")), [])
      const [record] = emulator.requests()
      assert.strictEqual(record?.operation, "GetCallerIdentity")
      assert.strictEqual(record?.region, "eu-west-1")
    }))

  it.live("gives the full identity from callerIdentity", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.make({ scenario: { timeScale: 0 } })
      const identity = yield* Identity.callerIdentity({ region: ireland, endpoint: emulator.url, credentials })
      assert.deepStrictEqual(identity, {
        account: "123456789012",
        arn: "arn:aws:iam::123456789012:user/emulator",
        userId: "AIDAEMULATOREXAMPLE01"
      })
    }))

  it.live("is null with one warning (category and AWS's message, no secret) when STS answers an error", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.make({ scenario: { timeScale: 0, identityError: "InternalFailure" } })
      const { value, lines } = yield* capturing(
        Identity.callerAccount({ region: ireland, endpoint: emulator.url, credentials })
      )
      assert.isNull(value)
      const warnings = lines.filter((l) => l.startsWith("Warn"))
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], "manifest account unknown: GetCallerIdentity in eu-west-1")
      assert.include(warnings[0], "unknown error")
      for (const line of lines) assert.notInclude(line, secret)
    }))

  it.live("is null with a credentials warning for an invalid token", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.make({ scenario: { timeScale: 0 } })
      const { value, lines } = yield* capturing(Identity.callerAccount({
        region: ireland,
        endpoint: emulator.url,
        credentials: { accessKeyId: "AKIDINVALIDIDENTITY", secretAccessKey: secret }
      }))
      assert.isNull(value)
      const warning = lines.find((l) => l.startsWith("Warn")) ?? ""
      assert.include(warning, "security token included in the request is invalid")
      for (const line of lines) assert.notInclude(line, secret)
    }))

  it.live("is null when the endpoint is unreachable", () =>
    Effect.gen(function*() {
      const { value, lines } = yield* capturing(
        Identity.callerAccount({ region: ireland, endpoint: "http://127.0.0.1:1", credentials })
      )
      assert.isNull(value)
      assert.strictEqual(lines.filter((l) => l.startsWith("Warn")).length, 1)
    }))

  it.live("is null when STS answers an account that is not 12 digits (decoded at the edge)", () =>
    Effect.gen(function*() {
      const server = Http.createServer((_req, res) => {
        res.writeHead(200, { "content-type": "text/xml" })
        res.end(
          `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
            `<Arn>arn:aws:iam::x:user/y</Arn><UserId>AIDAX</UserId><Account>not-an-account</Account>` +
            `</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
        )
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
        () => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      )
      const port = (server.address() as Net.AddressInfo).port
      const { value, lines } = yield* capturing(
        Identity.callerAccount({ region: ireland, endpoint: `http://127.0.0.1:${port}`, credentials })
      )
      assert.isNull(value)
      assert.include(lines.find((l) => l.startsWith("Warn")) ?? "", "no 12-digit Account")
    }))

  it.live("is null with a TIMEOUT warning when the endpoint never answers", () =>
    Effect.gen(function*() {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => sockets.add(socket)) // accepts, never answers
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
        () =>
          Effect.promise(() => {
            for (const s of sockets) s.destroy()
            return new Promise<void>((resolve) => server.close(() => resolve()))
          })
      )
      const port = (server.address() as Net.AddressInfo).port
      const { value, lines } = yield* capturing(Identity.callerAccount({
        region: ireland,
        endpoint: `http://127.0.0.1:${port}`,
        credentials,
        timeout: "300 millis"
      }))
      assert.isNull(value)
      assert.include(lines.find((l) => l.startsWith("Warn")) ?? "", "TIMEOUT")
    }))
})
