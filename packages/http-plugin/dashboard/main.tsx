/**
 * The certification dashboard: sign-in (bearer hosts) or cookie auth as-is, then the views —
 * Matrix, Jobs, Stats, Schedule (when the host serves one) and Start (write principals only).
 * Everything it shows comes from the API through `api.ts`; the page shell holds no data.
 */
import { render } from "preact"
import { useEffect, useState } from "preact/hooks"
import { ApiError, type Client, makeClient, type Principal } from "./api.ts"
import { JobsView } from "./jobs.tsx"
import { MatrixView } from "./matrix.tsx"
import { ScheduleView, StartView, StatsView } from "./other.tsx"
import { ErrorText } from "./ui.tsx"

const tokenKey = "myia-certification-token"

type View = "matrix" | "jobs" | "stats" | "schedule" | "start"

interface Session {
  readonly client: Client
  readonly principal: Principal
  readonly bearer: boolean
}

const SignIn = (props: { readonly onSignedIn: (session: Session) => void; readonly message: string | null }) => {
  const [token, setToken] = useState("")
  const [error, setError] = useState<string | null>(props.message)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    const client = makeClient(token.trim())
    try {
      const principal = await client.principal()
      sessionStorage.setItem(tokenKey, token.trim())
      props.onSignedIn({ client, principal, bearer: true })
    } catch (cause) {
      setError(cause instanceof ApiError ? cause.message : "the server could not be reached")
    } finally {
      setBusy(false)
    }
  }
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to the certification dashboard</h1>
        <p>This host asks for an API token. It is kept in this browser tab only.</p>
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)}
        />
        {error === null ? null : <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy || token.trim() === ""}>Sign in</button>
      </form>
    </main>
  )
}

const App = () => {
  const [session, setSession] = useState<Session | null>(null)
  const [signIn, setSignIn] = useState<{ message: string | null } | null>(null)
  const [failure, setFailure] = useState<unknown>(null)
  const [view, setView] = useState<View>("matrix")
  const [hasSchedule, setHasSchedule] = useState(false)
  const [openJob, setOpenJob] = useState<string | null>(null)

  useEffect(() => {
    // A stored token first; else whatever the browser sends by itself (cookies, a session).
    const stored = sessionStorage.getItem(tokenKey)
    const client = makeClient(stored)
    client.principal().then(
      (principal) => setSession({ client, principal, bearer: stored !== null }),
      (cause: unknown) => {
        if (cause instanceof ApiError && (cause.status === 401 || cause.status === 403)) {
          if (stored !== null) sessionStorage.removeItem(tokenKey)
          setSignIn({ message: stored === null ? null : cause.message })
        } else setFailure(cause)
      }
    )
  }, [])

  useEffect(() => {
    if (session === null) return
    session.client.schedule().then((s) => setHasSchedule(s !== undefined), () => setHasSchedule(false))
  }, [session])

  if (failure !== null) return <main class="signin"><ErrorText error={failure} /></main>
  if (session === null) {
    return signIn === null
      ? <main class="signin"><p aria-busy="true">Loading…</p></main>
      : <SignIn message={signIn.message} onSignedIn={(s) => (setSignIn(null), setSession(s))} />
  }
  const { client, principal } = session
  const tabs: ReadonlyArray<[View, string]> = [
    ["matrix", "Matrix"],
    ["jobs", "Jobs"],
    ["stats", "Stats"],
    ...(hasSchedule ? [["schedule", "Schedule"] as [View, string]] : []),
    ...(principal.canWrite ? [["start", "Start"] as [View, string]] : [])
  ]
  const signOut = () => {
    sessionStorage.removeItem(tokenKey)
    setSession(null)
    setSignIn({ message: null })
  }
  const showJob = (jobId: string) => {
    setOpenJob(jobId)
    setView("jobs")
  }
  return (
    <div class="app">
      <header>
        <h1>Bedrock certification</h1>
        <nav aria-label="Views">
          {tabs.map(([id, label]) => (
            <button
              type="button"
              key={id}
              data-view={id}
              aria-current={view === id ? "page" : undefined}
              onClick={() => (setView(id), id === "jobs" ? setOpenJob(null) : undefined)}
            >
              {label}
            </button>
          ))}
        </nav>
        <span class="who">
          {principal.id} · {principal.canWrite ? "read-write" : "read-only"}
          {session.bearer ? <button type="button" class="link" onClick={signOut}>Sign out</button> : null}
        </span>
      </header>
      <main id="view" data-current={view}>
        {view === "matrix" ? <MatrixView client={client} /> : null}
        {view === "jobs"
          ? <JobsView client={client} canWrite={principal.canWrite} openJob={openJob} onOpen={setOpenJob} />
          : null}
        {view === "stats" ? <StatsView client={client} /> : null}
        {view === "schedule" && hasSchedule ? <ScheduleView client={client} /> : null}
        {view === "start" && principal.canWrite ? <StartView client={client} onStarted={showJob} /> : null}
      </main>
    </div>
  )
}

render(<App />, document.getElementById("app")!)
