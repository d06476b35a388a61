/** The matrix of latest certifications: models down, regions across; a cell opens its unit. */
import { useMemo, useState } from "preact/hooks"
import { type Client, type ModelEntry, type UnitRow, verdicts } from "./api.ts"
import { Badge, Dialog, ErrorText, label, medianLatency, ms, useLoad, when } from "./ui.tsx"

/** `us-east-1` → `us`, `ap-northeast-1` → `ap`. */
const regionGroup = (region: string): string => region.split("-")[0] ?? region

interface Filters {
  readonly vendor: string
  readonly capability: string
  readonly verdict: string
  readonly group: string
}

const noFilter: Filters = { vendor: "", capability: "", verdict: "", group: "" }

const Select = (props: {
  readonly id: string
  readonly label: string
  readonly value: string
  readonly options: ReadonlyArray<readonly [string, string]>
  readonly onChange: (value: string) => void
}) => (
  <label class="filter" for={props.id}>
    {props.label}
    <select id={props.id} value={props.value} onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}>
      <option value="">all</option>
      {props.options.map(([value, text]) => <option value={value}>{text}</option>)}
    </select>
  </label>
)

/** Arrow keys move between the cells' buttons (row and column from their data attributes). */
const onGridKey = (e: KeyboardEvent) => {
  const target = e.target as HTMLElement
  const row = Number(target.dataset.row)
  const col = Number(target.dataset.col)
  if (Number.isNaN(row)) return
  const move: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }
  const delta = move[e.key]
  if (delta === undefined) return
  const next = (e.currentTarget as HTMLElement).querySelector<HTMLElement>(
    `[data-row="${row + delta[0]}"][data-col="${col + delta[1]}"]`
  )
  if (next !== null) {
    e.preventDefault()
    next.focus()
  }
}

