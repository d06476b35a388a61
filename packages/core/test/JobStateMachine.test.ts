import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "fast-check"
import { JobStatus, UnitStatus, verdicts } from "../src/Domain.ts"
import * as SM from "../src/JobStateMachine.ts"

const jobStates = JobStatus.literals
const unitStates = UnitStatus.literals

// The specification, written out edge by edge (independently of the module's table), so a wrong
// row in the module fails the walk below.
const expectedJobEdges = new Set([
  "PENDING>QUEUED",
  "PENDING>CANCELLED",
  "PENDING>FAILED",
  "QUEUED>PROCESSING",
  "QUEUED>PAUSED",
  "QUEUED>CANCELLED",
  "QUEUED>FAILED",
  "QUEUED>COMPLETED",
  "PROCESSING>COMPLETED",
  "PROCESSING>FAILED",
  "PROCESSING>CANCELLED",
  "PROCESSING>PAUSED",
  "PAUSED>QUEUED",
  "PAUSED>PROCESSING",
  "PAUSED>CANCELLED",
  "PAUSED>FAILED"
])

const expectedUnitEdges = new Set([
  "PENDING>QUEUED",
  "PENDING>PROCESSING",
  "QUEUED>PROCESSING",
  "PROCESSING>QUEUED",
  ...["PENDING", "QUEUED", "PROCESSING"].flatMap((from) => verdicts.map((v) => `${from}>${v}`))
])

const reachesTerminal = <S extends string>(
  start: S,
  table: { readonly [K in S]: ReadonlyArray<S> },
  isTerminal: (s: S) => boolean
): boolean => {
  const seen = new Set<S>([start])
  const frontier: Array<S> = [start]
  while (frontier.length > 0) {
    const s = frontier.pop()!
    if (isTerminal(s)) return true
    for (const next of table[s]) {
      if (!seen.has(next)) {
        seen.add(next)
        frontier.push(next)
      }
    }
  }
  return false
}

