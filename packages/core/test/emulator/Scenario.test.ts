import { assert, describe, it } from "@effect/vitest"
import { builtinModels } from "../../src/Registry.ts"
import * as Scenario from "../../src/emulator/Scenario.ts"

const onDemandIn = (region: string) =>
  builtinModels.find((m) =>
    m.regionsKnown && m.lifecycle.status === "ACTIVE" && m.modality === "chat" &&
    m.regions.some((r) => r.region === region && r.invocation === "ON_DEMAND")
  )!

const profileOnly = builtinModels.flatMap((m) =>
  m.lifecycle.status === "EOL" || !m.regionsKnown
    ? []
    : m.regions
      .filter((r) => r.invocation === "PROFILE_ONLY")
      .map((r) => ({ model: m, region: r.region }))
)

describe("Scenario document", () => {
  it("decodes a full document", () => {
    const s = Scenario.make({
      seed: 7,
      timeScale: 0.1,
      registry: "none",
      defaults: { quality: "good", latency: { ttftMs: { median: 300, p95: 900 }, tokensPerSecond: 80 } },
      rules: [{ models: ["acme.*"], regions: ["us-east-1"], throttle: { requestsPerSecond: 2, burst: 4 } }],
      regionThrottle: { "*": { requestsPerSecond: 100 } }
    })
    assert.strictEqual(s.seed, 7)
    assert.strictEqual(s.timeScale, 0.1)
    assert.strictEqual(s.models.size, 0)
  })

  it("rejects an unknown availability, naming the field", () => {
    const message = Scenario.validate({ rules: [{ models: "x", availability: "maybe" }] })
    assert.isDefined(message)
    assert.include(message!, "availability")
  })

  it("rejects probabilities outside 0..1", () => {
    assert.isDefined(Scenario.validate({ defaults: { errorRate5xx: 1.5 } }))
    assert.isUndefined(Scenario.validate({ defaults: { errorRate5xx: 0.5 } }))
  })
})

const geographyOf = (region: string) => region.startsWith("us-") ? "us" : region.startsWith("eu-") ? "eu" : "apac"

describe("Scenario resolution", () => {
  it("later rules win over earlier ones, and globs match", () => {
    const s = Scenario.make({
      registry: "none",
      rules: [
        { models: "acme.*", availability: "offered", quality: "wrong" },
        { models: "acme.chat-v2", regions: ["eu-west-1"], availability: "access-denied" }
      ]
    })
    assert.strictEqual(Scenario.resolve(s, "eu-west-1", "acme.chat-v2").availability, "access-denied")
    assert.strictEqual(Scenario.resolve(s, "us-east-1", "acme.chat-v2").availability, "offered")
    assert.strictEqual(Scenario.resolve(s, "us-east-1", "acme.chat-v2").quality, "wrong")
    assert.strictEqual(Scenario.resolve(s, "us-east-1", "other.model").availability, "not-offered")
  })

  it("an unknown model takes defaults.availability", () => {
    const s = Scenario.make({ registry: "none", defaults: { availability: "offered" } })
    assert.strictEqual(Scenario.resolve(s, "us-east-1", "anything.at-all").availability, "offered")
  })

  it("follows the registry: on-demand where listed, not offered elsewhere", () => {
    const model = onDemandIn("us-east-1")
    const absent = ["us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1", "af-south-1", "me-central-1"].find(
      (r) => !model.regions.some((x) => x.region === r)
    )!
    const s = Scenario.make({})
    assert.strictEqual(Scenario.resolve(s, "us-east-1", model.id).availability, "offered")
    assert.strictEqual(Scenario.resolve(s, absent, model.id).availability, "not-offered")
  })

  it("every registry region entry resolves to offered or profile-only as the registry says", () => {
    const s = Scenario.make({})
    for (const m of builtinModels) {
      if (!m.regionsKnown || m.lifecycle.status === "EOL") continue
      for (const r of m.regions) {
        const expected = r.invocation === "ON_DEMAND" ? "offered" : "profile-only"
        assert.strictEqual(Scenario.resolve(s, r.region, m.id).availability, expected, `${m.id} in ${r.region}`)
      }
    }
  })

  it("EOL registry models resolve to eol and regionsKnown=false models are offered everywhere", () => {
    const s = Scenario.make({})
    for (const m of builtinModels) {
      const got = Scenario.resolve(s, "eu-north-1", m.id).availability
      if (m.lifecycle.status === "EOL") assert.strictEqual(got, "eol", m.id)
      else if (!m.regionsKnown) assert.strictEqual(got, m.profileRequired === true ? "profile-only" : "offered", m.id)
    }
  })

  it("a profile-only model is offered through a profile of the region's geography, not another's", () => {
    assert.isAbove(profileOnly.length, 0)
    const s = Scenario.make({})
    const { model, region } = profileOnly.find(({ model, region }) =>
      model.profiles.some((p) => p.startsWith(`${geographyOf(region)}.`))
    )!
    const geo = geographyOf(region)
    const other = geo === "eu" ? "us" : "eu"
    assert.strictEqual(Scenario.resolve(s, region, model.id).availability, "profile-only")
    const via = Scenario.resolve(s, region, `${geo}.${model.id}`)
    assert.strictEqual(via.availability, "offered")
    assert.strictEqual(via.modelId, model.id)
    assert.strictEqual(via.profileId, `${geo}.${model.id}`)
    assert.strictEqual(Scenario.resolve(s, region, `${other}.${model.id}`).availability, "not-offered")
  })

  it("capabilities come from the registry and rules override them", () => {
    const model = onDemandIn("us-east-1")
    const s = Scenario.make({ rules: [{ models: model.id, capabilities: { toolUse: "no" } }] })
    const r = Scenario.resolve(s, "us-east-1", model.id)
    assert.strictEqual(r.capabilities.toolUse, "no")
    assert.strictEqual(r.capabilities.vision, model.capabilities.vision)
  })

  it("parses ARNs and profile ids to their foundation model", () => {
    assert.deepStrictEqual(Scenario.parseModelId("arn:aws:bedrock:us-east-1::foundation-model/a.b-v1:0"), {
      modelId: "a.b-v1:0",
      profileId: undefined
    })
    assert.deepStrictEqual(
      Scenario.parseModelId("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.a.b-v1:0"),
      { modelId: "a.b-v1:0", profileId: "us.a.b-v1:0" }
    )
    assert.deepStrictEqual(Scenario.parseModelId("us-gov.a.b"), { modelId: "a.b", profileId: "us-gov.a.b" })
  })
})

