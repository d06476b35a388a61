/**
 * `promtool check metrics` for tests (issue 18): lints Prometheus exposition text with the
 * Prometheus project's own checker. Tests that use it run when `promtool` is installed (Debian:
 * `apt-get install prometheus`), and fail instead of skipping when `CI` is set, so a missing
 * promtool can never turn CI green.
 *
 * ```ts
 * it.skipIf(!Promtool.shouldRun)("metrics are promtool-clean", async () => {
 *   assert.deepStrictEqual(await Promtool.check(text), [])
 * })
 * ```
 *
 * @since 0.1.0
 */
import { spawn, spawnSync } from "node:child_process"

/** Whether `promtool` is on the PATH. */
export const installed: boolean = spawnSync("promtool", ["--version"], { stdio: "ignore" }).status === 0

/** Whether promtool tests must run: promtool is installed, or we are on CI (where they must fail instead). */
export const shouldRun: boolean = installed || process.env.CI !== undefined

/**
 * The problems `promtool check metrics` reports for `text` (empty: clean). Rejects when promtool
 * cannot be started.
 */
export const check = (text: string): Promise<ReadonlyArray<string>> =>
  new Promise((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.once("error", (error) => reject(new Error(`promtool could not start: ${error.message}`)))
    child.once("close", (code) => {
      const problems = output.split("\n").map((l) => l.trim()).filter((l) => l !== "")
      resolve(code === 0 && problems.length === 0 ? [] : problems.length > 0 ? problems : [`promtool exited with ${code}`])
    })
    child.stdin.end(text)
  })
