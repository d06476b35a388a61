/**
 * Quickstart: certify every chat and embedding model of the registry in three regions, offline.
 *
 * Starts the local Bedrock emulator with a built-in scenario, runs a certification job on the
 * in-memory adapters through the real AWS SDK client, shows a live progress bar, prints a results
 * table and summaries, and writes a results file and a capability manifest.
 *
 *   pnpm demo                                  # emulator, 3 regions, every chat + embedding model
 *   pnpm demo --models amazon.nova-lite-v1:0 --regions us-east-1
 *   pnpm demo --scenario my-scenario.json --json out.json
 *   pnpm demo --live --regions us-east-1       # real AWS credentials from the default chain
 *   DATABASE_URL=postgres://… pnpm demo --store postgres   # keep the results in PostgreSQL
 */
import { createCertification, RedeliveryPolicy, Report } from "@myia/certification"
import { BedrockEmulator } from "@myia/certification/emulator"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"
import { PgStorage } from "@myia/certification-postgres"
import { readFileSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import * as DateTime from "effect/DateTime"
import { demoScenario } from "./demoScenario.ts"

const usage = `usage: pnpm demo [--models id,id] [--regions r,r] [--scenario FILE] [--json FILE]
                 [--manifest FILE] [--concurrency N] [--store memory|postgres] [--live] [--no-table]
  --store postgres keeps jobs and verdicts in PostgreSQL (DATABASE_URL; schema
  CERTIFICATION_PG_SCHEMA, default "certification"; migrations run on start)`

const options = {
  models: { type: "string" },
  regions: { type: "string", default: "us-east-1,us-west-2,eu-central-1" },
  scenario: { type: "string" },
  json: { type: "string", default: "certification-results.json" },
  manifest: { type: "string", default: "capability-manifest.json" },
  concurrency: { type: "string", default: "8" },
  store: { type: "string", default: "memory" },
  live: { type: "boolean", default: false },
  "no-table": { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false }
} as const

const parse = () => {
  try {
    return parseArgs({ options, strict: true })
  } catch (error) {
    // A wrong flag deserves the usage, not a stack trace.
    console.error(`${error instanceof Error ? error.message : String(error)}\n${usage}`)
    return process.exit(2)
  }
}
const { values } = parse()

if (values.help) {
  console.log(usage)
  process.exit(0)
}

const list = (s: string | undefined) => (s ?? "").split(",").map((x) => x.trim()).filter((x) => x.length > 0)
const regions = list(values.regions)
const models = list(values.models)
const concurrency = Number(values.concurrency)
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
  console.error(`--concurrency must be an integer between 1 and 64 (got "${values.concurrency}")`)
  process.exit(2)
}
if (values.store !== "memory" && values.store !== "postgres") {
  console.error(`--store must be "memory" or "postgres" (got "${values.store}")`)
  process.exit(2)
}
const databaseUrl = process.env["DATABASE_URL"]
if (values.store === "postgres" && (databaseUrl === undefined || databaseUrl === "")) {
  console.error("--store postgres needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)")
  process.exit(2)
}
const colour = process.stdout.isTTY === true
// pnpm runs scripts inside the package; paths the user typed are relative to where they typed them.
const userPath = (p: string) => resolve(process.env["INIT_CWD"] ?? process.cwd(), p)

const emulator = values.live
  ? undefined
  : await BedrockEmulator.start({
    port: 0,
    scenario: values.scenario === undefined ? demoScenario : JSON.parse(readFileSync(userPath(values.scenario), "utf8"))
  })

const certification = createCertification({
  storage: values.store === "postgres"
    ? PgStorage.layerFromUrl(databaseUrl!, { schema: process.env["CERTIFICATION_PG_SCHEMA"] ?? "certification" })
    : MemoryStorage.layer,
  // A demo waits out throttling and 5xx quickly: redeliveries from 0.5 s, doubling up to 1 min.
  queue: MemoryQueue.layer({
    redelivery: { maxAttempts: 3, backoff: RedeliveryPolicy.exponentialBackoff({ base: "500 millis", max: "1 minute" }) }
  }),
  bedrock: emulator === undefined
    ? { timeout: "60 seconds" }
    : {
      endpoint: emulator.url,
      // The emulator accepts any key pair; real credentials never leave the AWS default chain.
      credentials: { accessKeyId: "AKIDQUICKSTART", secretAccessKey: "quickstart" },
      timeout: "10 seconds"
    },
  worker: { concurrency },
  // A persistent 5xx trips the region breaker; in a demo, short open periods keep the wait visible but brief.
  governor: { initial: 6, max: 16, openDuration: "2 seconds", maxOpenDuration: "8 seconds" },
  logLevel: "Warn"
})

