/**
 * `bedrock-certify`, on Effect's own CLI module (`effect/cli`): the root command and its
 * subcommands, the Node services they run on, and `main`, which runs it as a process and exits
 * with the code `Failure` assigns (a one-line reason on stderr).
 *
 * Subcommands: `certify`, `status JOB`, `history`, `export JOB -o FILE`, `recertify` (continuous
 * certification, issue 14), `emulator`, `migrate`.
 *
 * Every flag with a setting in the environment falls back to it through `Config` (e.g. `--regions`
 * to `CERTIFICATION_REGIONS`, then `AWS_REGION`); `main({ defaults })` adds a last layer of
 * defaults under the environment, which is how `pnpm demo` sets its regions and gate.
 *
 * @since 0.1.0
 */
import * as NodeChildProcessSpawner from "@effect/platform-node-shared/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node-shared/NodeFileSystem"
import * as NodePath from "@effect/platform-node-shared/NodePath"
import * as NodeRuntime from "@effect/platform-node-shared/NodeRuntime"
import * as NodeStdio from "@effect/platform-node-shared/NodeStdio"
import * as NodeTerminal from "@effect/platform-node-shared/NodeTerminal"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CliOutput, Command } from "effect/cli"
import packageJson from "../package.json" with { type: "json" }
import * as Certify from "./Certify.ts"
import * as EmulatorCommand from "./EmulatorCommand.ts"
import * as Failure from "./Failure.ts"
import * as Migrate from "./Migrate.ts"
import * as Queries from "./Queries.ts"
import * as Recertify from "./Recertify.ts"

/** The CLI's version, printed by `--version` (the package's, so a release bumps it). */
export const version: string = packageJson.version

// The subcommands, in help order.
const subcommands = [
  Certify.command,
  Queries.status,
  Queries.history,
  Queries.exportJob,
  Recertify.command,
  EmulatorCommand.command,
  Migrate.command
] as const

/** The root command. */
export const command: Command.Command<"bedrock-certify", {}, {}, unknown, Command.Environment> = Command.make("bedrock-certify").pipe(
  Command.withDescription("Certify AWS Bedrock models per account × region, offline on the emulator or live"),
  Command.withSubcommands(subcommands)
)

// Help and version go to stdout as the CLI module prints them; an invalid invocation is one line
// on stderr (printed by `main` with the exit code), not the whole help page.
const presenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation" ? Effect.void : CliOutput.defaultPresenter.present(event)
})

/** The Node services the CLI module and the commands use (files, paths, stdio, terminal). */
export const services = Layer.mergeAll(
  Layer.provideMerge(
    NodeChildProcessSpawner.layer,
    Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeStdio.layer, NodeTerminal.layer)
  ),
  presenter
)

/** The command on explicit arguments (tests, embedding): fails with what `Failure` maps to an exit code. */
export const run = (args: ReadonlyArray<string>) => Command.runWith(command, { version })(args)

export interface MainOptions {
  /** Arguments after the executable (default: the process's). */
  readonly argv?: ReadonlyArray<string> | undefined
  /** Settings under the environment: variable name → value (e.g. `{ CERTIFICATION_REGIONS: "us-east-1" }`). */
  readonly defaults?: Readonly<Record<string, string>> | undefined
}

/** Run `bedrock-certify` as this process: exit code and one-line reason from {@link Failure.outcome}. */
export const main = (options: MainOptions = {}): void => {
  const provider = ConfigProvider.orElse(ConfigProvider.fromEnv(), ConfigProvider.fromUnknown(options.defaults ?? {}))
  const program = run(options.argv ?? process.argv.slice(2)).pipe(
    Effect.provide(Layer.merge(services, ConfigProvider.layer(provider)))
  )
  NodeRuntime.runMain(program, {
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      const { code, reason } = Failure.outcome(exit)
      if (reason !== undefined) process.stderr.write(`bedrock-certify: ${reason}\n`)
      onExit(code)
    }
  })
}
