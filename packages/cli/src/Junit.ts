/**
 * The JUnit XML report of a job, for CI systems that show test results (GitLab, Jenkins, GitHub
 * test reporters): one `testsuite` per (model, region) unit, one `testcase` per suite test.
 * A FAILED test is a `failure` (type = its error category; the message and the remediation hint
 * in the body), an ERRORED test an `error`, a SKIPPED test `skipped` with its reason. A unit that
 * ended before any test ran (UNAVAILABLE, UNSUPPORTED, INCONCLUSIVE, CANCELLED) has one testcase,
 * `certification`, skipped with the unit's verdict and reason — the environment, not the model,
 * decided it, so it counts as neither passed nor failed.
 *
 * @since 0.1.0
 */
import { ErrorCategory } from "@myia/certification"
import type { Job, TestResult, Unit } from "@myia/certification"

/** Escape text for an XML attribute or element body (and drop characters XML 1.0 forbids). */
export const escape = (s: string): string =>
  s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;")

const seconds = (millis: number | null): string => ((millis ?? 0) / 1000).toFixed(3)

const attributes = (attrs: Readonly<Record<string, string | number>>): string =>
  Object.entries(attrs).map(([k, v]) => ` ${k}="${escape(String(v))}"`).join("")

const testcase = (unit: Unit, test: TestResult): string => {
  const open = `    <testcase${attributes({ classname: `${unit.modelId}.${unit.region}`, name: test.id, time: seconds(test.latencyMs) })}`
  const category = test.error?.category ?? "QUALITY"
  const hint = test.error === null ? ErrorCategory.describe("QUALITY").hint : test.error.hint || ErrorCategory.describe(category).hint
  const body = [test.error?.message ?? test.detail ?? "", hint].filter((s) => s !== "")
  switch (test.status) {
    case "PASSED":
      return `${open}/>`
    case "SKIPPED":
      return `${open}>\n      <skipped${attributes({ message: test.detail ?? "skipped" })}/>\n    </testcase>`
    case "FAILED":
    case "ERRORED": {
      const tag = test.status === "FAILED" ? "failure" : "error"
      const message = test.error?.message ?? test.detail ?? test.status
      return `${open}>\n      <${tag}${attributes({ message, type: category })}>${escape(body.join("\n"))}</${tag}>\n    </testcase>`
    }
  }
}

const verdictCase = (unit: Unit): string => {
  const reason = unit.error === null ? unit.status : `${unit.status}: ${unit.error.category} — ${unit.error.message}`
  return `    <testcase${attributes({ classname: `${unit.modelId}.${unit.region}`, name: "certification", time: "0.000" })}>\n` +
    `      <skipped${attributes({ message: reason })}/>\n    </testcase>`
}

interface Counts {
  readonly tests: number
  readonly failures: number
  readonly errors: number
  readonly skipped: number
}

const countsOf = (unit: Unit): Counts =>
  unit.tests.length === 0
    ? { tests: 1, failures: 0, errors: 0, skipped: 1 }
    : {
      tests: unit.tests.length,
      failures: unit.tests.filter((t) => t.status === "FAILED").length,
      errors: unit.tests.filter((t) => t.status === "ERRORED").length,
      skipped: unit.tests.filter((t) => t.status === "SKIPPED").length
    }

const testsuite = (unit: Unit, index: number): string => {
  const counts = countsOf(unit)
  const properties = [
    ["verdict", unit.status],
    ["score", unit.score === null ? "" : String(unit.score)],
    ["grade", unit.grade ?? ""],
    ["invocationTarget", unit.invocationTarget?.id ?? ""],
    ["suiteVersion", unit.suiteVersion ?? ""],
    ["errorCategory", unit.error?.category ?? ""],
    ["hint", unit.error?.hint ?? ""]
  ].filter(([, v]) => v !== "")
  const head = `  <testsuite${
    attributes({
      id: index,
      name: `${unit.hostModelId ?? unit.modelId} @ ${unit.region}`,
      tests: counts.tests,
      failures: counts.failures,
      errors: counts.errors,
      skipped: counts.skipped,
      time: seconds(unit.durationMs),
      timestamp: (unit.startedAt ?? unit.completedAt ?? "").replace(/Z$/, "")
    })
  }>`
  const props = `    <properties>\n${
    properties.map(([name, value]) => `      <property${attributes({ name: name!, value: value! })}/>`).join("\n")
  }\n    </properties>`
  const cases = unit.tests.length === 0 ? [verdictCase(unit)] : unit.tests.map((t) => testcase(unit, t))
  return [head, props, ...cases, "  </testsuite>"].join("\n")
}

/** The JUnit XML document of a job's units. */
export const render = (job: Job, units: ReadonlyArray<Unit>): string => {
  const sorted = [...units].sort((a, b) => a.modelId.localeCompare(b.modelId) || a.region.localeCompare(b.region))
  const totals = sorted.map(countsOf).reduce(
    (a, c) => ({
      tests: a.tests + c.tests,
      failures: a.failures + c.failures,
      errors: a.errors + c.errors,
      skipped: a.skipped + c.skipped
    }),
    { tests: 0, failures: 0, errors: 0, skipped: 0 }
  )
  const time = sorted.reduce((sum, u) => sum + (u.durationMs ?? 0), 0)
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites${attributes({ name: `bedrock-certify ${job.id}`, ...totals, time: seconds(time) })}>`,
    ...sorted.map(testsuite),
    `</testsuites>`,
    ""
  ].join("\n")
}
