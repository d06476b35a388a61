/**
 * Helpers of the CLI tests: run `bedrock-certify` from source as a child process (the way a user
 * runs the built bin), and validate documents against the JSON Schema files core ships.
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { Ajv2020 } from "ajv/dist/2020.js"

export const repoRoot = resolve(import.meta.dirname, "../../..")
const bin = resolve(repoRoot, "packages/cli/src/bin.ts")

export interface Ran {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** The environment of a child: the test's, minus anything that would change the CLI's defaults or reach AWS. */
export const cleanEnv = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(AWS_|BEDROCK_|CERTIFICATION_)/.test(k)) env[k] = v
  }
  return { ...env, AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1", ...extra }
}

/** Run a command to its end, collecting its exit status and output. */
export const spawnCollect = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly env: NodeJS.ProcessEnv; readonly cwd: string }
): Promise<Ran> =>
  new Promise((done, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("error", reject)
    child.on("exit", (status) => done({ status, stdout, stderr }))
  })

/** Run `bedrock-certify ARGS` (from source) in `cwd`. */
export const runCli = (
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string } = {}
): Promise<Ran> =>
  spawnCollect(process.execPath, ["--conditions=@myia/source", bin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: options.env ?? cleanEnv()
  })

/** `bedrock-certify: …` lines on stderr (the one-line reason), without progress lines. */
export const reasonLines = (stderr: string): ReadonlyArray<string> =>
  stderr.split("\n").filter((l) => l.startsWith("bedrock-certify:"))

const schemaFile = (name: string) =>
  JSON.parse(readFileSync(resolve(repoRoot, "packages/core/json-schemas", name), "utf8")) as Record<string, unknown>

const ajv = new Ajv2020({ allErrors: true, strict: false })
const validators = {
  results: ajv.compile(schemaFile("certification-results.v1.schema.json")),
  manifest: ajv.compile(schemaFile("capability-manifest.v1.schema.json"))
}

/** Validate a document against a shipped JSON Schema; the errors as text (empty when valid). */
export const schemaErrors = (which: keyof typeof validators, document: unknown): string => {
  const validate = validators[which]
  return validate(document) ? "" : ajv.errorsText(validate.errors)
}
