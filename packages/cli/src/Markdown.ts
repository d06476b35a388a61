/**
 * The Markdown report of a job, for a pull-request comment or a CI job summary
 * (`$GITHUB_STEP_SUMMARY`): the job line, counts by verdict, and one table row per unit.
 *
 * @since 0.1.0
 */
import { Domain, Report } from "@myia/certification"
import type { Job, Unit } from "@myia/certification"

/** Text safe inside a Markdown table cell. */
export const cell = (s: string | number | null): string =>
  s === null ? "" : String(s).replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ")

/** The Markdown document of a job's units. */
export const render = (job: Job, units: ReadonlyArray<Unit>): string => {
  const { byVerdict } = Report.summarize(units)
  const verdictLine = Domain.verdicts.filter((v) => (byVerdict[v] ?? 0) > 0).map((v) => `${v} ${byVerdict[v]}`).join(" · ")
  const header = "| model | region | verdict | score | grade | error | hint |\n|---|---|---|---:|---|---|---|"
  const rows = [...units]
    .sort((a, b) => a.region.localeCompare(b.region) || a.modelId.localeCompare(b.modelId))
    .map((u) =>
      `| ${cell(u.hostModelId ?? u.modelId)} | ${cell(u.region)} | ${cell(u.status)} | ${
        cell(u.score === null ? null : u.score.toFixed(1))
      } | ${cell(u.grade)} | ${cell(u.error?.category ?? null)} | ${cell(u.error?.hint ?? Report.headlineFinding(u.findings) ?? null)} |`
    )
  return [
    `# Bedrock certification — job ${job.id}`,
    "",
    `Status **${job.status}**${job.reason === null ? "" : ` (${cell(job.reason)})`} · ${units.length} units · ${verdictLine}`,
    "",
    header,
    ...rows,
    ""
  ].join("\n")
}
