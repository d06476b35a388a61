/**
 * The job and unit state machines, as data.
 *
 * Every status write in the SDK goes through these two tables: services ask `canTransitionJob` /
 * `transitionJob` before they act, and storage adapters make each write conditional on the
 * allowed source states (`UPDATE … WHERE status = ANY(jobSourcesOf(to))`), so racing writers
 * (a cancel and a worker finishing the last unit, two workers holding a redelivered unit) can never
 * move a job or unit along an edge that is not in the table. Terminal states have no exits: for a
 * unit that is what makes the first terminal write win.
 *
 * There are no self-loops: writing the current status again is not a transition, and adapters treat
 * it as a no-op precondition failure like any other.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { JobStatus, UnitStatus, type Verdict, verdicts } from "./Domain.ts"

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/** Job statuses with no way out. */
export const terminalJobStatuses: ReadonlyArray<JobStatus> = ["COMPLETED", "FAILED", "CANCELLED"]

/** Unit statuses with no way out: exactly the verdicts. */
export const terminalUnitStatuses: ReadonlyArray<Verdict> = verdicts

/** Unit statuses still in flight (not yet a verdict). */
export const activeUnitStatuses: ReadonlyArray<UnitStatus> = ["PENDING", "QUEUED", "PROCESSING"]

/**
 * The allowed job moves, from → targets.
 *
 * **Details**
 * - `QUEUED → COMPLETED`: every unit ended before any was claimed (e.g. all UNSUPPORTED).
 * - `PAUSED → QUEUED | PROCESSING`: resume to where the job was.
 * - `FAILED` is reachable from every live state: a systemic error (invalid credentials) stops the job.
 */
export const jobTransitions: { readonly [From in JobStatus]: ReadonlyArray<JobStatus> } = {
  PENDING: ["QUEUED", "CANCELLED", "FAILED"],
  QUEUED: ["PROCESSING", "PAUSED", "CANCELLED", "FAILED", "COMPLETED"],
  PROCESSING: ["COMPLETED", "FAILED", "CANCELLED", "PAUSED"],
  PAUSED: ["QUEUED", "PROCESSING", "CANCELLED", "FAILED"],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: []
}

/**
 * The allowed unit moves, from → targets.
 *
 * **Details**
 * - Every in-flight status may end in any verdict: a PENDING unit can be CANCELLED with its job, or
 *   end INCONCLUSIVE when its job FAILED; a unit can be decided UNSUPPORTED before it is queued.
 * - `PROCESSING → QUEUED`: a worker released the unit (graceful shutdown) or the queue redelivered it.
 */
export const unitTransitions: { readonly [From in UnitStatus]: ReadonlyArray<UnitStatus> } = {
  PENDING: ["QUEUED", "PROCESSING", ...verdicts],
  QUEUED: ["PROCESSING", ...verdicts],
  PROCESSING: ["QUEUED", ...verdicts],
  CERTIFIED: [],
  QUALITY_WARNING: [],
  FAILED: [],
  UNAVAILABLE: [],
  UNSUPPORTED: [],
  INCONCLUSIVE: [],
  CANCELLED: []
}

const inverse = <S extends string>(
  states: ReadonlyArray<S>,
  table: { readonly [From in S]: ReadonlyArray<S> }
): { readonly [To in S]: ReadonlyArray<S> } => {
  const sources = {} as Record<S, ReadonlyArray<S>>
  for (const to of states) sources[to] = states.filter((from) => table[from].includes(to))
  return sources
}

const jobSources = inverse(JobStatus.literals, jobTransitions)
const unitSources = inverse(UnitStatus.literals, unitTransitions)

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/** Whether a job may move from `from` to `to`. */
export const canTransitionJob = (from: JobStatus, to: JobStatus): boolean => jobTransitions[from].includes(to)

/** Whether a unit may move from `from` to `to`. */
export const canTransitionUnit = (from: UnitStatus, to: UnitStatus): boolean => unitTransitions[from].includes(to)

/** The statuses a job may move to `to` from; the precondition of a conditional status write. */
export const jobSourcesOf = (to: JobStatus): ReadonlyArray<JobStatus> => jobSources[to]

/** The statuses a unit may move to `to` from; the precondition of a conditional status write. */
export const unitSourcesOf = (to: UnitStatus): ReadonlyArray<UnitStatus> => unitSources[to]

/** Whether a job status is terminal (COMPLETED, FAILED, CANCELLED). */
export const isTerminalJob = (status: JobStatus): boolean => jobTransitions[status].length === 0

/** Whether a unit status is terminal (a verdict). */
export const isTerminalUnit = (status: UnitStatus): status is Verdict => unitTransitions[status].length === 0

// ---------------------------------------------------------------------------------------------
// Transitions
// ---------------------------------------------------------------------------------------------

/** A move the state machine does not allow; the HTTP plugin answers it with 409 Conflict. */
export class InvalidTransition extends Schema.TaggedError<InvalidTransition>("@myia/certification/InvalidTransition")(
  "InvalidTransition",
  {
    entity: Schema.Literals(["job", "unit"]),
    from: Schema.Union([JobStatus, UnitStatus]),
    to: Schema.Union([JobStatus, UnitStatus])
  },
  { httpApiStatus: 409 }
) {
  override get message(): string {
    return `cannot move ${this.entity} from ${this.from} to ${this.to}`
  }
}

/** Checks a job move: succeeds with the new status, or fails with `InvalidTransition`. */
export const transitionJob = (from: JobStatus, to: JobStatus): Effect.Effect<JobStatus, InvalidTransition> =>
  canTransitionJob(from, to) ? Effect.succeed(to) : Effect.fail(new InvalidTransition({ entity: "job", from, to }))

/** Checks a unit move: succeeds with the new status, or fails with `InvalidTransition`. */
export const transitionUnit = (from: UnitStatus, to: UnitStatus): Effect.Effect<UnitStatus, InvalidTransition> =>
  canTransitionUnit(from, to) ? Effect.succeed(to) : Effect.fail(new InvalidTransition({ entity: "unit", from, to }))

// ---------------------------------------------------------------------------------------------
// What a storage write implies (every Storage adapter follows these tables)
// ---------------------------------------------------------------------------------------------

/** The job timestamp a transition to each status stamps (`startedAt` only on the first start). */
export const jobTimestampOf: { readonly [S in JobStatus]: "startedAt" | "completedAt" | "cancelledAt" | null } = {
  PENDING: null,
  QUEUED: null,
  PROCESSING: "startedAt",
  PAUSED: null,
  COMPLETED: "completedAt",
  FAILED: "completedAt",
  CANCELLED: "cancelledAt"
}

/** How a job's unfinished units end, in the same atomic step, when the job moves to each status. */
export const unitEndingOf: { readonly [S in JobStatus]: Verdict | null } = {
  PENDING: null,
  QUEUED: null,
  PROCESSING: null,
  PAUSED: null,
  COMPLETED: null,
  FAILED: "INCONCLUSIVE",
  CANCELLED: "CANCELLED"
}

/** Job statuses under which a unit may be claimed for processing. */
export const claimableJobStatuses: ReadonlyArray<JobStatus> = ["QUEUED", "PROCESSING"]

/** Job statuses after which nothing more is written to their units. */
export const writeClosedJobStatuses: ReadonlyArray<JobStatus> = ["CANCELLED", "FAILED"]
