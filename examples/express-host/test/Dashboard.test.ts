/**
 * The dashboard (issue 19) in a real headless Chromium (Debian's `chromium`, driven by
 * `playwright-core`) against the Express host on PostgreSQL + Redis with a separate worker process:
 * sign-in with the read token; the matrix shows every unit of a finished job with its verdict's
 * colour and text; a cell opens its tests; a job started from the form progresses live (SSE) to
 * COMPLETED without a reload; the read-only token sees no write buttons and a forged write is a
 * 403; without a token the page shows the sign-in prompt and no data; a host whose hook reads a
 * session cookie works as it is; and no request the browser makes leaves the host. Screenshots of each view go to `test-output/dashboard/`.
 *
 * Fails (does not skip) under `CI` when chromium, PostgreSQL or Redis is missing.
 */
import { BedrockEmulator, Scenario } from "@myia/certification/emulator"
import { createCertificationHandler } from "@myia/certification-http"
import * as Memory from "@myia/certification-memory"
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll } from "vitest"
import { toEnv } from "../src/config.ts"
import { listening, node, stop } from "./endpointSuite.ts"
import { dropSchema, requireServices, runConfig, runName } from "./services.ts"

const services = await requireServices()
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const hasChromium = Fs.existsSync(chromiumPath)
if (!hasChromium && process.env.CI !== undefined) {
  throw new Error(`the dashboard browser tests need Chromium at ${chromiumPath} when CI is set (apt-get install chromium)`)
}

/**
 * Issue 10: the browser is a test tool, not product — it runs on the machine's real clock. Under
 * `faketime pnpm test` it would inherit libfaketime (`LD_PRELOAD`, `FAKETIME*`) into every one of
 * its processes, and then no browser test finished within its timeout (the page code reads no clock;
 * with this env all pass under faketime). What the page shows comes from the API, whose processes
 * keep the faked clock.
 */
const browserEnv = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] =>
      e[1] !== undefined && e[0] !== "LD_PRELOAD" && !e[0].startsWith("FAKETIME")
    )
  )

const outputDir = fileURLToPath(new URL("../test-output/dashboard/", import.meta.url))
const base = "/api/certification-queue"
const good = "amazon.nova-lite-v1:0"
const wrong = "amazon.nova-micro-v1:0"
const regions = ["us-east-1", "eu-west-1"]
const formRegions = ["us-west-2", "ap-northeast-1"]

/** The stylesheet's verdict colours (background), as the browser computes them. */
const verdictColour: Readonly<Record<string, string>> = {
  CERTIFIED: "rgb(30, 123, 52)",
  QUALITY_WARNING: "rgb(242, 194, 0)",
  FAILED: "rgb(198, 40, 40)",
  UNAVAILABLE: "rgb(107, 114, 128)",
  UNSUPPORTED: "rgb(207, 212, 220)",
  INCONCLUSIVE: "rgb(123, 63, 160)",
  CANCELLED: "rgb(255, 255, 255)"
}
const verdictText: Readonly<Record<string, string>> = {
  CERTIFIED: "Certified",
  QUALITY_WARNING: "Quality warning",
  FAILED: "Failed",
  UNAVAILABLE: "Unavailable",
  UNSUPPORTED: "Unsupported",
  INCONCLUSIVE: "Inconclusive",
  CANCELLED: "Cancelled"
}

