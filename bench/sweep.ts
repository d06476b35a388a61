/**
 * Sweep benchmark: how close a certification sweep gets to the limits Bedrock's quotas impose, and what
 * the orchestration costs against a plain loop of AWS SDK calls. Not a test: it prints and writes
 * figures (bench/results/sweep.{json,md}) and never asserts a timing.
 *
 * 1. **Makespan vs the quota limit.** 40 chat models × 3 regions through the Promise facade on the
 *    memory adapters, against the emulator with per-region quotas (`regionThrottle`) and realistic
 *    latency. The limit is what the quotas alone impose: per region, the admitted Bedrock requests
 *    (counted in the emulator's request log) minus the bucket's initial burst, divided by the quota;
 *    the maximum over regions. Reported as makespan / limit (≥ 1, closer to 1 is better), with the
 *    share of requests that were throttled and the verdicts (none may be FAILED for healthy models).
 * 2. **Orchestration overhead vs a plain loop.** The same Bedrock calls — recorded once by running the
 *    suite's tests through a recording `BedrockRuntime` — replayed by a plain pool of raw
 *    `@aws-sdk/client-bedrock-runtime` clients, against the full certification (queue, storage,
 *    runner, rating) with the governor pinned to the same per-region concurrency; the emulator has no
 *    throttling and a fixed latency. Reported as wall time ours / plain.
 *
 * Run: `pnpm bench` (all benches) or `pnpm exec node --conditions=@myia/source bench/sweep.ts`.
 * Environment: BENCH_MODELS (default 40), BENCH_ROUNDS (overhead rounds, default 2).
 */
import {
  BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandInput,
  ConverseStreamCommand,
  InvokeModelCommand
} from "@aws-sdk/client-bedrock-runtime"
import { BedrockRuntime, Certification, createCertification, RedeliveryPolicy, Region, Registry, Suite } from "@myia/certification"
import { BedrockEmulator, type Scenario } from "@myia/certification/emulator"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const REGION_CODES = ["us-east-1", "us-west-2", "eu-central-1"] as const
const decodeRegion = Schema.decodeUnknownSync(Region.Region)
const REGIONS: ReadonlyArray<Region.Region> = REGION_CODES.map((code) => decodeRegion(code))
const MODEL_COUNT = Number(process.env["BENCH_MODELS"] ?? 40)
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 2)
const CREDENTIALS = { accessKeyId: "AKIDBENCHSWEEP", secretAccessKey: "bench" }
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), "results")

/** Per-region quotas of the makespan part: a token bucket per region (requests/s, initial burst). */
const quotas: Record<(typeof REGION_CODES)[number], Scenario.Throttle> = {
  "us-east-1": { requestsPerSecond: 40, burst: 5 },
  "us-west-2": { requestsPerSecond: 30, burst: 5 },
  "eu-central-1": { requestsPerSecond: 25, burst: 5 }
}

/** Calls in flight per region in the overhead part, for both contenders. */
const PER_REGION_CONCURRENCY = 8
/** Fixed latency of every call in the overhead part (ms). */
const FIXED_LATENCY_MS = 100

const RUNTIME_OPERATIONS = new Set(["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"])

/** BENCH_PACING=0: AIMD alone; otherwise the governor's default (pacing on since issue 16). */
const pacingOption = process.env["BENCH_PACING"] === "0" ? { pacing: false } : {}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits

// ---------------------------------------------------------------------------------------------
// The sweep's models
// ---------------------------------------------------------------------------------------------