/**
 * The skipped pairs by reason, one line each; models past their end of life are named with the date
 * (the registry's message carries it), since those are the ones a user may not expect.
 */
const skippedSummary = (skipped: ReadonlyArray<{ modelId: string; reason: string; message: string }>) => {
  const byReason = new Map<string, number>()
  const retired = new Map<string, string>()
  for (const s of skipped) {
    byReason.set(s.reason, (byReason.get(s.reason) ?? 0) + 1)
    const date = /end of life on (\d{4}-\d{2}-\d{2})/.exec(s.message)?.[1]
    if (s.reason === "END_OF_LIFE") retired.set(s.modelId, date === undefined ? "end of life, date unknown" : `end of life ${date}`)
  }
  return [...byReason].map(([reason, n]) =>
    reason === "END_OF_LIFE"
      ? `${reason} (${n}): ${[...retired].map(([id, date]) => `${id} (${date})`).join(", ")}`
      : `${reason} (${n})`
  )
}

const shutdown = async (code: number) => {
  await certification.close()
  await emulator?.close()
  process.exit(code)
}
process.once("SIGINT", () => void shutdown(130))

try {
  console.log(
    emulator === undefined
      ? `Certifying against live AWS Bedrock in ${regions.join(", ")}`
      : `Bedrock emulator on ${emulator.url} — certifying in ${regions.join(", ")}`
  )
  const created = models.length > 0
    ? await certification.certifyMultiple({ modelIds: models, regions }, { createdBy: "quickstart" })
    : await certification.certifyAll({ regions }, { createdBy: "quickstart" })
  console.log(
    `Job ${created.jobId}: ${created.totalUnits} units (model × region), ${created.skipped.length} pairs skipped as not certifiable`
  )
  for (const line of skippedSummary(created.skipped)) console.log(`  skipped ${line}`)

  let done = 0
  let lastPrinted = -1
  const detail = await certification.waitForJob(created.jobId, {
    onEvent: (event) => {
      if (event.type !== "unit-completed") return
      done++
      const line = Report.renderProgress(done, created.totalUnits)
      if (colour) process.stdout.write(`\r${line}`)
      else {
        const step = Math.floor((done / created.totalUnits) * 10)
        if (step !== lastPrinted) {
          lastPrinted = step
          console.log(line)
        }
      }
    }
  })
  if (colour) process.stdout.write("\n")

  const units = detail.units
  if (!values["no-table"]) {
    console.log()
    console.log(Report.renderTable(units, { colour }))
  }
  console.log()
  console.log(Report.renderSummary(units, { colour }))

  const generatedAt = DateTime.formatIso(await certification.runtime.runPromise(DateTime.now))
  writeFileSync(userPath(values.json), JSON.stringify(Report.resultsFile(detail.job, units), null, 2))
  writeFileSync(
    userPath(values.manifest),
    JSON.stringify(Report.manifest(units, { generatedAt, account: emulator === undefined ? null : "emulator" }), null, 2)
  )
  console.log()
  console.log(`Job ${detail.job.status}${detail.job.reason === null ? "" : ` (${detail.job.reason})`}`)
  if (values.store === "postgres") {
    console.log(`Stored:   PostgreSQL schema "${process.env["CERTIFICATION_PG_SCHEMA"] ?? "certification"}", job ${detail.job.id}`)
  }
  console.log(`Results:  ${userPath(values.json)}`)
  console.log(`Manifest: ${userPath(values.manifest)}`)
  await shutdown(detail.job.status === "FAILED" ? 1 : 0)
} catch (error) {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error)
  await shutdown(1)
}
