/**
 * The built-in emulator scenario of `bedrock-certify certify --emulator` (and `pnpm demo`): a plausible account (the registry's models, offered
 * where the registry says) with a few scripted problems so that every verdict but UNSUPPORTED shows up once:
 * a model that answers wrong (FAILED), one that breaks JSON and one whose stream breaks
 * (QUALITY_WARNING), access denied / Marketplace pending / legacy (UNAVAILABLE), a region that
 * answers 503 for one model (INCONCLUSIVE), and a throttled region whose healthy models must still
 * be CERTIFIED. Embedding families suite v1 cannot drive are refused up front (listed as skipped), never
 * UNSUPPORTED units. Its control plane (issue #13) also lists `acme.new-chat-v1:0`, a model the snapshot
 * does not know, in us-east-1: the living registry certifies it and names the control plane as its source.
 *
 * @since 0.1.0
 */
import type { Scenario } from "@myia/certification/emulator"

/** The scenario document (pass `--scenario FILE` for another). */
export const demoScenario: Scenario.ScenarioInput = {
  seed: 7,
  timeScale: 0.05,
  registry: "builtin",
  defaults: {
    quality: "good",
    latency: { ttftMs: { min: 150, max: 600 }, tokensPerSecond: 90, jitter: 0.25 },
    throttle: { requestsPerSecond: 50, burst: 100 }
  },
  regionThrottle: {
    // A tight regional quota: throttling must be waited out, never counted as a model failure.
    "eu-central-1": { requestsPerSecond: 40, burst: 10 }
  },
  rules: [
    { models: ["meta.llama3-8b-instruct-v1:0"], regions: "*", quality: "wrong" },
    { models: ["mistral.mistral-large-2402-v1:0"], regions: "*", quality: "broken-json" },
    { models: ["deepseek.v3.2"], regions: "*", quality: "broken-stream", streamBreakAfterDeltas: 2 },
    { models: ["mistral.mistral-small-2402-v1:0"], regions: "*", availability: "access-denied" },
    { models: ["minimax.minimax-m2.1"], regions: "*", availability: "marketplace-pending" },
    { models: ["qwen.qwen3-32b-v1:0"], regions: ["eu-central-1"], availability: "legacy" },
    { models: ["amazon.titan-text-lite-v1"], regions: ["us-west-2"], errorRate5xx: 1 },
    // Known only to the control plane (issue #13): listed and offered in us-east-1 alone.
    { models: ["acme.new-chat-v1:0"], regions: ["us-east-1"], availability: "offered" },
    { models: ["acme.new-chat-v1:0"], regions: ["us-west-2", "eu-central-1"], availability: "not-offered" }
  ]
}
