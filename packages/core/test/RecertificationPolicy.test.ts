import { assert, describe, it } from "@effect/vitest"
import * as Policy from "../src/RecertificationPolicy.ts"

const DAY = 86_400_000
const HOUR = 3_600_000
const t0 = Date.parse("2026-12-01T12:00:00.000Z")
const iso = (millis: number) => new Date(millis).toISOString()

const settings: Policy.Settings = { ...Policy.defaults, suiteVersion: "1.0.0" }

/** A result certified at t0 with 30-day validity, overridable. */
const result = (fields: Partial<Policy.LatestResult> = {}): Policy.LatestResult => ({
  modelId: "m.a",
  region: "us-east-1",
  status: "CERTIFIED",
  suiteVersion: "1.0.0",
  completedAt: iso(t0),
  expiresAt: iso(t0 + 30 * DAY),
  ...fields
})

/** Each row: the situation, when it is judged, and the reasons expected (empty: not selected). */
const table: ReadonlyArray<{
  readonly name: string
  readonly now: number
  readonly latest?: ReadonlyArray<Policy.LatestResult>
  readonly observations?: ReadonlyArray<Policy.Observation>
  readonly settings?: Partial<Policy.Settings>
  readonly filter?: Policy.Filter
  readonly expect: ReadonlyArray<ReadonlyArray<Policy.Reason>>
}> = [
  { name: "fresh result, nothing observed", now: t0 + DAY, latest: [result()], expect: [] },
  { name: "+26 days: outside the 3-day lead", now: t0 + 26 * DAY, latest: [result()], expect: [] },
  { name: "+28 days: expiring within the lead", now: t0 + 28 * DAY, latest: [result()], expect: [["expiring"]] },
  { name: "+27 days exactly: the lead's edge is in", now: t0 + 27 * DAY, latest: [result()], expect: [["expiring"]] },
  { name: "+30 days: expired", now: t0 + 30 * DAY, latest: [result()], expect: [["expired"]] },
  { name: "a longer lead reaches further", now: t0 + 20 * DAY, latest: [result()], settings: { leadTimeDays: 10 }, expect: [["expiring"]] },
  {
    name: "older suite version",
    now: t0 + DAY,
    latest: [result({ suiteVersion: "0.9.0" })],
    expect: [["older-suite"]]
  },
  { name: "newer or equal suite is not older", now: t0 + DAY, latest: [result({ suiteVersion: "1.0.0" })], expect: [] },
  {
    name: "versions compare numerically (0.10.0 is newer than 0.9.0)",
    now: t0 + DAY,
    latest: [result({ suiteVersion: "0.10.0" })],
    settings: { suiteVersion: "0.9.0" },
    expect: []
  },
  {
    name: "lifecycle changed after the result",
    now: t0 + 2 * DAY,
    latest: [result()],
    observations: [{ modelId: "m.a", region: "us-east-1", lifecycle: { value: "LEGACY", changedAt: iso(t0 + DAY) } }],
    expect: [["lifecycle"]]
  },
  {
    name: "lifecycle observed before the result is not a change",
    now: t0 + 2 * DAY,
    latest: [result()],
    observations: [{ modelId: "m.a", region: "us-east-1", lifecycle: { value: "LEGACY", changedAt: iso(t0 - DAY) } }],
    expect: []
  },
  {
    name: "authorization changed after the result",
    now: t0 + 2 * DAY,
    latest: [result({ status: "UNAVAILABLE" })],
    observations: [{ modelId: "m.a", region: "us-east-1", authorization: { value: "AUTHORIZED", changedAt: iso(t0 + HOUR) } }],
    expect: [["authorization"]]
  },
  {
    name: "newly discovered pair with no result",
    now: t0,
    observations: [{ modelId: "m.new", region: "eu-west-1", discoveredAt: iso(t0 - HOUR) }],
    expect: [["discovered"]]
  },
  {
    name: "a discovered pair that already has a result is judged by its result",
    now: t0 + DAY,
    latest: [result()],
    observations: [{ modelId: "m.a", region: "us-east-1", discoveredAt: iso(t0 - HOUR) }],
    expect: []
  },
  {
    name: "INCONCLUSIVE older than the retry-after",
    now: t0 + 7 * HOUR,
    latest: [result({ status: "INCONCLUSIVE" })],
    expect: [["inconclusive"]]
  },
  {
    name: "INCONCLUSIVE younger than the retry-after waits",
    now: t0 + 5 * HOUR,
    latest: [result({ status: "INCONCLUSIVE" })],
    expect: []
  },
  { name: "CANCELLED results are never rechecked", now: t0 + 31 * DAY, latest: [result({ status: "CANCELLED" })], expect: [] },
  {
    name: "several reasons: all kept, the most urgent first",
    now: t0 + 31 * DAY,
    latest: [result({ suiteVersion: "0.1.0" })],
    expect: [["expired", "older-suite"]]
  },
  {
    name: "a disabled reason does not select",
    now: t0 + 28 * DAY,
    latest: [result()],
    settings: { reasons: ["older-suite"] },
    expect: []
  },
  {
    name: "requested: every filtered result, with no other reason",
    now: t0 + DAY,
    latest: [result(), result({ modelId: "m.b" })],
    settings: { reasons: ["requested"] },
    filter: { modelIds: ["m.b"] },
    expect: [["requested"]]
  },
  {
    name: "verdict filter",
    now: t0 + 31 * DAY,
    latest: [result(), result({ modelId: "m.b", status: "FAILED" })],
    filter: { verdicts: ["FAILED"] },
    expect: [["expired"]]
  },
  {
    name: "region filter",
    now: t0 + 31 * DAY,
    latest: [result(), result({ region: "eu-west-1" })],
    filter: { regions: ["eu-west-1"] },
    expect: [["expired"]]
  }
]