/** Active chat models certifiable in every region of the sweep, in a stable order. */
const pickModels = (count: number): ReadonlyArray<Registry.ModelInfo> => {
  const registry = Registry.make()
  const at = new Date().toISOString()
  const eligible = registry.models
    .filter((m) => m.modality === "chat" && m.lifecycle.status === "ACTIVE")
    .filter((m) => REGIONS.every((r) => registry.certifiability(m.id, r, at)._tag === "Certifiable"))
    .sort((a, b) => a.id.localeCompare(b.id))
  if (eligible.length < count) {
    console.warn(`only ${eligible.length} chat models are certifiable in ${REGIONS.join(", ")}; using them all`)
  }
  return eligible.slice(0, count)
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

const quotaScenario: Scenario.ScenarioInput = {
  seed: 7,
  timeScale: 1,
  registry: "builtin",
  defaults: {
    quality: "good",
    latency: { ttftMs: { median: 180, p95: 450 }, tokensPerSecond: 150, jitter: 0.2 }
  },
  regionThrottle: quotas
}

const fixedScenario = (timeScale: number): Scenario.ScenarioInput => ({
  seed: 7,
  timeScale,
  registry: "builtin",
  // Tokens arrive all but instantly: every call takes the TTFT, identical for every request.
  defaults: {
    quality: "good",
    latency: { ttftMs: { min: FIXED_LATENCY_MS, max: FIXED_LATENCY_MS }, tokensPerSecond: 1e9, jitter: 0 }
  }
})

// ---------------------------------------------------------------------------------------------
// Our certification through the Promise facade
// ---------------------------------------------------------------------------------------------

interface CertificationRun {
  readonly wallMs: number
  /** When the last unit completed, from the start (the rest of `wallMs` is noticing the job ended). */
  readonly lastUnitMs: number
  /** Epoch ms when the clock started, to place the emulator's request log on the same timeline. */
  readonly startedAt: number
  readonly jobStatus: string
  readonly units: number
  readonly verdicts: Partial<Record<string, number>>
}

const certify = async (
  url: string,
  modelIds: ReadonlyArray<string>,
  tuning: {
    readonly workerConcurrency: number
    readonly governor: { initial: number; min?: number; max: number; regionCap?: number; pacing?: boolean }
    readonly runner?: { readonly throttleBudgetMillis: number }
  }
): Promise<CertificationRun> => {
  const certification = createCertification({
    storage: MemoryStorage.layer,
    queue: MemoryQueue.layer({
      redelivery: { maxAttempts: 3, backoff: RedeliveryPolicy.exponentialBackoff({ base: "500 millis", max: "1 minute" }) }
    }),
    bedrock: { endpoint: url, credentials: CREDENTIALS, timeout: "30 seconds" },
    worker: { concurrency: tuning.workerConcurrency },
    governor: tuning.governor,
    ...(tuning.runner === undefined ? {} : { runner: tuning.runner }),
    logLevel: "Error"
  })
  try {
    // Build the layers (worker, clients) before the clock starts: startup is not part of a sweep.
    await certification.runtime.context()
    const startedAt = Date.now()
    const start = performance.now()
    const created = await certification.certifyMultiple({ modelIds, regions: REGIONS }, { createdBy: "bench" })
    let lastUnitMs = 0
    const detail = await certification.waitForJob(created.jobId, {
      onEvent: (event) => {
        if (event.type === "unit-completed") lastUnitMs = performance.now() - start
      }
    })
    const wallMs = performance.now() - start
    return {
      wallMs,
      lastUnitMs,
      startedAt,
      jobStatus: detail.job.status,
      units: detail.units.length,
      verdicts: Certification.countVerdicts(detail.units)
    }
  } finally {
    await certification.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Part 1: makespan against the quota limit
// ---------------------------------------------------------------------------------------------

interface RegionFigures {
  readonly region: string
  readonly requestsPerSecond: number
  readonly burst: number
  readonly admitted: number
  readonly throttled: number
  readonly limitSeconds: number
  /** When the region's last admitted request arrived, from the start of the sweep. */
  readonly lastRequestSeconds: number
  /** Admitted requests per second over the region's busy time (first to last admitted request). */
  readonly achievedRequestsPerSecond: number
}

const makespan = async (emulator: BedrockEmulator.EmulatorHandle, modelIds: ReadonlyArray<string>) => {
  emulator.setScenario(quotaScenario)
  // BENCH_WORKER_CONCURRENCY: units in flight over the three regions (default 24).
  const run = await certify(emulator.url, modelIds, {
    workerConcurrency: Number(process.env["BENCH_WORKER_CONCURRENCY"] ?? 24),
    // BENCH_PACING=0: AIMD alone (the governor's default); otherwise the region pacer too (issue 16).
    governor: { initial: 6, max: 16, ...pacingOption }
  })
  const log = emulator.requests().filter((r) => RUNTIME_OPERATIONS.has(r.operation))
  const regions: Array<RegionFigures> = REGIONS.map((region) => {
    const quota = quotas[region as (typeof REGION_CODES)[number]]
    const burst = quota.burst ?? quota.requestsPerSecond
    const inRegion = log.filter((r) => r.region === region)
    const throttled = inRegion.filter((r) => r.errorName === "ThrottlingException").length
    const times = inRegion.filter((r) => r.errorName !== "ThrottlingException").map((r) => r.at)
    const admitted = times.length
    const first = Math.min(...times)
    const last = Math.max(...times)
    return {
      region,
      requestsPerSecond: quota.requestsPerSecond,
      burst,
      admitted,
      throttled,
      limitSeconds: Math.max(0, admitted - burst) / quota.requestsPerSecond,
      lastRequestSeconds: round((last - run.startedAt) / 1000),
      achievedRequestsPerSecond: last > first ? round(admitted / ((last - first) / 1000)) : 0
    }
  })
  const limitSeconds = Math.max(...regions.map((r) => r.limitSeconds))
  const makespanSeconds = run.wallMs / 1000
  const throttled = regions.reduce((n, r) => n + r.throttled, 0)
  return {
    models: modelIds.length,
    regions: REGIONS.length,
    units: run.units,
    jobStatus: run.jobStatus,
    verdicts: run.verdicts,
    failedUnits: run.verdicts["FAILED"] ?? 0,
    requests: log.length,
    throttledRequests: throttled,
    throttledShare: log.length === 0 ? 0 : throttled / log.length,
    makespanSeconds,
    limitSeconds,
    ratio: limitSeconds === 0 ? Number.NaN : makespanSeconds / limitSeconds,
    perRegion: regions
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: the same calls through a plain loop of SDK calls
// ---------------------------------------------------------------------------------------------

type Call =
  | { readonly op: "Converse"; readonly input: ConverseCommandInput }
  | { readonly op: "ConverseStream"; readonly input: ConverseCommandInput }
  | { readonly op: "InvokeModel"; readonly input: BedrockRuntime.InvokeModelInput }

/** One test of one unit: its calls run in order, like the test runs them. */
interface RecordedTest {
  readonly region: string
  readonly calls: ReadonlyArray<Call>
}

/** A BedrockRuntime that records every call it forwards to `real`. */
const recorder = (real: BedrockRuntime.BedrockRuntime["Service"], calls: Array<Call>) =>
  BedrockRuntime.BedrockRuntime.of({
    converse: (region, input, options) => {
      calls.push({ op: "Converse", input })
      return real.converse(region, input, options)
    },
    converseStream: (region, input, options) => {
      calls.push({ op: "ConverseStream", input })
      return real.converseStream(region, input, options)
    },
    invokeModel: (region, input, options) => {
      calls.push({ op: "InvokeModel", input })
      return real.invokeModel(region, input, options)
    }
  })

/**
 * The Bedrock calls a healthy certification of `models` makes: each applicable test of the suite run
 * once per (model, region) against the real emulator (instant latency) through a recording runtime.
 */
const recordCalls = (url: string, models: ReadonlyArray<Registry.ModelInfo>, at: string) =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const real = yield* BedrockRuntime.make({ endpoint: url, credentials: CREDENTIALS, timeout: "30 seconds" })
      const registry = Registry.make()
      const jobs = models.flatMap((model) =>
        REGIONS.flatMap((region) => {
          const kind = Suite.kindOf(model)
          const found = registry.certifiability(model.id, region, at)
          if (typeof kind !== "string" || found._tag !== "Certifiable") return []
          const maxTokens = Suite.maxTokensFor(model)
          const ctx: Suite.TestContext = { region, target: found.target.id, model, maxTokens }
          return Suite.tests
            .filter((t) => t.kind === kind && Suite.skipReason(t, model) === null)
            .map((test) => ({ test, ctx }))
        })
      )
      return yield* Effect.forEach(jobs, ({ ctx, test }) => {
        const calls: Array<Call> = []
        return test.run(ctx).pipe(
          Effect.provideService(BedrockRuntime.BedrockRuntime, recorder(real, calls)),
          Effect.map((): RecordedTest => ({ region: ctx.region, calls }))
        )
      }, { concurrency: 16 })
    }))
  )

const encoder = new TextEncoder()

/** Issue one recorded call with the raw SDK and read its answer to the end. */
const send = async (client: BedrockRuntimeClient, call: Call): Promise<void> => {
  switch (call.op) {
    case "Converse": {
      await client.send(new ConverseCommand(call.input))
      return
    }
    case "ConverseStream": {
      const out = await client.send(new ConverseStreamCommand(call.input))
      for await (const _event of out.stream ?? []) {
        // Drain: the call is over when the stream is.
      }
      return
    }
    case "InvokeModel": {
      const out = await client.send(
        new InvokeModelCommand({
          modelId: call.input.modelId,
          body: encoder.encode(JSON.stringify(call.input.body)),
          contentType: call.input.contentType ?? "application/json",
          accept: call.input.accept ?? "application/json"
        })
      )
      JSON.parse(new TextDecoder().decode(out.body))
      return
    }
  }
}

/** The plain loop: per region, `concurrency` workers take the next test and run its calls in order. */
const plainLoop = async (url: string, tests: ReadonlyArray<RecordedTest>, concurrency: number) => {
  const clients = new Map(REGIONS.map((region) => [
    region as string,
    new BedrockRuntimeClient({ region, endpoint: url, credentials: CREDENTIALS, maxAttempts: 1 })
  ]))
  let errors = 0
  const start = performance.now()
  await Promise.all(REGIONS.map(async (region) => {
    const queue = tests.filter((t) => t.region === region)
    const client = clients.get(region)!
    let next = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < queue.length) {
        const test = queue[next++]!
        for (const call of test.calls) {
          await send(client, call).catch(() => {
            errors++
          })
        }
      }
    }))
  }))
  const wallMs = performance.now() - start
  for (const client of clients.values()) client.destroy()
  return { wallMs, errors }
}

