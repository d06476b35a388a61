/**
 * `pnpm demo`: the `bedrock-certify certify` command on the built-in Bedrock emulator and its demo
 * scenario — every chat and embedding model of the registry in three regions, offline, through the
 * real AWS SDK client, with the live progress display, the results table and summaries, a results
 * file and a capability manifest. The demo shows every verdict, so its gate is `none` (exit 0);
 * `bedrock-certify` itself exits 100 when a unit ends FAILED.
 *
 *   pnpm demo                                            # 3 regions, every chat + embedding model
 *   pnpm demo --models amazon.nova-lite-v1:0 --regions us-east-1 -o out.xml
 *   pnpm demo --scenario my-scenario.json --fail-on FAILED
 *
 * Any `certify` flag works (`pnpm demo --help`); the demo only adds `--emulator`, the two output
 * files, and defaults under the environment (`CERTIFICATION_REGIONS`, `CERTIFICATION_FAIL_ON`).
 */
import { Cli } from "@myia/certification-cli"

Cli.main({
  argv: ["certify", "--emulator", "-o", "certification-results.json", "-o", "capability.manifest.json", ...process.argv.slice(2)],
  defaults: { CERTIFICATION_REGIONS: "us-east-1,us-west-2,eu-central-1", CERTIFICATION_FAIL_ON: "none" }
})