export const MatrixView = (props: { readonly client: Client }) => {
  const latest = useLoad(() => props.client.latest(), [props.client])
  const models = useLoad(() => props.client.models(), [props.client])
  const [filters, setFilters] = useState<Filters>(noFilter)
  const [open, setOpen] = useState<UnitRow | null>(null)
  const set = (key: keyof Filters) => (value: string) => setFilters({ ...filters, [key]: value })

  const byId = useMemo(() => new Map((models.value ?? []).map((m): [string, ModelEntry] => [m.id, m])), [models.value])
  const rows = latest.value ?? []
  const capabilities = useMemo(
    () => [...new Set((models.value ?? []).flatMap((m) => Object.keys(m.capabilities)))].sort(),
    [models.value]
  )
  const shown = rows.filter((u) =>
    (filters.vendor === "" || u.model.vendor === filters.vendor) &&
    (filters.verdict === "" || u.status === filters.verdict) &&
    (filters.group === "" || regionGroup(u.region) === filters.group) &&
    (filters.capability === "" || byId.get(u.modelId)?.capabilities[filters.capability] === "yes")
  )
  const regions = [...new Set(shown.map((u) => u.region))].sort()
  const modelRows = [...new Map(shown.map((u) => [u.modelId, u.model] as const)).entries()]
    .sort((a, b) => a[1].vendor.localeCompare(b[1].vendor) || a[1].name.localeCompare(b[1].name))
  const cell = new Map(shown.map((u) => [`${u.modelId}|${u.region}`, u]))

  if (latest.error !== undefined) return <ErrorText error={latest.error} />
  if (latest.value === undefined) return <p aria-busy="true">Loading the latest results…</p>
  return (
    <section aria-labelledby="matrix-title">
      <div class="toolbar">
        <h2 id="matrix-title">Latest certifications</h2>
        <Select id="f-vendor" label="Vendor" value={filters.vendor} onChange={set("vendor")}
          options={[...new Set(rows.map((u) => u.model.vendor))].sort().map((v) => [v, v] as const)} />
        <Select id="f-capability" label="Capability" value={filters.capability} onChange={set("capability")}
          options={capabilities.map((c) => [c, c] as const)} />
        <Select id="f-verdict" label="Verdict" value={filters.verdict} onChange={set("verdict")}
          options={verdicts.map((v) => [v, label(v)] as const)} />
        <Select id="f-group" label="Region group" value={filters.group} onChange={set("group")}
          options={[...new Set(rows.map((u) => regionGroup(u.region)))].sort().map((g) => [g, g] as const)} />
        <button type="button" onClick={latest.reload}>Refresh</button>
      </div>
      <p class="legend" aria-label="Verdict colours">{verdicts.map((v) => <Badge status={v} />)}</p>
      {rows.length === 0 ? <p>No certification results yet.</p> : null}
      {rows.length > 0 && shown.length === 0 ? <p>No result matches these filters.</p> : null}
      {shown.length === 0 ? null : (
        <div class="scroll">
          <table class="matrix" onKeyDown={onGridKey}>
            <caption class="sr">Latest verdict of each model (rows) in each region (columns)</caption>
            <thead>
              <tr>
                <th scope="col">Model</th>
                {regions.map((r) => <th scope="col">{r}</th>)}
              </tr>
            </thead>
            <tbody>
              {modelRows.map(([modelId, model], row) => (
                <tr key={modelId}>
                  <th scope="row">
                    <span class="model-name">{model.name}</span>
                    <span class="model-meta">{model.vendor} · {modelId}</span>
                  </th>
                  {regions.map((region, col) => {
                    const unit = cell.get(`${modelId}|${region}`)
                    if (unit === undefined) return <td class="empty"><span class="sr">not certified</span></td>
                    return (
                      <td>
                        <button
                          type="button"
                          class={`cell v-${unit.status}`}
                          data-model={modelId}
                          data-region={region}
                          data-verdict={unit.status}
                          data-row={row}
                          data-col={col}
                          tabIndex={row === 0 && col === 0 ? 0 : -1}
                          aria-label={`${model.name} in ${region}: ${label(unit.status)}`}
                          onClick={() => setOpen(unit)}
                        >
                          <span class="verdict">{label(unit.status)}</span>
                          <span class="grade">{unit.rating ?? "—"}</span>
                          <span class="latency">{ms(medianLatency(unit.tests))}</span>
                          {unit.previousStatus != null && unit.previousStatus !== unit.status
                            ? <span class="changed">was {label(unit.previousStatus)}</span>
                            : null}
                        </button>
                      </td>
                    )
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {open === null ? null : <UnitDialog client={props.client} unit={open} onClose={() => setOpen(null)} />}
    </section>
  )
}

/** One unit: its verdict, target, expiry, previous verdict, findings and every test. */
export const UnitDialog = (props: { readonly client: Client; readonly unit: UnitRow; readonly onClose: () => void }) => {
  // A paged job detail sends units without their tests: fetch the whole unit then.
  const whole = useLoad(() => props.client.unit(props.unit), [props.unit.id])
  const u = whole.value ?? props.unit
  const previous = useLoad(() => props.client.previousVerdict(props.unit), [props.unit.id])
  return (
    <Dialog title={`${u.model.name} in ${u.region}`} onClose={props.onClose}>
      <dl class="facts">
        <dt>Verdict</dt>
        <dd><Badge status={u.status} /> grade {u.rating ?? "—"}, score {u.score ?? "—"}</dd>
        <dt>Previous verdict</dt>
        <dd data-field="previous">
          {previous.error !== undefined
            ? "unknown"
            : previous.value === undefined
            ? "…"
            : previous.value === null
            ? "none (first run)"
            : <Badge status={previous.value} />}
        </dd>
        <dt>Invocation target</dt>
        <dd>{u.invocationTarget === null ? "—" : `${u.invocationTarget.id} (${u.invocationTarget.kind})`}</dd>
        <dt>Completed</dt>
        <dd>{when(u.completedAt)}</dd>
        <dt>Expires</dt>
        <dd>{when(u.expiresAt)}</dd>
        <dt>Job</dt>
        <dd><code>{u.jobId}</code></dd>
        {u.error === null ? null : (
          <>
            <dt>Error</dt>
            <dd>{u.error.category}: {u.error.hint}</dd>
          </>
        )}
      </dl>
      {u.findings.length === 0 ? null : (
        <>
          <h3>Findings</h3>
          <ul class="findings">{u.findings.map((f) => <li>{f}</li>)}</ul>
        </>
      )}
      <h3>Tests</h3>
      {whole.error === undefined ? null : <ErrorText error={whole.error} />}
      <div class="scroll">
        <table class="tests">
          <thead>
            <tr>
              <th scope="col">Test</th>
              <th scope="col">Status</th>
              <th scope="col">Latency</th>
              <th scope="col">TTFT</th>
              <th scope="col">Category</th>
              <th scope="col">Hint / detail</th>
            </tr>
          </thead>
          <tbody>
            {u.tests.map((t) => (
              <tr key={t.id} data-test={t.id}>
                <th scope="row">{t.name}{t.critical ? " *" : ""}</th>
                <td><Badge status={t.status} /></td>
                <td>{ms(t.latencyMs)}</td>
                <td>{ms(t.ttftMs)}</td>
                <td>{t.error?.category ?? "—"}</td>
                <td>{t.error?.hint ?? t.detail ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {u.tests.some((t) => t.critical) ? <p class="note">* critical test</p> : null}
    </Dialog>
  )
}