/** Samples the emulator's in-flight requests while `work` runs; returns the peak. */
const withPeak = async <A>(emulator: BedrockEmulator.EmulatorHandle, work: () => Promise<A>) => {
  let peak = 0
  const timer = setInterval(() => {
    peak = Math.max(peak, emulator.activeRequests())
  }, 2)
  try {
    const result = await work()
    return { result, peak }
  } finally {
    clearInterval(timer)
  }
}

const runtimeRequests = (emulator: BedrockEmulator.EmulatorHandle) =>
  emulator.requests().filter((r) => RUNTIME_OPERATIONS.has(r.operation))

/** Mean time the emulator took to serve a call (arrival to response end). */
const meanDuration = (log: ReadonlyArray<BedrockEmulator.RequestRecord>) =>
  log.length === 0 ? 0 : log.reduce((ms, r) => ms + r.durationMs, 0) / log.length

const overhead = async (emulator: BedrockEmulator.EmulatorHandle, models: ReadonlyArray<Registry.ModelInfo>) => {
  emulator.setScenario(fixedScenario(0))
  const tests = await recordCalls(emulator.url, models, new Date().toISOString())
  const calls = tests.reduce((n, t) => n + t.calls.length, 0)
  const modelIds = models.map((m) => m.id)
  const concurrency = PER_REGION_CONCURRENCY
  const tuning = {
    // Enough units in flight to keep every region's slots busy; the governor is the binding limit.
    workerConcurrency: 3 * concurrency,
    // Lanes are per (region, model) (issue 16): the region cap keeps the region at `concurrency`.
    governor: { initial: concurrency, min: concurrency, max: concurrency, regionCap: concurrency }
  }
  const rounds: Array<
    {
      plainMs: number
      oursMs: number
      oursLastUnitMs: number
      plainPeak: number
      oursPeak: number
      oursCalls: number
      idealMs: number
      plainServerMs: number
      oursServerMs: number
    }
  > = []
  let verdicts: Partial<Record<string, number>> = {}
  let plainErrors = 0
  for (let i = 0; i < ROUNDS; i++) {
    emulator.setScenario(fixedScenario(1))
    const plain = await withPeak(emulator, () => plainLoop(emulator.url, tests, concurrency))
    plainErrors += plain.result.errors
    // What the calls themselves cost, as the emulator timed them: the floor for any client at this concurrency.
    const served = runtimeRequests(emulator)
    const plainServerMs = meanDuration(served)
    const idealMs = Math.max(...REGIONS.map((region) =>
      served.filter((r) => r.region === region).reduce((ms, r) => ms + r.durationMs, 0) / concurrency
    ))
    emulator.setScenario(fixedScenario(1))
    const ours = await withPeak(emulator, () => certify(emulator.url, modelIds, tuning))
    verdicts = ours.result.verdicts
    rounds.push({
      plainMs: plain.result.wallMs,
      oursMs: ours.result.wallMs,
      oursLastUnitMs: ours.result.lastUnitMs,
      plainPeak: plain.peak,
      oursPeak: ours.peak,
      oursCalls: runtimeRequests(emulator).length,
      idealMs,
      plainServerMs,
      oursServerMs: meanDuration(runtimeRequests(emulator))
    })
  }
  const best = (xs: ReadonlyArray<number>) => Math.min(...xs)
  const plainMs = best(rounds.map((r) => r.plainMs))
  const oursMs = best(rounds.map((r) => r.oursMs))
  return {
    units: modelIds.length * REGIONS.length,
    tests: tests.length,
    calls,
    oursCalls: rounds[rounds.length - 1]?.oursCalls ?? 0,
    plainErrors,
    verdicts,
    concurrencyPerRegion: concurrency,
    fixedLatencyMs: FIXED_LATENCY_MS,
    idealSeconds: best(rounds.map((r) => r.idealMs)) / 1000,
    plainSeconds: plainMs / 1000,
    oursSeconds: oursMs / 1000,
    ratio: oursMs / plainMs,
    rounds: rounds.map((r) => ({
      plainSeconds: round(r.plainMs / 1000, 3),
      oursSeconds: round(r.oursMs / 1000, 3),
      oursLastUnitSeconds: round(r.oursLastUnitMs / 1000, 3),
      plainMeanServerMs: round(r.plainServerMs, 1),
      oursMeanServerMs: round(r.oursServerMs, 1),
      plainPeakInFlight: r.plainPeak,
      oursPeakInFlight: r.oursPeak
    }))
  }
}

