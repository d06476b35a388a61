#!/usr/bin/env node
/**
 * `bedrock-emulator` (and `pnpm emulator`): run the local Bedrock emulator as a standalone process.
 *
 *     pnpm emulator --port 4010 --scenario scenario.json --seed 7
 *
 * Flags: `--port N` (default 0: a free port), `--host H` (default 127.0.0.1), `--scenario FILE`
 * (a scenario JSON document; default: the built-in default scenario), `--seed S` (overrides the
 * document's seed), `--time-scale X` (overrides its time scale). It prints the URL and how to point
 * the AWS SDK at it, and stops on SIGINT / SIGTERM.
 *
 * @since 0.1.0
 */
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import * as Result from "effect/Result"
import { BedrockEmulator, Scenario } from "./emulator.ts"

const usage = `usage: bedrock-emulator [--port N] [--host H] [--scenario FILE] [--seed S] [--time-scale X]`

const fail = (message: string): never => {
  process.stderr.write(`${message}\n${usage}\n`)
  process.exit(2)
}

const number = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : fail(`--${name} must be a number, got "${value}"`)
}

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string" },
    scenario: { type: "string" },
    seed: { type: "string" },
    "time-scale": { type: "string" },
    help: { type: "boolean", short: "h" }
  },
  strict: true
})

if (values.help === true) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}

const seed = number("seed", values.seed)
const timeScale = number("time-scale", values["time-scale"])
// `pnpm emulator` runs inside the package; a relative path is relative to where the user typed it.
const readScenario = (file: string): Scenario.ScenarioInput => {
  const path = resolve(process.env["INIT_CWD"] ?? process.cwd(), file)
  if (!existsSync(path)) return fail(`scenario file not found: ${path}`)
  const parsed = Result.try(() => JSON.parse(readFileSync(path, "utf8")) as Scenario.ScenarioInput)
  return Result.isSuccess(parsed) ? parsed.success : fail(`scenario file ${path} is not JSON: ${String(parsed.failure)}`)
}
const base: Scenario.ScenarioInput = values.scenario === undefined
  ? Scenario.defaultScenarioInput(seed ?? 1)
  : readScenario(values.scenario)
const document: Scenario.ScenarioInput = {
  ...base,
  ...(seed === undefined ? {} : { seed }),
  ...(timeScale === undefined ? {} : { timeScale })
}
const invalid = Scenario.validate(document)
if (invalid !== undefined) fail(`invalid scenario: ${invalid}`)

const handle = await BedrockEmulator.start({
  port: number("port", values.port) ?? 0,
  host: values.host,
  scenario: document
})

process.stdout.write(`Bedrock emulator listening on ${handle.url}
Point the AWS SDK at it:
  new BedrockRuntimeClient({ region: "us-east-1", endpoint: "${handle.url}",
    credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator" } })
  new BedrockClient({ region: "us-east-1", endpoint: "${handle.url}", credentials: { ... } })
The region is read from the request signature; access keys containing INVALID or EXPIRED get credential errors.
Press Ctrl+C to stop.
`)

const stop = (signal: string) => {
  process.stdout.write(`\n${signal}: stopping after ${handle.requests().length} requests\n`)
  handle.close().then(() => process.exit(0), () => process.exit(1))
}
process.once("SIGINT", () => stop("SIGINT"))
process.once("SIGTERM", () => stop("SIGTERM"))