describe("RecertificationPolicy", () => {
  for (const row of table) {
    it(row.name, () => {
      const out = Policy.select({
        now: row.now,
        latest: row.latest ?? [],
        observations: row.observations ?? [],
        settings: { ...settings, ...row.settings },
        filter: row.filter
      })
      assert.deepStrictEqual(out.selected.map((s) => s.reasons), row.expect.map((r) => [...r]))
      for (const s of out.selected) {
        assert.strictEqual(s.reason, s.reasons[0])
        assert.isTrue(s.detail.length > 0)
      }
    })
  }

  it("every reason has at least one row that selects it", () => {
    const covered = new Set(table.flatMap((r) => r.expect.flat()))
    for (const reason of Policy.reasons) assert.isTrue(covered.has(reason), reason)
  })

  it("limits per run: most urgent first, the rest deferred", () => {
    const latest = [
      result({ modelId: "m.1", expiresAt: iso(t0 + 2 * DAY) }), // expiring
      result({ modelId: "m.2", expiresAt: iso(t0 - DAY) }), // expired
      result({ modelId: "m.3", expiresAt: iso(t0 + DAY) }), // expiring, sooner
      result({ modelId: "m.4", expiresAt: iso(t0 - DAY), region: "eu-west-1" })
    ]
    const out = Policy.select({ now: t0, latest, observations: [], settings: { ...settings, maxUnits: 3, maxRegions: 1 } })
    assert.deepStrictEqual(out.selected.map((s) => s.modelId), ["m.2", "m.3", "m.1"])
    assert.strictEqual(out.deferred, 1)
    assert.deepStrictEqual(out.byReason, { expired: 1, expiring: 2 })
    assert.strictEqual(Policy.describeReasons(out.byReason), "1 expired, 2 expiring")
    const few = Policy.select({ now: t0, latest, observations: [], settings: { ...settings, maxUnits: 2 } })
    assert.deepStrictEqual(few.selected.map((s) => s.modelId), ["m.2", "m.4"])
    assert.strictEqual(few.deferred, 2)
  })

  it("is deterministic: input order does not change the selection", () => {
    const latest = Array.from({ length: 12 }, (_, i) => result({ modelId: `m.${i}`, expiresAt: iso(t0 + (i % 4) * HOUR) }))
    const a = Policy.select({ now: t0 + DAY, latest, observations: [], settings })
    const b = Policy.select({ now: t0 + DAY, latest: [...latest].reverse(), observations: [], settings })
    assert.deepStrictEqual(a, b)
  })
})

describe("RecertificationPolicy.track", () => {
  const registry = {
    declared: (modelId: string) => (modelId === "m.old" ? { lifecycle: "LEGACY" } : { lifecycle: "ACTIVE" }),
    known: (modelId: string) => modelId !== "m.new"
  }
  const at1 = iso(t0)
  const at2 = iso(t0 + DAY)

  it("a first value equal to the declared one is no change; a different one changes at the snapshot", () => {
    const out = Policy.track([], [
      { modelId: "m.a", region: "us-east-1", lifecycle: "ACTIVE" },
      { modelId: "m.b", region: "us-east-1", lifecycle: "LEGACY" },
      { modelId: "m.old", region: "us-east-1", lifecycle: "LEGACY" }
    ], at1, registry)
    assert.deepStrictEqual(out.map((o) => [o.modelId, o.lifecycle?.changedAt]), [
      ["m.a", Policy.sinceEver],
      ["m.b", at1],
      ["m.old", Policy.sinceEver]
    ])
  })

  it("a later different value changes at that snapshot; the same value keeps its time; discovery is once", () => {
    const first = Policy.track([], [
      { modelId: "m.a", region: "us-east-1", lifecycle: "ACTIVE", authorization: "AUTHORIZED" },
      { modelId: "m.new", region: "eu-west-1", lifecycle: "ACTIVE" }
    ], at1, registry)
    const second = Policy.track(first, [
      { modelId: "m.a", region: "us-east-1", lifecycle: "LEGACY", authorization: "AUTHORIZED" },
      { modelId: "m.new", region: "eu-west-1", lifecycle: "ACTIVE" }
    ], at2, registry)
    const a = second.find((o) => o.modelId === "m.a")!
    assert.deepStrictEqual(a.lifecycle, { value: "LEGACY", changedAt: at2 })
    assert.deepStrictEqual(a.authorization, { value: "AUTHORIZED", changedAt: Policy.sinceEver })
    const n = second.find((o) => o.modelId === "m.new")!
    assert.strictEqual(n.discoveredAt, at1)
    // Feeds the policy: the LEGACY change after a result at t0 + 1 h selects "lifecycle".
    const out = Policy.select({
      now: t0 + 2 * DAY,
      latest: [result({ completedAt: iso(t0 + HOUR) })],
      observations: second,
      settings
    })
    assert.deepStrictEqual(out.selected.map((s) => [s.modelId, s.reason]), [["m.a", "lifecycle"], ["m.new", "discovered"]])
  })
})