// ---------------------------------------------------------------------------------------------
// Storm: calls sent vs calls the suite needs (issue 16)
// ---------------------------------------------------------------------------------------------

/**
 * Models of the storm part (× 3 regions): 20, the 60 units the issue's storm figure counts ("17 of
 * 60 units ran twice"). The short storm (`BENCH_STORM_SHORT_MODELS`, 3: 9 units, 108 calls) shows
 * the fixed cost of learning each region's quota, which a small job cannot spread.
 */
const STORM_MODELS = Number(process.env["BENCH_STORM_MODELS"] ?? 20)
const STORM_SHORT_MODELS = Number(process.env["BENCH_STORM_SHORT_MODELS"] ?? 3)
/** The throttle budget of the storm part: short, so units run out of it and are redelivered. */
const STORM_BUDGET_MS = 4_000

/**
 * `STORM_MODELS` models × 3 regions, first on quotas that never bind (the calls the suite needs),
 * then under a 1 request/s storm per region with a short throttle budget, so units run out of it and
 * are redelivered: every call the emulator saw (admitted or throttled) ÷ the calls needed. A
 * redelivered unit resumes from its stored tests, so only its unfinished tests call again.
 */
const storm = async (emulator: BedrockEmulator.EmulatorHandle, modelIds: ReadonlyArray<string>, writeLog = true) => {
  const tuning = { workerConcurrency: 6, governor: { initial: 2, max: 4, ...pacingOption } }
  emulator.setScenario({ ...quotaScenario, regionThrottle: {} })
  const clean = await certify(emulator.url, modelIds, tuning)
  const needed = runtimeRequests(emulator).filter((r) => r.errorName !== "ThrottlingException").length
  const stormQuotas = Object.fromEntries(REGION_CODES.map((r) => [r, { requestsPerSecond: 1, burst: 1 }]))
  emulator.setScenario({ ...quotaScenario, regionThrottle: stormQuotas })
  const run = await certify(emulator.url, modelIds, { ...tuning, runner: { throttleBudgetMillis: STORM_BUDGET_MS } })
  const log = runtimeRequests(emulator)
  // BENCH_STORM_LOG=<file>: the storm's request log (arrival ms from the run's start, region, model, error), to read where the throttles fall.
  const logFile = process.env["BENCH_STORM_LOG"]
  if (writeLog && logFile !== undefined && logFile !== "") {
    writeFileSync(logFile, log.map((r) => `${r.at - run.startedAt}\t${r.region}\t${r.modelId}\t${r.operation}\t${r.errorName ?? "ok"}`).join("\n") + "\n")
  }
  const throttled = log.filter((r) => r.errorName === "ThrottlingException").length
  // The storm's quota limit: per region, (admitted − the burst of 1) at 1 request/s; the maximum.
  const limitSeconds = Math.max(...REGIONS.map((region) =>
    log.filter((r) => r.region === region && r.errorName !== "ThrottlingException").length - 1
  ))
  return {
    limitSeconds,
    makespanRatio: run.wallMs / 1000 / limitSeconds,
    units: run.units,
    needed,
    sent: log.length,
    admitted: log.length - throttled,
    throttled,
    ratio: log.length / needed,
    admittedRatio: (log.length - throttled) / needed,
    seconds: run.wallMs / 1000,
    verdicts: run.verdicts,
    cleanVerdicts: clean.verdicts
  }
}

