/** Job history, and one job in detail with live progress (SSE) and its units page by page. */
import { useEffect, useRef, useState } from "preact/hooks"
import { type Client, type CreatedJob, type JobMatrix, type JobSummary, terminalJob, type UnitRow } from "./api.ts"
import { UnitDialog } from "./matrix.tsx"
import { Badge, ErrorText, label, Pager, useLoad, when } from "./ui.tsx"

const unitsPerPage = 50

/** Calls `f` at most once per `ms` however often the returned function is called. */
const useThrottle = (f: () => void, ms: number) => {
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const latest = useRef(f)
  latest.current = f
  useEffect(() => () => clearTimeout(pending.current), [])
  return () => {
    if (pending.current !== undefined) return
    pending.current = setTimeout(() => {
      pending.current = undefined
      latest.current()
    }, ms)
  }
}

/** Follow the progress streams of `jobIds` while mounted, calling `onEvent` for each event. */
const useProgress = (client: Client, jobIds: ReadonlyArray<string>, onEvent: () => void, onEnd?: () => void) => {
  const key = jobIds.join(",")
  useEffect(() => {
    if (jobIds.length === 0) return
    const abort = new AbortController()
    for (const jobId of jobIds) {
      client.events(jobId, onEvent, abort.signal).finally(() => {
        if (!abort.signal.aborted) onEnd?.()
      })
    }
    return () => abort.abort()
  }, [client, key])
}