describe("JobStateMachine", () => {
  describe("jobs", () => {
    it("the table has a row for every job status and no self-loops", () => {
      assert.deepStrictEqual(Object.keys(SM.jobTransitions).sort(), [...jobStates].sort())
      for (const s of jobStates) assert.isFalse(SM.jobTransitions[s].includes(s), s)
    })

    it("every (from, to) pair of the 7×7 grid is allowed exactly when the specification lists it", () => {
      let allowed = 0
      for (const from of jobStates) {
        for (const to of jobStates) {
          const expected = expectedJobEdges.has(`${from}>${to}`)
          assert.strictEqual(SM.canTransitionJob(from, to), expected, `${from} → ${to}`)
          assert.strictEqual(SM.jobTransitions[from].includes(to), expected, `${from} → ${to}`)
          const exit = Effect.runSyncExit(SM.transitionJob(from, to))
          if (expected) {
            allowed++
            assert.deepStrictEqual(exit, Exit.succeed(to), `${from} → ${to}`)
          } else {
            assert.isTrue(Exit.isFailure(exit), `${from} → ${to}`)
            const error = Effect.runSync(Effect.flip(SM.transitionJob(from, to)))
            assert.instanceOf(error, SM.InvalidTransition)
            assert.strictEqual(error._tag, "InvalidTransition")
            assert.strictEqual(error.entity, "job")
            assert.strictEqual(error.from, from)
            assert.strictEqual(error.to, to)
          }
        }
      }
      assert.strictEqual(allowed, expectedJobEdges.size)
    })

    it("terminal job statuses are exactly COMPLETED, FAILED and CANCELLED and have no exits", () => {
      assert.deepStrictEqual([...SM.terminalJobStatuses].sort(), ["CANCELLED", "COMPLETED", "FAILED"])
      for (const s of jobStates) {
        assert.strictEqual(SM.isTerminalJob(s), SM.terminalJobStatuses.includes(s), s)
        if (SM.isTerminalJob(s)) assert.deepStrictEqual(SM.jobTransitions[s], [], s)
      }
    })

    it("every non-terminal job status can reach a terminal one", () => {
      for (const s of jobStates) {
        assert.isTrue(reachesTerminal(s, SM.jobTransitions, SM.isTerminalJob), s)
      }
    })

    it("jobSourcesOf(to) is exactly the set of statuses whose row lists to", () => {
      for (const to of jobStates) {
        const expected = jobStates.filter((from) => expectedJobEdges.has(`${from}>${to}`))
        assert.deepStrictEqual([...SM.jobSourcesOf(to)].sort(), [...expected].sort(), to)
        for (const from of SM.jobSourcesOf(to)) assert.isTrue(SM.canTransitionJob(from, to))
      }
      assert.deepStrictEqual(SM.jobSourcesOf("PENDING"), [])
    })
  })

  describe("units", () => {
    it("the table has a row for every unit status and no self-loops", () => {
      assert.deepStrictEqual(Object.keys(SM.unitTransitions).sort(), [...unitStates].sort())
      for (const s of unitStates) assert.isFalse(SM.unitTransitions[s].includes(s), s)
    })

    it("every (from, to) pair of the 10×10 grid is allowed exactly when the specification lists it", () => {
      let allowed = 0
      for (const from of unitStates) {
        for (const to of unitStates) {
          const expected = expectedUnitEdges.has(`${from}>${to}`)
          assert.strictEqual(SM.canTransitionUnit(from, to), expected, `${from} → ${to}`)
          assert.strictEqual(SM.unitTransitions[from].includes(to), expected, `${from} → ${to}`)
          const exit = Effect.runSyncExit(SM.transitionUnit(from, to))
          if (expected) {
            allowed++
            assert.deepStrictEqual(exit, Exit.succeed(to), `${from} → ${to}`)
          } else {
            const error = Effect.runSync(Effect.flip(SM.transitionUnit(from, to)))
            assert.instanceOf(error, SM.InvalidTransition)
            assert.strictEqual(error.entity, "unit")
            assert.strictEqual(error.from, from)
            assert.strictEqual(error.to, to)
          }
        }
      }
      assert.strictEqual(allowed, expectedUnitEdges.size)
    })

    it("terminal unit statuses are exactly the verdicts and have no exits, so the first terminal write wins", () => {
      assert.deepStrictEqual([...SM.terminalUnitStatuses].sort(), [...verdicts].sort())
      assert.deepStrictEqual([...SM.activeUnitStatuses].sort(), ["PENDING", "PROCESSING", "QUEUED"])
      for (const s of unitStates) {
        assert.strictEqual(SM.isTerminalUnit(s), (verdicts as ReadonlyArray<string>).includes(s), s)
        assert.strictEqual(SM.isTerminalUnit(s), !SM.activeUnitStatuses.includes(s), s)
        if (SM.isTerminalUnit(s)) assert.deepStrictEqual(SM.unitTransitions[s], [], s)
      }
    })

    it("every active unit status can reach every verdict directly", () => {
      for (const from of SM.activeUnitStatuses) {
        for (const v of verdicts) assert.isTrue(SM.canTransitionUnit(from, v), `${from} → ${v}`)
        assert.isTrue(reachesTerminal(from, SM.unitTransitions, SM.isTerminalUnit), from)
      }
    })

    it("unitSourcesOf(to) is exactly the set of statuses whose row lists to", () => {
      for (const to of unitStates) {
        const expected = unitStates.filter((from) => expectedUnitEdges.has(`${from}>${to}`))
        assert.deepStrictEqual([...SM.unitSourcesOf(to)].sort(), [...expected].sort(), to)
      }
      // A terminal write is conditional on the unit still being in flight.
      assert.deepStrictEqual([...SM.unitSourcesOf("CERTIFIED")].sort(), ["PENDING", "PROCESSING", "QUEUED"])
      // A released unit goes back to QUEUED only from PENDING or PROCESSING.
      assert.deepStrictEqual([...SM.unitSourcesOf("QUEUED")].sort(), ["PENDING", "PROCESSING"])
    })
  })

  describe("InvalidTransition", () => {
    it("names from and to in its message and carries the 409 annotation", () => {
      const error = new SM.InvalidTransition({ entity: "job", from: "COMPLETED", to: "QUEUED" })
      assert.strictEqual(error.message, "cannot move job from COMPLETED to QUEUED")
      assert.strictEqual(SM.InvalidTransition.ast.annotations?.["httpApiStatus"], 409)
    })
  })

  describe("random walks", () => {
    const walk = <S extends string>(
      states: ReadonlyArray<S>,
      table: { readonly [K in S]: ReadonlyArray<S> },
      isTerminal: (s: S) => boolean,
      canTransition: (from: S, to: S) => boolean
    ) =>
      fc.assert(
        fc.property(
          fc.constantFrom(...states),
          fc.array(fc.tuple(fc.constantFrom(...states), fc.nat()), { maxLength: 40 }),
          (start, steps) => {
            let current = start
            let terminalSeen: S | null = isTerminal(current) ? current : null
            for (const [attempted, pick] of steps) {
              // Half the steps try an arbitrary target (applied only if allowed), half pick an allowed one.
              const options = table[current]
              const target = pick % 2 === 0 || options.length === 0 ? attempted : options[pick % options.length]!
              if (canTransition(current, target)) current = target
              if (terminalSeen !== null && current !== terminalSeen) return false
              if (isTerminal(current)) terminalSeen = current
            }
            return true
          }
        ),
        { numRuns: 500 }
      )

    it("a job walk that only takes allowed moves never leaves a terminal state", () => {
      walk(jobStates, SM.jobTransitions, (s) => SM.terminalJobStatuses.includes(s), SM.canTransitionJob)
    })

    it("a unit walk that only takes allowed moves never leaves a terminal state", () => {
      walk(unitStates, SM.unitTransitions, (s) => (verdicts as ReadonlyArray<string>).includes(s), SM.canTransitionUnit)
    })
  })
})

describe("storage-write tables", () => {
  it("every job status has a timestamp row and a unit-ending row that agree with the transition tables", () => {
    for (const status of JobStatus.literals) {
      const stamp = SM.jobTimestampOf[status]
      const ending = SM.unitEndingOf[status]
      if (SM.isTerminalJob(status)) {
        assert.isNotNull(stamp, `${status} stamps when the job ended`)
      } else {
        assert.include([null, "startedAt"], stamp, `${status} is not an end`)
      }
      // Only the two ways a job stops short end its unfinished units, and they end them terminal.
      if (status === "FAILED" || status === "CANCELLED") {
        assert.isTrue(ending !== null && SM.isTerminalUnit(ending))
      } else {
        assert.isNull(ending, `${status} leaves the units alone`)
      }
    }
    for (const status of SM.claimableJobStatuses) assert.isFalse(SM.isTerminalJob(status))
    for (const status of SM.writeClosedJobStatuses) {
      assert.isTrue(SM.isTerminalJob(status))
      assert.notInclude(SM.claimableJobStatuses, status)
    }
  })
})