// ---------------------------------------------------------------------------------------------
// Isolation: one bad model must not hold the others of its region (issue 16)
// ---------------------------------------------------------------------------------------------

const ISOLATION_REGION = "eu-central-1" as const
const ISOLATION_MODELS = Number(process.env["BENCH_ISOLATION_MODELS"] ?? 16)
/** Rounds of the isolation part; each figure is the median over them. */
const ISOLATION_ROUNDS = Math.max(1, Number(process.env["BENCH_ISOLATION_ROUNDS"] ?? 3))

/**
 * One region's sweep until every unit of the models other than `bad` has completed; then the job is
 * cancelled (the bad unit may wait minutes for its quota or breaker). Returns when the last of those
 * units completed, from `certifyMultiple`.
 */
const othersDone = async (url: string, modelIds: ReadonlyArray<string>, bad: string | null) => {
  const certification = createCertification({
    storage: MemoryStorage.layer,
    queue: MemoryQueue.layer({}),
    bedrock: { endpoint: url, credentials: CREDENTIALS, timeout: "30 seconds" },
    worker: { concurrency: 8 },
    governor: { initial: 6, max: 16, ...pacingOption },
    logLevel: "Error"
  })
  try {
    await certification.runtime.context()
    const start = performance.now()
    const created = await certification.certifyMultiple({ modelIds, regions: [ISOLATION_REGION] }, { createdBy: "bench" })
    const detail = await certification.getJob(created.jobId)
    const others = new Set(detail.units.filter((u) => u.modelId !== bad).map((u) => u.id))
    let lastMs = 0
    let cancelled = false
    await certification.waitForJob(created.jobId, {
      onEvent: (event) => {
        if (event.type !== "unit-completed" || event.unitId === null || !others.delete(event.unitId)) return
        lastMs = performance.now() - start
        if (others.size === 0 && bad !== null && !cancelled) {
          cancelled = true
          void certification.cancel(created.jobId).catch(() => {})
        }
      }
    })
    const final = await certification.getJob(created.jobId)
    const verdicts = Certification.countVerdicts(final.units.filter((u) => u.modelId !== bad))
    return { seconds: lastMs / 1000, verdicts }
  } finally {
    await certification.close()
  }
}

