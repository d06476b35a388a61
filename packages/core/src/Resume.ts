/**
 * Resume, don't restart (issue 16): which of a unit's stored test results a redelivered run keeps.
 *
 * While a unit runs, the worker stores each decided test result through `Storage.saveProgress`
 * (fenced by the unit's lease, like its terminal write). When the unit is delivered again — its
 * throttle budget ran out, or its worker died — the new run keeps every stored result that is an
 * answer or a measured fact (PASSED, FAILED, SKIPPED) and runs only the tests still missing or
 * ERRORED (the environment prevented an answer, so another try can give one).
 *
 * @since 0.2.0
 */
import type { InvocationTarget, TestResult } from "./Domain.ts"

/** What an earlier run of a unit stored: the target that answered and the tests it decided. */
export interface Progress {
  readonly invocationTarget: InvocationTarget | null
  readonly tests: ReadonlyArray<TestResult>
}

/** Whether a stored result is kept on resume (anything but ERRORED). */
export const isFinished = (result: TestResult): boolean => result.status !== "ERRORED"

/** A kept result, as the runner records it (marked so it is not stored again). */
export interface Kept {
  readonly result: TestResult
  readonly finding: null
  readonly resumed: true
}

/** The resume plan of one run: the target to use and, per test id, the kept result if any. */
export interface Plan {
  readonly target: InvocationTarget | null
  readonly take: (testId: string) => Kept | undefined
  /** How many tests the plan keeps. */
  readonly kept: number
}

/**
 * The plan for a run of the tests `testIds` from `progress`. Results are kept only with the target
 * they ran against, and only for tests of this suite.
 */
export const plan = (progress: Progress | undefined, testIds: ReadonlyArray<string>): Plan => {
  const kept = new Map<string, Kept>()
  if (progress !== undefined && progress.invocationTarget !== null) {
    const wanted = new Set(testIds)
    for (const result of progress.tests) {
      if (wanted.has(result.id) && isFinished(result)) kept.set(result.id, { result, finding: null, resumed: true })
    }
  }
  return {
    target: kept.size === 0 ? null : progress!.invocationTarget,
    take: (testId) => kept.get(testId),
    kept: kept.size
  }
}