describe.skipIf(!services || !hasChromium)("dashboard in Chromium (Express host on PostgreSQL + Redis)", () => {
  const run = runName("ui")
  let emulator: BedrockEmulator.EmulatorHandle
  let server: ReturnType<typeof node> | undefined
  let worker: ReturnType<typeof node> | undefined
  let origin: string
  let browser: Browser
  let finished: any
  /** Every URL any page of the browser asked for. */
  const requested: Array<string> = []
  const pageErrors: Array<string> = []

  const api = async (method: string, path: string, token: string | null, body?: unknown) => {
    const response = await fetch(`${origin}${base}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { "content-type": "application/json" })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, json: (await response.json()) as any }
  }

  const untilTerminal = async (jobId: string) => {
    for (;;) {
      // With every unit's tests (the paged job detail sends them only when asked).
      const job = await api("GET", `/jobs/${jobId}?includeTests=true`, "rw-token")
      if (["COMPLETED", "FAILED", "CANCELLED"].includes(job.json.data.status)) return job.json.data
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }

  const context = async (viewport = { width: 1280, height: 800 }): Promise<BrowserContext> => {
    const ctx = await browser.newContext({ viewport })
    ctx.on("request", (request) => void requested.push(request.url()))
    return ctx
  }

  const open = async (ctx: BrowserContext): Promise<Page> => {
    const page = await ctx.newPage()
    page.on("pageerror", (error) => void pageErrors.push(error.message))
    await page.goto(`${origin}${base}/ui`)
    return page
  }

  const signIn = async (page: Page, token: string) => {
    await page.locator("#token").fill(token)
    await page.getByRole("button", { name: "Sign in" }).click()
    await page.locator("header nav").waitFor()
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: `${outputDir}${name}.png`, fullPage: true })

  beforeAll(async () => {
    Fs.mkdirSync(outputDir, { recursive: true })
    emulator = await BedrockEmulator.start({
      port: 0,
      scenario: {
        ...Scenario.defaultScenarioInput(),
        rules: [
          { models: wrong, regions: "*", quality: "wrong" as const },
          // The form's jobs: slow enough (~0.2 s a call at the emulator's time scale of 0.05) that the page
          // shows them running before they complete.
          { models: good, regions: formRegions, latency: { ttftMs: { min: 4_000, max: 4_000 }, tokensPerSecond: 1_000 } }
        ]
      }
    })
    const config = runConfig(run, emulator.url)
    server = node("server.ts", {
      ...toEnv(config),
      PORT: "0",
      CERTIFICATION_API_TOKEN: "rw-token",
      CERTIFICATION_API_READ_TOKEN: "ro-token"
    })
    origin = new URL(await listening(server)).origin
    worker = node("worker.ts", toEnv(config))
    browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"], env: browserEnv() })
    // An earlier run of one pair, so a unit of the next job has a previous verdict.
    const earlier = await api("POST", "/certify-model", "rw-token", { modelId: wrong, region: regions[0] })
    assert.strictEqual(earlier.status, 201, JSON.stringify(earlier.json))
    assert.strictEqual((await untilTerminal(earlier.json.data.jobId)).status, "COMPLETED")
    // A finished job whose units the matrix must show: one model that passes, one that fails.
    const created = await api("POST", "/certify-multiple", "rw-token", { modelIds: [good, wrong], regions })
    assert.strictEqual(created.status, 201, JSON.stringify(created.json))
    finished = await untilTerminal(created.json.data.jobId)
    assert.strictEqual(finished.status, "COMPLETED")
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await Promise.all([stop(worker), stop(server)])
    await emulator?.close()
    await dropSchema(run)
  })

  it("without a token: the sign-in prompt and no data (only the shell, its assets and a refused /principal)", async () => {
    const ctx = await context()
    const before = requested.length
    const page = await open(ctx)
    await page.locator("#token").waitFor()
    await shot(page, "signin")
    assert.strictEqual(await page.locator("table").count(), 0)
    assert.strictEqual(await page.locator("header nav").count(), 0)
    const paths = requested.slice(before).map((url) => new URL(url).pathname)
    assert.deepStrictEqual(
      paths.filter((p) => !p.startsWith(`${base}/ui`)),
      [`${base}/principal`],
      "the page asked only who it is, and got a 401"
    )
    await ctx.close()
  })

  it("read token: the matrix shows every unit of the finished job with its verdict colour and text; a cell opens its tests; no write buttons; a forged write is a 403", async () => {
    const ctx = await context()
    const page = await open(ctx)
    await signIn(page, "ro-token")
    assert.include(await page.locator("header .who").innerText(), "read-only")
    assert.notInclude(page.url(), "ro-token")
    assert.strictEqual(await page.evaluate(() => sessionStorage.getItem("myia-certification-token")), "ro-token")
    await page.locator("table.matrix").waitFor()
    await shot(page, "matrix")

    const units: Array<any> = finished.certifications
    assert.strictEqual(units.length, 4)
    assert.deepStrictEqual(new Set(units.map((u) => `${u.modelId} ${u.status}`)), new Set([`${good} CERTIFIED`, `${wrong} FAILED`]))
    for (const unit of units) {
      const cell = page.locator(`button.cell[data-model="${unit.modelId}"][data-region="${unit.region}"]`)
      assert.strictEqual(await cell.count(), 1, `${unit.modelId} in ${unit.region}`)
      assert.include(await cell.innerText(), verdictText[unit.status]!)
      assert.include(await cell.innerText(), unit.rating ?? "—")
      const colour = await cell.evaluate((el) => (globalThis as any).getComputedStyle(el).backgroundColor as string)
      assert.strictEqual(colour, verdictColour[unit.status], `${unit.modelId} in ${unit.region} is ${unit.status}`)
    }

    // Keyboard: the first cell is focusable, arrows move, Enter opens the unit.
    // The pair that also ran before (FAILED both times).
    const failedUnit = units.find((u) => u.modelId === wrong && u.region === regions[0])!
    assert.strictEqual(failedUnit.status, "FAILED")
    const focused = () =>
      page.evaluate(() => {
        const el = (globalThis as any).document.activeElement
        return { model: el?.dataset?.model as string | undefined, region: el?.dataset?.region as string | undefined }
      })
    await page.locator(`button.cell[data-row="0"][data-col="0"]`).focus()
    assert.strictEqual(await page.locator(`button.cell[data-row="0"][data-col="0"]`).getAttribute("tabindex"), "0")
    assert.strictEqual((await focused()).model, good, "rows are sorted by vendor, then name: Nova Lite first")
    await page.keyboard.press("ArrowDown")
    assert.strictEqual((await focused()).model, wrong)
    for (let i = 0; i < regions.length && (await focused()).region !== failedUnit.region; i++) {
      await page.keyboard.press("ArrowRight")
    }
    assert.deepStrictEqual(await focused(), { model: failedUnit.modelId, region: failedUnit.region })
    await page.keyboard.press("Enter")
    const dialog = page.locator("dialog[open]")
    await dialog.waitFor()
    assert.include(await dialog.locator("h2").innerText(), failedUnit.region)
    const rows = dialog.locator("tr[data-test]")
    assert.strictEqual(await rows.count(), failedUnit.tests.length)
    for (const test of failedUnit.tests) {
      const row = dialog.locator(`tr[data-test="${test.id}"]`)
      assert.include(await row.innerText(), test.name)
      assert.include(await row.locator(".badge").innerText(), { PASSED: "Passed", FAILED: "Failed", SKIPPED: "Skipped", ERRORED: "Errored" }[test.status as string]!)
    }
    await dialog.locator("[data-field=previous]").filter({ hasNotText: "…" }).waitFor()
    assert.strictEqual(await dialog.locator("[data-field=previous]").innerText(), "Failed", "the earlier run's verdict")
    await shot(page, "unit")
    await page.keyboard.press("Escape")
    await dialog.waitFor({ state: "detached" })

    // Read-only: no Start view, and no cancel/retry on a job that has FAILED units.
    assert.strictEqual(await page.locator("[data-view=start]").count(), 0)
    await page.locator("[data-view=jobs]").click()
    await page.locator(`tr[data-job="${finished.id}"] button`).click()
    await page.locator(`[data-job-detail="${finished.id}"]`).waitFor()
    assert.strictEqual(await page.locator("[data-action]").count(), 0)
    // The job's units, and one opened from there with its tests (fetched whole when the detail is paged).
    for (const unit of units) {
      assert.include(await page.locator(`tr[data-unit="${unit.id}"]`).innerText(), verdictText[unit.status]!)
    }
    if (finished.summary !== undefined) {
      // The API's summary matrix, when it sends one: a badge per (model, region).
      for (const unit of units) {
        const cell = page.locator(`table.jobgrid td[data-model="${unit.modelId}"][data-region="${unit.region}"]`)
        assert.strictEqual(await cell.innerText(), verdictText[unit.status])
      }
    }
    await shot(page, "job")
    await page.locator(`tr[data-unit="${failedUnit.id}"] button`).click()
    await page.locator("dialog[open] tr[data-test]").first().waitFor()
    assert.strictEqual(await page.locator("dialog[open] tr[data-test]").count(), failedUnit.tests.length)
    await page.keyboard.press("Escape")
    await page.locator("dialog[open]").waitFor({ state: "detached" })
    await page.locator("[data-view=stats]").click()
    await page.locator("table.regions").waitFor()
    for (const region of regions) assert.strictEqual(await page.locator(`table.regions tr[data-region="${region}"]`).count(), 1)
    await shot(page, "stats")

    // The Schedule view exists exactly when the host serves GET /schedule.
    const schedule = await api("GET", "/schedule", "ro-token")
    if (schedule.status === 404) {
      assert.strictEqual(await page.locator("[data-view=schedule]").count(), 0)
    } else {
      assert.strictEqual(schedule.status, 200)
      await page.locator("[data-view=schedule]").click()
      await page.locator("#schedule-title").waitFor()
      await shot(page, "schedule")
    }

    // The page's own token cannot write: a forged POST from the page is refused by the hook.
    const forged = await page.evaluate(async () => {
      const token = sessionStorage.getItem("myia-certification-token")
      const response = await fetch("certify-model", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ modelId: "amazon.nova-lite-v1:0", region: "us-east-1" })
      })
      return { status: response.status, body: (await response.json()) as any }
    })
    assert.strictEqual(forged.status, 403)
    assert.strictEqual(forged.body.error.code, "FORBIDDEN")

    // A phone-width view of the matrix.
    await page.setViewportSize({ width: 390, height: 844 })
    await page.locator("[data-view=matrix]").click()
    await page.locator("table.matrix").waitFor()
    assert.isAtMost(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number), 390, "the page itself does not scroll sideways")
    await shot(page, "matrix-phone")
    await ctx.close()
  })

  it("read-write token: the form shows the API's validation message, then a started job progresses live to COMPLETED without a reload, in its detail and in the history", async () => {
    const ctx = await context()
    const page = await open(ctx)
    // Counted from here, after the first load: any later navigation would be a reload.
    let navigations = 0
    page.on("framenavigated", (frame) => void (frame === page.mainFrame() && navigations++))
    await signIn(page, "rw-token")
    await page.locator("[data-view=start]").click()
    await page.locator("#start-models option").first().waitFor({ state: "attached" })

    // Nothing picked: the API's own message is shown.
    const expected = await api("POST", "/certify-multiple", "rw-token", { modelIds: [], regions: [] })
    assert.strictEqual(expected.status, 400)
    await page.getByRole("button", { name: "Start certification" }).click()
    const error = page.locator("form.start .error")
    await error.waitFor()
    assert.include(await error.innerText(), expected.json.error.message)
    await shot(page, "start")

    await page.locator("#start-models").selectOption([good])
    await page.locator("#start-regions").selectOption(formRegions)
    await page.getByRole("button", { name: "Start certification" }).click()
    const detail = page.locator("[data-job-detail]")
    await detail.waitFor()
    const jobId = (await detail.getAttribute("data-job-detail"))!
    const seen = new Set<string>()
    for (;;) {
      const status = (await detail.getAttribute("data-status"))!
      seen.add(status)
      if (status === "COMPLETED") break
      assert.notInclude(["FAILED", "CANCELLED"], status)
      await page.waitForTimeout(100)
    }
    assert.include(await detail.locator("[data-field=done]").first().innerText(), "2 / 2")
    assert.isAbove(seen.size, 1, `the page showed the job before it completed (${[...seen]})`)
    assert.strictEqual(navigations, 0, "no navigation after the first load")
    assert.isTrue(requested.some((url) => url.endsWith(`${base}/jobs/${jobId}/events`)), "progress came over SSE")
    await shot(page, "job-live")

    // The history follows its running jobs too: a job started elsewhere turns COMPLETED in the list.
    const other = await api("POST", "/certify-multiple", "rw-token", { modelIds: [good], regions: formRegions })
    assert.strictEqual(other.status, 201)
    await page.locator("[data-view=jobs]").click()
    const row = page.locator(`tr[data-job="${other.json.data.jobId}"] .badge`)
    await row.waitFor()
    const listed = new Set<string>()
    for (;;) {
      const status = (await row.getAttribute("data-status"))!
      listed.add(status)
      if (status === "COMPLETED") break
      await page.waitForTimeout(100)
    }
    assert.isAbove(listed.size, 1, `the list showed the job running first (${[...listed]})`)
    assert.isTrue(requested.some((url) => url.endsWith(`${base}/jobs/${other.json.data.jobId}/events`)), "over SSE")
    assert.strictEqual(navigations, 0, "still no reload")
    await ctx.close()
  })

  it("a host whose hook reads a session cookie: the page works as it is, with no sign-in prompt and no token", async () => {
    const plugin = createCertificationHandler({
      certification: { storage: Memory.MemoryStorage.layer, queue: Memory.MemoryQueue.layer(), worker: false },
      basePath: base,
      authorize: ({ headers }) =>
        /(^|;\s*)session=reader-session(;|$)/.test(headers.cookie ?? "")
          ? { id: "cookie-user", canRead: true, canWrite: false }
          : { status: 401 }
    })
    const cookieServer = Http.createServer((req, res) => plugin.node(req, res))
    await new Promise<void>((resolve) => cookieServer.listen(0, "127.0.0.1", resolve))
    const cookieOrigin = `http://127.0.0.1:${(cookieServer.address() as AddressInfo).port}`
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    const seen: Array<{ url: string; authorization: string | undefined }> = []
    ctx.on("request", (request) => void seen.push({ url: request.url(), authorization: request.headers().authorization }))
    try {
      await ctx.addCookies([{ name: "session", value: "reader-session", url: cookieOrigin }])
      const page = await ctx.newPage()
      page.on("pageerror", (error) => void pageErrors.push(error.message))
      await page.goto(`${cookieOrigin}${base}/ui`)
      await page.locator("header nav").waitFor()
      assert.include(await page.locator("header .who").innerText(), "cookie-user")
      assert.strictEqual(await page.locator("#token").count(), 0)
      assert.strictEqual(await page.getByRole("button", { name: "Sign out" }).count(), 0, "nothing to sign out of")
      await page.getByText("No certification results yet.").waitFor()
      assert.isTrue(seen.some((r) => r.url === `${cookieOrigin}${base}/principal`))
      for (const request of seen) {
        assert.strictEqual(new URL(request.url).origin, cookieOrigin, request.url)
        assert.isUndefined(request.authorization, request.url)
      }
    } finally {
      await ctx.close()
      await new Promise<void>((resolve) => cookieServer.close(() => resolve()))
      await plugin.dispose()
    }
  })

  it("no request from the page leaves the host, and no token is ever in a URL", () => {
    assert.isAbove(requested.length, 10)
    for (const url of requested) {
      assert.strictEqual(new URL(url).origin, origin, url)
      assert.notMatch(url, /rw-token|ro-token/)
    }
    assert.deepStrictEqual(pageErrors, [])
  })
})