/**
 * `ISOLATION_MODELS` chat models in one region under its quota (25 requests/s): the time until every
 * model but one has finished, (a) without that model, (b) with it throttled hard by its own quota
 * (0.2 requests/s), (c) with it failing every call (HTTP 500). Target: (b) and (c) ≤ 1.2 × (a).
 */
const isolation = async (emulator: BedrockEmulator.EmulatorHandle, allIds: ReadonlyArray<string>) => {
  const ids = allIds.slice(0, ISOLATION_MODELS + 1)
  const bad = ids[0]!
  const good = ids.slice(1)
  const base: Scenario.ScenarioInput = {
    ...quotaScenario,
    regionThrottle: { [ISOLATION_REGION]: quotas[ISOLATION_REGION] }
  }
  // Each run lasts ~8 s, so one noisy second moves a ratio by 0.1: ISOLATION_ROUNDS rounds of the
  // three, interleaved, and the median of each.
  const rounds: Array<{ without: number; throttled: number; failing: number }> = []
  let verdicts = {}
  for (let round = 0; round < ISOLATION_ROUNDS; round++) {
    emulator.setScenario(base)
    const without = await othersDone(emulator.url, good, null)
    emulator.setScenario({ ...base, rules: [{ models: bad, throttle: { requestsPerSecond: 0.2, burst: 1 } }] })
    const throttled = await othersDone(emulator.url, ids, bad)
    emulator.setScenario({ ...base, rules: [{ models: bad, errorRate5xx: 1 }] })
    const failing = await othersDone(emulator.url, ids, bad)
    rounds.push({ without: without.seconds, throttled: throttled.seconds, failing: failing.seconds })
    verdicts = { without: without.verdicts, throttled: throttled.verdicts, failing: failing.verdicts }
  }
  const median = (xs: ReadonlyArray<number>) => {
    const sorted = [...xs].sort((a, b) => a - b)
    const mid = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  }
  const withoutSeconds = median(rounds.map((r) => r.without))
  const throttledSeconds = median(rounds.map((r) => r.throttled))
  const failingSeconds = median(rounds.map((r) => r.failing))
  return {
    region: ISOLATION_REGION,
    models: good.length,
    badModel: bad,
    rounds,
    withoutSeconds,
    throttledSeconds,
    failingSeconds,
    throttledRatio: throttledSeconds / withoutSeconds,
    failingRatio: failingSeconds / withoutSeconds,
    verdicts
  }
}