describe("Scenario randomness and timing", () => {
  it("the PRNG is a function of (seed, region, model, n, stream)", () => {
    const draw = (seed: number, region: string, n: number) => {
      const r = Scenario.random(seed, region, "m", n, "fate")
      return [r(), r(), r()]
    }
    assert.deepStrictEqual(draw(1, "us-east-1", 3), draw(1, "us-east-1", 3))
    assert.notDeepEqual(draw(1, "us-east-1", 3), draw(2, "us-east-1", 3))
    assert.notDeepEqual(draw(1, "us-east-1", 3), draw(1, "eu-west-1", 3))
    assert.notDeepEqual(draw(1, "us-east-1", 3), draw(1, "us-east-1", 4))
  })

  it("PRNG values are in [0, 1) and roughly uniform", () => {
    const r = Scenario.mulberry32(42)
    let below = 0
    for (let i = 0; i < 10_000; i++) {
      const x = r()
      assert.isTrue(x >= 0 && x < 1)
      if (x < 0.5) below++
    }
    assert.isTrue(below > 4_700 && below < 5_300, `${below}`)
  })

  it("uniform TTFT stays within [min, max]", () => {
    const r = Scenario.mulberry32(1)
    for (let i = 0; i < 1000; i++) {
      const t = Scenario.sampleTtft({ min: 150, max: 600 }, r)
      assert.isTrue(t >= 150 && t <= 600)
    }
  })

  it("log-normal TTFT has about the given median and p95", () => {
    const r = Scenario.mulberry32(9)
    const xs = Array.from({ length: 20_000 }, () => Scenario.sampleTtft({ median: 300, p95: 900 }, r))
    xs.sort((a, b) => a - b)
    const median = xs[10_000]!
    const p95 = xs[19_000]!
    assert.isTrue(median > 280 && median < 320, `median ${median}`)
    assert.isTrue(p95 > 820 && p95 < 980, `p95 ${p95}`)
  })

  it("a token bucket admits at most burst + rate × t over any window", () => {
    const bucket = new Scenario.TokenBucket({ requestsPerSecond: 10, burst: 5 }, 0)
    const admitted: Array<number> = []
    for (let t = 0; t <= 3000; t += 7) if (bucket.take(t)) admitted.push(t)
    for (const start of admitted) {
      const inWindow = admitted.filter((t) => t >= start && t < start + 1000).length
      assert.isAtMost(inWindow, 15)
    }
    // It does admit at about the refill rate once the burst is spent.
    assert.isAtLeast(admitted.length, 30)
  })
})

describe("default scenario", () => {
  it("is deterministic from the seed and denies a few chat models", () => {
    const a = Scenario.defaultScenarioInput(5)
    assert.deepStrictEqual(a, Scenario.defaultScenarioInput(5))
    const denied = a.rules![0]!.models as ReadonlyArray<string>
    assert.strictEqual(denied.length, 3)
    assert.notDeepEqual(denied, Scenario.defaultScenarioInput(6).rules![0]!.models)
    const s = Scenario.defaultScenario(5)
    assert.strictEqual(s.timeScale, Scenario.defaultTimeScale)
    const model = builtinModels.find((m) => m.id === denied[0])!
    const region = model.regionsKnown ? model.regions[0]!.region : "us-east-1"
    assert.strictEqual(Scenario.resolve(s, region, denied[0]!).availability, "access-denied")
  })
})
