import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type InvocationTarget, TestResult } from "../src/Domain.ts"
import * as Resume from "../src/Resume.ts"
import * as RunnerHarness from "./RunnerHarness.ts"

const healthy = "amazon.nova-lite-v1:0"
const scenario = { seed: 11, rules: [] }

/** Certify the healthy model, resuming from `resume`; the results the run stored and the requests it made. */
const run = (resume?: Resume.Progress) =>
  Effect.gen(function*() {
    const stored: Array<{ target: InvocationTarget; result: TestResult }> = []
    const { outcome, requests } = yield* RunnerHarness.certify(scenario, healthy, 4, undefined, {
      resume,
      onResult: (target, result) => Effect.sync(() => stored.push({ target, result }))
    })
    return { outcome, requests, stored }
  })

describe("Resume, don't restart (issue 16)", () => {
  it("plan keeps answered and skipped results with their target, never ERRORED ones or other suites' tests", () => {
    const target = { kind: "ON_DEMAND", id: "m" } as InvocationTarget
    const result = (id: string, status: TestResult["status"]) =>
      new TestResult({ id, name: id, status, critical: false, weight: 1, latencyMs: 1, ttftMs: null, outputTokensPerSecond: null, attempts: 1, detail: null, error: null })
    const progress = { invocationTarget: target, tests: [result("a", "PASSED"), result("b", "ERRORED"), result("c", "SKIPPED"), result("z", "FAILED")] }
    const plan = Resume.plan(progress, ["a", "b", "c", "d"])
    assert.strictEqual(plan.target, target)
    assert.strictEqual(plan.kept, 2)
    assert.strictEqual(plan.take("a")?.result.status, "PASSED")
    assert.strictEqual(plan.take("c")?.result.status, "SKIPPED")
    assert.isUndefined(plan.take("b"))
    assert.isUndefined(plan.take("z"))
    assert.strictEqual(Resume.plan({ invocationTarget: null, tests: progress.tests }, ["a"]).kept, 0)
    assert.strictEqual(Resume.plan(undefined, ["a"]).target, null)
  })

  it.live("every decided test is reported once with its target, and a run resumed from all of them sends nothing", () =>
    Effect.gen(function*() {
      const first = yield* run()
      assert.strictEqual(first.outcome.verdict, "CERTIFIED")
      assert.isAbove(first.requests.length, 3)
      const ran = first.outcome.tests.filter((t) => !(t.detail ?? "").startsWith("not run"))
      assert.deepStrictEqual(first.stored.map((s) => s.result.id).sort(), ran.filter((t) => t.attempts > 0).map((t) => t.id).sort())
      assert.isTrue(first.stored.every((s) => s.target.id === first.outcome.invocationTarget?.id))
      const progress = { invocationTarget: first.outcome.invocationTarget, tests: first.stored.map((s) => s.result) }
      const again = yield* run(progress)
      assert.strictEqual(again.requests.length, 0)
      assert.deepStrictEqual(again.stored, [])
      assert.deepStrictEqual(JSON.parse(JSON.stringify(again.outcome)), JSON.parse(JSON.stringify(first.outcome)))
    }))

  it.live("a resumed run sends requests only for the missing and ERRORED tests and stores only those", () =>
    Effect.gen(function*() {
      const first = yield* run()
      const [gate, missing, errored, ...rest] = first.stored.map((s) => s.result)
      const erroredBefore = new TestResult({ ...errored!, status: "ERRORED", latencyMs: null })
      const progress = { invocationTarget: first.outcome.invocationTarget, tests: [gate!, erroredBefore, ...rest] }
      const again = yield* run(progress)
      assert.deepStrictEqual(again.stored.map((s) => s.result.id).sort(), [missing!.id, errored!.id].sort())
      assert.isAbove(again.requests.length, 0)
      assert.isBelow(again.requests.length, first.requests.length)
      const byId = new Map(again.outcome.tests.map((t) => [t.id, t]))
      assert.strictEqual(byId.get(errored!.id)?.status, "PASSED")
      // Kept results are the stored ones, unchanged.
      for (const kept of [gate!, ...rest]) assert.deepStrictEqual(byId.get(kept.id), kept)
      assert.strictEqual(again.outcome.verdict, "CERTIFIED")
    }))
})
