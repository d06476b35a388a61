/** Small pieces the views share: loading, errors as the API words them, verdict badges, a dialog, a pager. */
import type { ComponentChildren } from "preact"
import { useEffect, useRef, useState } from "preact/hooks"
import { ApiError } from "./api.ts"

/** Verdicts (and unit states) in words; the colour comes from `v-<STATUS>` in the stylesheet. */
export const statusLabel: Readonly<Record<string, string>> = {
  CERTIFIED: "Certified",
  QUALITY_WARNING: "Quality warning",
  FAILED: "Failed",
  UNAVAILABLE: "Unavailable",
  UNSUPPORTED: "Unsupported",
  INCONCLUSIVE: "Inconclusive",
  CANCELLED: "Cancelled",
  PENDING: "Pending",
  QUEUED: "Queued",
  PROCESSING: "Processing",
  COMPLETED: "Completed",
  PAUSED: "Paused",
  PASSED: "Passed",
  SKIPPED: "Skipped",
  ERRORED: "Errored"
}

export const label = (status: string): string => statusLabel[status] ?? status

export const Badge = (props: { readonly status: string }) => (
  <span class={`badge v-${props.status}`} data-status={props.status}>{label(props.status)}</span>
)

export const ms = (value: number | null | undefined): string =>
  value === null || value === undefined ? "—" : value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`

export const when = (iso: string | null | undefined): string =>
  iso === null || iso === undefined ? "—" : iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC")

/** The median of the tests' latencies, in milliseconds. */
export const medianLatency = (tests: ReadonlyArray<{ readonly latencyMs: number | null }>): number | null => {
  const values = tests.map((t) => t.latencyMs).filter((v): v is number => v !== null).sort((a, b) => a - b)
  if (values.length === 0) return null
  const mid = Math.floor(values.length / 2)
  return values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2
}

/** An error as the API put it: its message, and each field or model it names. */
export const ErrorText = (props: { readonly error: unknown }) => {
  const e = props.error
  if (!(e instanceof ApiError)) {
    return <p class="error" role="alert">{e instanceof Error ? e.message : "something went wrong"}</p>
  }
  const details = e.details as
    | { issues?: ReadonlyArray<{ field: string; message: string }>; models?: ReadonlyArray<{ modelId: string; region: string; message: string }> }
    | undefined
  // The message often already lists every issue ("field: why; …"); list them only when it does not.
  const issues = (details?.issues ?? []).filter((i) => !e.message.includes(`${i.field}: ${i.message}`))
  return (
    <div class="error" role="alert" data-code={e.code}>
      <p>{e.message}</p>
      {issues.length > 0
        ? <ul>{issues.map((i) => <li>{i.field}: {i.message}</li>)}</ul>
        : null}
      {details?.models !== undefined && details.models.length > 0
        ? <ul>{details.models.map((m) => <li>{m.modelId} in {m.region}: {m.message}</li>)}</ul>
        : null}
    </div>
  )
}

export interface Loaded<A> {
  readonly value: A | undefined
  readonly error: unknown
  readonly reload: () => void
}

/** Load `f` when `deps` change; `reload` runs it again (keeping the old value on screen meanwhile). */
export const useLoad = <A,>(f: () => Promise<A>, deps: ReadonlyArray<unknown>): Loaded<A> => {
  const [value, setValue] = useState<A | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let live = true
    f().then((v) => live && (setValue(() => v), setError(undefined)), (e: unknown) => live && setError(e))
    return () => {
      live = false
    }
  }, [...deps, tick])
  return { value, error, reload: () => setTick((t) => t + 1) }
}

/** A modal dialog: focus moves in, Escape or the close button leaves, focus returns to the opener. */
export const Dialog = (props: { readonly title: string; readonly onClose: () => void; readonly children: ComponentChildren }) => {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null
    const dialog = ref.current!
    dialog.showModal()
    return () => opener?.focus()
  }, [])
  return (
    <dialog
      ref={ref}
      aria-labelledby="dialog-title"
      onClose={props.onClose}
      onCancel={(e) => (e.preventDefault(), props.onClose())}
    >
      <div class="dialog-head">
        <h2 id="dialog-title">{props.title}</h2>
        <button type="button" class="close" onClick={props.onClose} aria-label="Close">×</button>
      </div>
      {props.children}
    </dialog>
  )
}

export const Pager = (props: {
  readonly page: number
  readonly totalPages: number
  readonly onPage: (page: number) => void
  readonly label: string
}) =>
  props.totalPages <= 1 ? null : (
    <nav class="pager" aria-label={props.label}>
      <button type="button" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>Previous</button>
      <span>page {props.page} of {props.totalPages}</span>
      <button type="button" disabled={props.page >= props.totalPages} onClick={() => props.onPage(props.page + 1)}>
        Next
      </button>
    </nav>
  )

/** A small table of counts (`{ key: n }`), biggest first. */
export const CountTable = (props: { readonly caption: string; readonly counts: Readonly<Record<string, number>>; readonly badge?: boolean }) => {
  const rows = Object.entries(props.counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
  return (
    <table class="counts">
      <caption>{props.caption}</caption>
      <tbody>
        {rows.length === 0 ? <tr><td colSpan={2}>none</td></tr> : null}
        {rows.map(([key, n]) => (
          <tr key={key}>
            <th scope="row">{props.badge === true ? <Badge status={key} /> : key}</th>
            <td>{n}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
