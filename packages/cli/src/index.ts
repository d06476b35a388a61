/**
 * `@myia/certification-cli`: the `bedrock-certify` command and the report formats it writes, for
 * hosts that want the same JUnit, CSV or Markdown from their own jobs.
 *
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"
export * as Csv from "./Csv.ts"
export * as DemoScenario from "./DemoScenario.ts"
export * as Failure from "./Failure.ts"
export * as Gate from "./Gate.ts"
export * as Junit from "./Junit.ts"
export * as Markdown from "./Markdown.ts"
export * as Outputs from "./Outputs.ts"
