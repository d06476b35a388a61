/**
 * The test oracle: what verdict a scenario INTENDS for one (model, region), computed from the
 * scenario document and the registry's facts alone — never from the runner, the suite or the rating.
 * The end-to-end tests compare every unit the engine produced against it.
 */
import { type Domain, Region, type Registry } from "@myia/certification"
import { Scenario } from "@myia/certification/emulator"

/** What the scenario intends for one unit; `category` only where the verdict names one. */
export interface Expected {
  readonly verdict: Domain.Verdict
  readonly category: Domain.ErrorCategory | null
  /** Which scenario fact decided it (shown on a mismatch). */
  readonly why: string
}

// The oracle's own belief of which embedding families suite v1 can drive (SPEC §3: Titan and Cohere bodies).
/** Embedding families suite v1 has a request format for (the others are refused at request time, issue #13). */
export const drivableEmbeddings: ReadonlyArray<RegExp> = [
  /^amazon\.titan-embed-text-v2/,
  /^amazon\.titan-embed-text-v1/,
  /^amazon\.titan-embed-g1-text-02/,
  /^amazon\.titan-embed-image-v1/,
  /^cohere\.embed-(english|multilingual)-v3/,
  /^cohere\.embed-v4/
]

type Unavailable = Exclude<Scenario.Availability, "offered" | "profile-only">

/** An unavailable model's category, by how the account sees it. */
export const unavailableCategory: Readonly<Record<Unavailable, Domain.ErrorCategory>> = {
  "not-offered": "NOT_OFFERED_IN_REGION",
  "access-denied": "ACCESS_DENIED",
  "marketplace-pending": "MARKETPLACE_PENDING",
  legacy: "LEGACY_OR_EOL",
  eol: "LEGACY_OR_EOL"
}

/** Whether the registry knows a system inference profile callable from the region. */
export const hasUsableProfile = (model: Registry.ModelInfo, region: string): boolean =>
  [...Region.geographiesOf(region as Region.Region), "global"].some((g) => model.profiles.includes(`${g}.${model.id}`))

/** The verdict the scenario intends for `model` in `region`. */
export const expectedVerdict = (scenario: Scenario.Scenario, model: Registry.ModelInfo, region: string): Expected => {
  if (model.modality === "embedding" && !drivableEmbeddings.some((re) => re.test(model.id))) {
    return { verdict: "UNSUPPORTED", category: null, why: "embedding family without a suite v1 request format" }
  }
  const seen = Scenario.resolve(scenario, region, model.id)
  if (seen.availability === "profile-only") {
    if (!hasUsableProfile(model, region)) {
      return { verdict: "UNAVAILABLE", category: "REQUIRES_INFERENCE_PROFILE", why: "profile-only, no usable profile" }
    }
  } else if (seen.availability !== "offered") {
    return { verdict: "UNAVAILABLE", category: unavailableCategory[seen.availability], why: seen.availability }
  }
  if (seen.errorRate5xx >= 1) return { verdict: "INCONCLUSIVE", category: null, why: "every call answers 5xx" }
  if (model.modality === "chat") {
    const caps = model.capabilities
    switch (seen.quality) {
      case "wrong":
        return { verdict: "FAILED", category: null, why: "answers wrong" }
      case "broken-json":
        // The json test needs no capability: it applies to every chat model.
        return { verdict: "QUALITY_WARNING", category: null, why: "breaks JSON" }
      case "no-tools":
        if (caps.toolUse !== "no") return { verdict: "QUALITY_WARNING", category: null, why: "ignores tools it claims" }
        break
      case "broken-stream":
        if (caps.streaming !== "no") return { verdict: "QUALITY_WARNING", category: null, why: "stream breaks mid-way" }
        break
      case "good":
        break
    }
  }
  const noise = [
    seen.errorRate5xx > 0 ? `5xx burst ${seen.errorRate5xx.toFixed(2)}` : null,
    seen.throttle !== undefined ? `throttle ${seen.throttle.requestsPerSecond}/s` : null
  ].filter((s) => s !== null)
  return { verdict: "CERTIFIED", category: null, why: noise.length === 0 ? "healthy" : `healthy (${noise.join(", ")})` }
}

/** One unit compared with the oracle; `null` when they agree. */
export const mismatch = (
  unit: {
    readonly modelId: string
    readonly region: string
    readonly status: string
    readonly error: { readonly category: string } | null
  },
  expected: Expected
): string | null => {
  const categoryOk = expected.category === null || unit.error?.category === expected.category
  if (unit.status === expected.verdict && categoryOk) return null
  return `${unit.modelId} @ ${unit.region}: got ${unit.status}/${unit.error?.category ?? "-"}, ` +
    `expected ${expected.verdict}/${expected.category ?? "-"} (${expected.why})`
}
