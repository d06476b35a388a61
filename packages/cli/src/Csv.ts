/**
 * The CSV report of a job: one row per (model, region) unit, RFC 4180 quoting, a header row. Cells
 * that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) are prefixed with `'`, since
 * error messages come from a remote service.
 *
 * @since 0.1.0
 */
import { Report } from "@myia/certification"
import type { Unit } from "@myia/certification"

/** The columns, in order, with how each is read from an exported unit. */
export const columns: ReadonlyArray<readonly [string, (u: Report.ExportedUnit) => string | number | null]> = [
  ["modelId", (u) => u.modelId],
  ["hostModelId", (u) => u.hostModelId],
  ["region", (u) => u.region],
  ["verdict", (u) => u.verdict],
  ["score", (u) => u.score],
  ["grade", (u) => u.grade],
  ["stars", (u) => u.stars],
  ["testsPassed", (u) => u.tests.filter((t) => t.status === "PASSED").length],
  ["testsFailed", (u) => u.tests.filter((t) => t.status === "FAILED" || t.status === "ERRORED").length],
  ["testsSkipped", (u) => u.tests.filter((t) => t.status === "SKIPPED").length],
  ["errorCategory", (u) => u.errorCategory],
  ["awsErrorName", (u) => u.awsErrorName],
  ["errorMessage", (u) => u.errorMessage],
  ["hint", (u) => u.hint],
  ["invocationTarget", (u) => u.invocationTarget],
  ["invocationKind", (u) => u.invocationKind],
  ["suiteVersion", (u) => u.suiteVersion],
  ["attempts", (u) => u.attempts],
  ["durationMs", (u) => u.durationMs],
  ["completedAt", (u) => u.completedAt],
  ["expiresAt", (u) => u.expiresAt],
  ["unitId", (u) => u.unitId]
]

/** One CSV cell: quoted when it holds a comma, quote or line break; formula-looking text defused. */
export const cell = (value: string | number | null): string => {
  if (value === null) return ""
  if (typeof value === "number") return String(value)
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, "\"\"")}"` : safe
}

/** The CSV document of a job's units, sorted by region then model. */
export const render = (units: ReadonlyArray<Unit>): string => {
  const rows = [...units]
    .sort((a, b) => a.region.localeCompare(b.region) || a.modelId.localeCompare(b.modelId))
    .map(Report.exportUnit)
    .map((u) => columns.map(([, read]) => cell(read(u))).join(","))
  return [columns.map(([name]) => name).join(","), ...rows].join("\r\n") + "\r\n"
}