const printIsolation = (iso: Isolation) => {
  console.log(`\n4. One bad model in ${iso.region} (${iso.models} other models, region quota 25 req/s)`)
  console.log(`   ${iso.rounds.length} rounds (median of each): ${iso.rounds.map((r) => `${round(r.without)}/${round(r.throttled)}/${round(r.failing)} s`).join(", ")}`)
  console.log(`   others done without it ${round(iso.withoutSeconds)} s`)
  console.log(`   with it throttled at 0.2 req/s: ${round(iso.throttledSeconds)} s → ×${round(iso.throttledRatio)}`)
  console.log(`   with it failing 100 %: ${round(iso.failingSeconds)} s → ×${round(iso.failingRatio)} (target ≤ 1.2)`)
  console.log(`   verdicts of the others ${JSON.stringify(iso.verdicts)}`)
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

type Makespan = Awaited<ReturnType<typeof makespan>>
type Overhead = Awaited<ReturnType<typeof overhead>>
type Storm = Awaited<ReturnType<typeof storm>>
type Isolation = Awaited<ReturnType<typeof isolation>>

const verdictList = (v: Partial<Record<string, number>>) => Object.entries(v).map(([k, n]) => `${k} ${n}`).join(", ")

/** The table rows: measure, figure, what it is compared with, ratio. */
const rows = (
  m: Makespan,
  o: Overhead,
  st: Storm,
  short: Storm,
  iso: Isolation
): ReadonlyArray<readonly [string, string, string, string]> => [
  [
    `Storm 1 req/s per region, ${st.units} units, throttle budget ${STORM_BUDGET_MS / 1000} s (units redelivered)`,
    `${st.sent} calls sent (${st.throttled} throttled)`,
    `${st.needed} calls needed`,
    `**${round(st.ratio)}×** (admitted ${round(st.admittedRatio)}×)`
  ],
  [
    `Storm makespan (same run)`,
    `${round(st.seconds)} s`,
    `quota limit ${st.limitSeconds} s`,
    `**${round(st.makespanRatio)}×**`
  ],
  [
    `Short storm, ${short.units} units (same settings): calls; makespan`,
    `${short.sent} calls sent (${short.throttled} throttled); ${round(short.seconds)} s`,
    `${short.needed} calls needed; quota limit ${short.limitSeconds} s`,
    `${round(short.ratio)}×; ${round(short.makespanRatio)}×`
  ],
  [
    `Makespan, ${m.models} chat models × ${m.regions} regions (${m.units} units, ${m.requests} Bedrock requests)`,
    `${round(m.makespanSeconds)} s`,
    `quota limit ${round(m.limitSeconds)} s`,
    `**${round(m.ratio)}×**`
  ],
  ["Throttled requests", `${m.throttledRequests} of ${m.requests}`, "—", `${round(m.throttledShare * 100, 1)} %`],
  ["Verdicts under quotas", verdictList(m.verdicts), "FAILED must be 0", `${m.failedUnits} FAILED`],
  [
    `Orchestration, ${o.units} units / ${o.calls} calls, ${o.concurrencyPerRegion} per region, ` +
    `${o.fixedLatencyMs} ms latency`,
    `ours ${round(o.oursSeconds)} s`,
    `plain SDK loop ${round(o.plainSeconds)} s`,
    `**${round(o.ratio)}×**`
  ],
  [
    `One model of ${iso.region} throttled hard (0.2 req/s): the ${iso.models} others finish (median of ${iso.rounds.length} rounds)`,
    `${round(iso.throttledSeconds)} s`,
    `${round(iso.withoutSeconds)} s without that model`,
    `**${round(iso.throttledRatio)}×** (target ≤ 1.2)`
  ],
  [
    `One model of ${iso.region} failing 100 % (HTTP 500): the ${iso.models} others finish`,
    `${round(iso.failingSeconds)} s`,
    `${round(iso.withoutSeconds)} s without that model`,
    `**${round(iso.failingRatio)}×** (target ≤ 1.2)`
  ]
]

const markdown = (m: Makespan, o: Overhead, st: Storm, short: Storm, iso: Isolation, at: string) => {
  const quotaNotes = m.perRegion
    .map((r) => `${r.region} ${r.requestsPerSecond}/${r.burst} (${r.admitted} admitted → ${round(r.limitSeconds)} s)`)
    .join(", ")
  const roundNotes = o.rounds.map((r) => `plain ${r.plainSeconds} s / ours ${r.oursSeconds} s`).join("; ")
  return [
    `# Sweep benchmark`,
    ``,
    `${at} · Node ${process.version} · ${cpus().length} CPUs · load average ${loadavg().map((x) => round(x)).join(", ")} · ` +
    `\`pnpm bench\``,
    ``,
    `| Measure | Figure | Compared with | Ratio |`,
    `|---|---|---|---|`,
    ...rows(m, o, st, short, iso).map((cells) => `| ${cells.join(" | ")} |`),
    ``,
    `Quotas (requests/s, burst): ${quotaNotes}. The limit is max over regions of (admitted − burst) / quota.`,
    `Overhead rounds (best taken): ${roundNotes}. Floor at that concurrency (server-side call time per region ÷ ` +
    `concurrency): ${round(o.idealSeconds)} s.`,
    ``
  ].join("\n")
}

/** BENCH_SWEEP_PARTS (comma-separated: makespan, overhead, storm, isolation) runs only those, writing nothing. */
const PARTS = new Set((process.env["BENCH_SWEEP_PARTS"] ?? "makespan,overhead,storm,isolation").split(",").map((x) => x.trim()))
const ALL_PARTS = ["makespan", "overhead", "storm", "isolation"].every((p) => PARTS.has(p))

const printMakespan = (m: Makespan) => {
  console.log(`\n1. Makespan vs the quota limit`)
  for (const r of m.perRegion) {
    const quota = `quota ${r.requestsPerSecond} req/s (burst ${r.burst})`
    const seen = `${r.admitted} admitted, ${r.throttled} throttled`
    const achieved = `achieved ${r.achievedRequestsPerSecond} req/s, last request at ${r.lastRequestSeconds} s`
    console.log(`   ${r.region.padEnd(13)} ${quota}: ${seen} → limit ${round(r.limitSeconds)} s; ${achieved}`)
  }
  console.log(`   makespan ${round(m.makespanSeconds)} s vs limit ${round(m.limitSeconds)} s → ratio ${round(m.ratio)}×`)
  console.log(`   throttled ${m.throttledRequests}/${m.requests} requests (${round(m.throttledShare * 100, 1)} %)`)
  console.log(`   job ${m.jobStatus}; verdicts ${JSON.stringify(m.verdicts)}; FAILED units: ${m.failedUnits}`)
}

const printOverhead = (o: Overhead) => {
  console.log(`\n2. Orchestration overhead vs a plain loop of SDK calls`)
  console.log(`   ${o.tests} tests, ${o.calls} recorded calls (ours issued ${o.oursCalls})`)
  console.log(`   ${o.concurrencyPerRegion} in flight per region; ${o.fixedLatencyMs} ms per call`)
  for (const [i, r] of o.rounds.entries()) {
    const plain = `plain ${r.plainSeconds} s (peak ${r.plainPeakInFlight} in flight, ${r.plainMeanServerMs} ms/call)`
    const ours = `ours ${r.oursSeconds} s (last unit at ${r.oursLastUnitSeconds} s, peak ${r.oursPeakInFlight}, ` +
      `${r.oursMeanServerMs} ms/call)`
    console.log(`   round ${i + 1}: ${plain}, ${ours}`)
  }
  console.log(
    `   best: ours ${round(o.oursSeconds, 3)} s vs plain ${round(o.plainSeconds, 3)} s → ratio ${round(o.ratio)}× ` +
      `(floor ${round(o.idealSeconds, 3)} s)`
  )
  console.log(`   plain-loop errors ${o.plainErrors}; verdicts ${JSON.stringify(o.verdicts)}`)
}

const printStorm = (st: Storm, title = "Storm") => {
  console.log(`\n3. ${title}: 1 request/s per region, throttle budget ${STORM_BUDGET_MS} ms`)
  console.log(
    `   ${st.units} units: ${st.sent} calls sent (${st.admitted} admitted, ${st.throttled} throttled) vs ${st.needed} ` +
      `needed → ratio ${round(st.ratio)}× (admitted ${round(st.admittedRatio)}×) in ${round(st.seconds)} s ` +
      `(quota limit ${st.limitSeconds} s → makespan ${round(st.makespanRatio)}×); verdicts ${JSON.stringify(st.verdicts)}`
  )
}

/** Run the parts on one emulator, print the comparisons, write bench/results/sweep.{json,md}. */
export const main = async () => {
  const models = pickModels(MODEL_COUNT)
  const emulator = await BedrockEmulator.start({ port: 0, scenario: quotaScenario })
  try {
    console.log(`sweep: ${models.length} chat models × ${REGIONS.length} regions against ${emulator.url}`)
    const m = PARTS.has("makespan") ? await makespan(emulator, models.map((x) => x.id)) : undefined
    if (m !== undefined) printMakespan(m)
    const o = PARTS.has("overhead") ? await overhead(emulator, models) : undefined
    if (o !== undefined) printOverhead(o)
    const st = PARTS.has("storm") ? await storm(emulator, models.slice(0, STORM_MODELS).map((x) => x.id)) : undefined
    if (st !== undefined) printStorm(st)
    const short = PARTS.has("storm") ? await storm(emulator, models.slice(0, STORM_SHORT_MODELS).map((x) => x.id), false) : undefined
    if (short !== undefined) printStorm(short, "Short storm")
    const iso = PARTS.has("isolation") ? await isolation(emulator, models.map((x) => x.id)) : undefined
    if (iso !== undefined) printIsolation(iso)
    if (!ALL_PARTS || m === undefined || o === undefined || st === undefined || short === undefined || iso === undefined) {
      console.log(`\nBENCH_SWEEP_PARTS=${[...PARTS].join(",")}: not every part ran, results not written`)
      return
    }
    const at = new Date().toISOString()
    const report = {
      benchmark: "sweep",
      generatedAt: at,
      environment: { node: process.version, cpus: cpus().length, platform: process.platform, loadAverage: loadavg() },
      makespan: { ...m, quotas },
      overhead: o,
      storm: st,
      stormShort: short,
      isolation: iso
    }
    mkdirSync(RESULTS, { recursive: true })
    writeFileSync(join(RESULTS, "sweep.json"), JSON.stringify(report, null, 2) + "\n")
    writeFileSync(join(RESULTS, "sweep.md"), markdown(m, o, st, short, iso, at))
    console.log(`\nwrote ${join(RESULTS, "sweep.json")} and sweep.md`)
  } finally {
    await emulator.close()
  }
}

if (import.meta.main) await main()
