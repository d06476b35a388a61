/**
 * `bedrock-certify emulator`: the local Bedrock emulator as a standalone process, for `--endpoint`
 * runs, a host's own offline tests, or the AWS SDK by hand. Prints the URL and how to point the SDK
 * at it; stops on Ctrl+C / SIGTERM.
 *
 * @since 0.1.0
 */
import { BedrockEmulator, Scenario } from "@myia/certification/emulator"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Command, Flag } from "effect/cli"
import { demoScenario } from "./DemoScenario.ts"
import { UsageError } from "./Failure.ts"
import * as Flags from "./Flags.ts"


/** The `emulator` command. */
export const command = Command.make(
  "emulator",
  {
    port: Flag.Int("port").pipe(Flag.withDescription("Port (default 0: a free one)"), Flag.withDefault(0)),
    host: Flag.String("host").pipe(Flag.withDescription("Interface to bind"), Flag.withDefault("127.0.0.1")),
    scenario: Flag.String("scenario").pipe(
      Flag.withMetavar("FILE"),
      Flag.withDescription("Scenario JSON (default: the emulator's default scenario)"),
      Flag.optional
    ),
    demo: Flag.Boolean("demo").pipe(Flag.withDescription("Use certify's built-in demo scenario"), Flag.withDefault(false)),
    seed: Flag.Int("seed").pipe(Flag.withDescription("Override the scenario's seed"), Flag.optional),
    timeScale: Flag.Finite("time-scale").pipe(Flag.withDescription("Override the scenario's time scale"), Flag.optional)
  },
  Effect.fnUntraced(function*(input) {
    if (input.demo && Option.isSome(input.scenario)) return yield* new UsageError({ message: "give --scenario or --demo, not both" })
    if (input.port < 0 || input.port > 65535) return yield* new UsageError({ message: "--port must be from 0 to 65535" })
    const base = Option.isSome(input.scenario)
      ? yield* Flags.readScenario(input.scenario.value)
      : input.demo
      ? demoScenario
      : Scenario.defaultScenarioInput(Option.getOrElse(input.seed, () => 1))
    const document: Scenario.ScenarioInput = {
      ...base,
      ...Option.match(input.seed, { onNone: () => ({}), onSome: (seed) => ({ seed }) }),
      ...Option.match(input.timeScale, { onNone: () => ({}), onSome: (timeScale) => ({ timeScale }) })
    }
    const invalid = Scenario.validate(document)
    if (invalid !== undefined) return yield* new UsageError({ message: `invalid scenario: ${invalid.split("\n")[0]}` })
    const handle = yield* BedrockEmulator.make({ port: input.port, host: input.host, scenario: document })
    yield* Console.log(`Bedrock emulator listening on ${handle.url}
Point bedrock-certify at it: bedrock-certify certify --endpoint ${handle.url} --models … --regions …
  (any access key works; keys containing INVALID or EXPIRED get credential errors)
Or the AWS SDK:
  new BedrockRuntimeClient({ region: "us-east-1", endpoint: "${handle.url}",
    credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator" } })
Press Ctrl+C to stop.`)
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() => Console.log(`\nstopping after ${handle.requests().length} requests`))
    )
  }, Effect.scoped)
).pipe(Command.withDescription("Run the local Bedrock emulator until Ctrl+C"))
