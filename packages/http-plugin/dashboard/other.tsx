/** Stats, the recertification schedule (when the host serves one) and the start-a-certification form. */
import { useState } from "preact/hooks"
import type { Client } from "./api.ts"
import { Badge, CountTable, ErrorText, medianLatency, ms, useLoad } from "./ui.tsx"

export const StatsView = (props: { readonly client: Client }) => {
  const stats = useLoad(() => props.client.stats(), [props.client])
  const latest = useLoad(() => props.client.latest(), [props.client])
  if (stats.error !== undefined) return <ErrorText error={stats.error} />
  if (stats.value === undefined) return <p aria-busy="true">Loading statistics…</p>
  const s = stats.value
  // Latency per region: the median of the latest units' median test latency.
  const latency = new Map<string, Array<number>>()
  for (const unit of latest.value ?? []) {
    const m = medianLatency(unit.tests)
    if (m !== null) latency.set(unit.region, [...(latency.get(unit.region) ?? []), m])
  }
  return (
    <section aria-labelledby="stats-title">
      <div class="toolbar">
        <h2 id="stats-title">Statistics</h2>
        <button type="button" onClick={() => (stats.reload(), latest.reload())}>Refresh</button>
      </div>
      <div class="cards">
        <CountTable caption="Jobs by status" counts={s.jobsByStatus} badge />
        <CountTable caption="Units by verdict" counts={s.unitsByVerdict} badge />
        <CountTable caption="Errors by category" counts={s.errorsByCategory} />
        <CountTable caption="Queue" counts={s.queue} />
      </div>
      <h3>By region</h3>
      <div class="scroll">
        <table class="regions">
          <thead>
            <tr>
              <th scope="col">Region</th>
              <th scope="col">Units</th>
              <th scope="col">Passed</th>
              <th scope="col">Verdicts</th>
              <th scope="col">Median latency</th>
            </tr>
          </thead>
          <tbody>
            {s.unitsByRegion.map((r) => (
              <tr key={r.region} data-region={r.region}>
                <th scope="row">{r.region}</th>
                <td>{r.total}</td>
                <td>{r.passed}</td>
                <td>
                  <div class="badges">
                    {Object.entries(r.byVerdict).filter(([, n]) => n > 0).map(([v, n]) => <span><Badge status={v} /> {n}</span>)}
                  </div>
                </td>
                <td>{ms(medianLatency((latency.get(r.region) ?? []).map((latencyMs) => ({ latencyMs }))))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}

/** Render any JSON value as nested definition lists (the schedule's shape belongs to the API). */
const Value = (props: { readonly value: unknown }): preact.JSX.Element => {
  const v = props.value
  if (v === null || v === undefined) return <span>—</span>
  if (Array.isArray(v)) return <ul>{v.map((x) => <li><Value value={x} /></li>)}</ul>
  if (typeof v === "object") {
    return (
      <dl class="facts">
        {Object.entries(v as Record<string, unknown>).map(([k, x]) => (<><dt>{k}</dt><dd><Value value={x} /></dd></>))}
      </dl>
    )
  }
  return <span>{String(v)}</span>
}

export const ScheduleView = (props: { readonly client: Client }) => {
  const schedule = useLoad(() => props.client.schedule(), [props.client])
  if (schedule.error !== undefined) return <ErrorText error={schedule.error} />
  return (
    <section aria-labelledby="schedule-title">
      <h2 id="schedule-title">Recertification schedule</h2>
      {schedule.value === undefined ? <p aria-busy="true">Loading…</p> : <Value value={schedule.value} />}
    </section>
  )
}

const selected = (e: Event): Array<string> =>
  [...(e.currentTarget as HTMLSelectElement).selectedOptions].map((o) => o.value)

/** Start a certification of models × regions; the API's validation messages are shown as they are. */
export const StartView = (props: { readonly client: Client; readonly onStarted: (jobId: string) => void }) => {
  const models = useLoad(() => props.client.models(), [props.client])
  const regions = useLoad(() => props.client.regions(), [props.client])
  const [modelIds, setModelIds] = useState<Array<string>>([])
  const [regionIds, setRegionIds] = useState<Array<string>>([])
  const [error, setError] = useState<unknown>(undefined)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const created = await props.client.certify(modelIds, regionIds)
      props.onStarted(created.jobId)
    } catch (cause) {
      setError(cause)
    } finally {
      setBusy(false)
    }
  }
  if (models.error !== undefined) return <ErrorText error={models.error} />
  return (
    <section aria-labelledby="start-title">
      <h2 id="start-title">Start a certification</h2>
      <form class="start" onSubmit={submit} noValidate>
        <label for="start-models">Models</label>
        <select id="start-models" name="models" multiple size={10} onChange={(e) => setModelIds(selected(e))}>
          {(models.value ?? []).map((m) => (
            <option value={m.id} selected={modelIds.includes(m.id)}>{m.vendor} · {m.name} ({m.id})</option>
          ))}
        </select>
        <label for="start-regions">Regions</label>
        <select id="start-regions" name="regions" multiple size={10} onChange={(e) => setRegionIds(selected(e))}>
          {(regions.value ?? []).map((r) => (
            <option value={r.id} selected={regionIds.includes(r.id)}>{r.id} — {r.name}</option>
          ))}
        </select>
        <p class="note">{modelIds.length} model(s) × {regionIds.length} region(s). Hold Ctrl / ⌘ or Shift to pick several.</p>
        {error === undefined ? null : <ErrorText error={error} />}
        <button type="submit" disabled={busy}>Start certification</button>
      </form>
    </section>
  )
}