/** A job's model × region letters, as the API summarised them. */
const JobGrid = (props: { readonly matrix: JobMatrix }) => {
  const { modelIds, regions, rows, codes } = props.matrix
  return (
    <div class="scroll">
      <table class="jobgrid">
        <thead>
          <tr><th scope="col">Model</th>{regions.map((r) => <th scope="col">{r}</th>)}</tr>
        </thead>
        <tbody>
          {modelIds.map((modelId, i) => (
            <tr key={modelId}>
              <th scope="row">{modelId}</th>
              {regions.map((region, j) => {
                const status = codes[rows[i]?.[j] ?? "."]
                return status === undefined
                  ? <td class="empty"><span class="sr">no unit</span></td>
                  : <td data-model={modelId} data-region={region}><span class={`badge v-${status}`}>{label(status)}</span></td>
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

const Progress = (props: { readonly job: JobSummary }) => {
  const { counts } = props.job
  return (
    <span class="progress">
      <progress max={Math.max(counts.total, 1)} value={counts.completed} aria-label="units done" />
      <span data-field="done">{counts.completed} / {counts.total}</span>
    </span>
  )
}

export const JobsView = (props: {
  readonly client: Client
  readonly canWrite: boolean
  readonly openJob: string | null
  readonly onOpen: (jobId: string | null) => void
}) => {
  const [page, setPage] = useState(1)
  const history = useLoad(() => props.client.history(page), [props.client, page])
  // Live: the running jobs of this page reload the page as they progress.
  const running = (history.value?.jobs ?? []).filter((j) => !terminalJob.includes(j.status)).map((j) => j.id).slice(0, 6)
  const reload = useThrottle(history.reload, 500)
  useProgress(props.client, props.openJob === null ? running : [], reload, reload)
  if (props.openJob !== null) {
    return (
      <JobDetailView
        key={props.openJob}
        client={props.client}
        canWrite={props.canWrite}
        jobId={props.openJob}
        onOpen={props.onOpen}
        onBack={() => (props.onOpen(null), history.reload())}
      />
    )
  }
  if (history.error !== undefined) return <ErrorText error={history.error} />
  if (history.value === undefined) return <p aria-busy="true">Loading the job history…</p>
  const { jobs, pagination } = history.value
  return (
    <section aria-labelledby="jobs-title">
      <div class="toolbar">
        <h2 id="jobs-title">Jobs</h2>
        <button type="button" onClick={history.reload}>Refresh</button>
      </div>
      {jobs.length === 0 ? <p>No jobs yet.</p> : (
        <div class="scroll">
          <table class="jobs">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Type</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Created</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((job) => (
                <tr key={job.id} data-job={job.id}>
                  <th scope="row">
                    <button type="button" class="link" onClick={() => props.onOpen(job.id)}>{job.id}</button>
                  </th>
                  <td>{job.type}</td>
                  <td><Badge status={job.status} /></td>
                  <td><Progress job={job} /></td>
                  <td>{when(job.createdAt)}</td>
                  <td>{job.createdBy ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager page={pagination.page} totalPages={pagination.totalPages} onPage={setPage} label="History pages" />
    </section>
  )
}

const JobDetailView = (props: {
  readonly client: Client
  readonly canWrite: boolean
  readonly jobId: string
  readonly onOpen: (jobId: string) => void
  readonly onBack: () => void
}) => {
  const [page, setPage] = useState(1)
  const detail = useLoad(() => props.client.job(props.jobId, page, unitsPerPage), [props.client, props.jobId, page])
  const [open, setOpen] = useState<UnitRow | null>(null)
  const [actionError, setActionError] = useState<unknown>(undefined)
  const operations = useLoad(() => props.client.operations(), [props.client])
  const status = detail.value?.job.status
  const running = status !== undefined && !terminalJob.includes(status)

  // While the job runs, follow its progress stream and reload (at most ~3 times a second) on each event.
  const reload = useThrottle(detail.reload, 300)
  useProgress(props.client, running ? [props.jobId] : [], reload, detail.reload)
  const can = (op: string) => props.canWrite && operations.value?.has(op) === true

  const act = <A,>(f: () => Promise<A>, then: (result: A) => void = () => detail.reload()) => () => {
    setActionError(undefined)
    f().then(then, setActionError)
  }

  if (detail.error !== undefined) return <><BackButton onBack={props.onBack} /><ErrorText error={detail.error} /></>
  if (detail.value === undefined) return <p aria-busy="true">Loading job {props.jobId}…</p>
  const { job, units, matrix } = detail.value
  const retryable = (job.counts.byVerdict.FAILED ?? 0) + (job.counts.byVerdict.INCONCLUSIVE ?? 0) > 0
  return (
    <section aria-labelledby="job-title" data-job-detail={job.id} data-status={job.status}>
      <BackButton onBack={props.onBack} />
      <div class="toolbar">
        <h2 id="job-title">Job <code>{job.id}</code></h2>
        <Badge status={job.status} />
        <span aria-live="polite" class="live">{running ? "live" : ""}</span>
        {can("POST /jobs/{jobId}/pause") && (job.status === "QUEUED" || job.status === "PROCESSING")
          ? <button type="button" data-action="pause" onClick={act(() => props.client.pause(job.id))}>Pause</button>
          : null}
        {can("POST /jobs/{jobId}/resume") && job.status === "PAUSED"
          ? <button type="button" data-action="resume" onClick={act(() => props.client.resume(job.id))}>Resume</button>
          : null}
        {props.canWrite && running
          ? <button type="button" data-action="cancel" onClick={act(() => props.client.cancel(job.id))}>Cancel job</button>
          : null}
        {props.canWrite && !running && retryable
          ? (
            <button type="button" data-action="retry" onClick={act(() => props.client.retry(job.id), (c: CreatedJob) => props.onOpen(c.jobId))}>
              Retry failed units
            </button>
          )
          : null}
      </div>
      {actionError === undefined ? null : <ErrorText error={actionError} />}
      <dl class="facts">
        <dt>Progress</dt>
        <dd><Progress job={job} /></dd>
        <dt>Verdicts</dt>
        <dd class="badges">
          {Object.entries(job.counts.byVerdict).filter(([, n]) => n > 0).map(([v, n]) => <span><Badge status={v} /> {n}</span>)}
        </dd>
        <dt>Type</dt>
        <dd>{job.type}</dd>
        <dt>Created</dt>
        <dd>{when(job.createdAt)} by {job.createdBy ?? "—"}</dd>
        <dt>Completed</dt>
        <dd>{when(job.completedAt)}</dd>
        {job.reason === null ? null : (<><dt>Reason</dt><dd>{job.reason}</dd></>)}
      </dl>
      {matrix === null || matrix.modelIds.length === 0 ? null : (<><h3>Models × regions</h3><JobGrid matrix={matrix} /></>)}
      <h3>Units ({units.total})</h3>
      <div class="scroll">
        <table class="units">
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Region</th>
              <th scope="col">Status</th>
              <th scope="col">Grade</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {units.units.map((u) => (
              <tr key={u.id} data-unit={u.id}>
                <th scope="row">
                  <button type="button" class="link" onClick={() => setOpen(u)}>{u.model.name}</button>
                </th>
                <td>{u.region}</td>
                <td><Badge status={u.status} /></td>
                <td>{u.rating ?? "—"}</td>
                <td>{u.duration === null ? "—" : `${u.duration} s`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager page={units.page} totalPages={units.totalPages} onPage={setPage} label="Unit pages" />
      {open === null ? null : <UnitDialog client={props.client} unit={open} onClose={() => setOpen(null)} />}
    </section>
  )
}

const BackButton = (props: { readonly onBack: () => void }) => (
  <button type="button" class="link back" onClick={props.onBack}>← All jobs</button>
)
