/**
 * Generates `data/bedrock-models.json` (the registry's built-in data) from the reference registry JSON.
 *
 * The runtime never reads the reference files: this script turns each of the 139 rows into the
 * encoded form of `Registry.ModelInfo`, keeping the source of every fact (`sources`), and fails
 * loudly on any value it does not recognise so a new data drop cannot slip in half-parsed.
 *
 * Usage (from the repo root):
 *   pnpm exec node packages/core/scripts/build-registry.ts [path/to/bedrock_model_registry.json]
 *
 * @since 0.1.0
 */
import { readFileSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { geographiesOf, isRegion } from "../src/Region.ts"

const here = dirname(fileURLToPath(import.meta.url))
const input = process.argv[2] ?? "/work/shared/reference/bedrock/bedrock_model_registry.json"
const output = resolve(here, "../data/bedrock-models.json")

interface Row {
  readonly modelId: string
  readonly provider: string
  readonly name: string
  readonly modality: string
  readonly converse: string
  readonly converseStream: string
  readonly systemPrompt: string
  readonly documentChat: string
  readonly vision: string
  readonly toolUse: string
  readonly streamingToolUse: string
  readonly featureSource: string
  readonly streamingSupported: string
  readonly maxInputTokens: number | string | null
  readonly maxOutputTokens: number | string | null
  readonly ll_supports_reasoning: boolean | null
  readonly ll_provider: string | null
  readonly invocation: string
  readonly invocationSource: string
  readonly crisProfilesInLiteLLM: ReadonlyArray<string>
  readonly regions: string
  readonly lifecycle: string
  readonly notes: string
}

type Support = "yes" | "no" | "unknown"

const fail = (row: Row, what: string): never => {
  throw new Error(`${row.modelId}: ${what}`)
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

const modalities: Record<string, string> = {
  chat: "chat",
  embedding: "embedding",
  image: "image",
  video: "video",
  "speech (bidirectional)": "speech",
  rerank: "rerank"
}

const apis: Record<string, string> = {
  chat: "CONVERSE",
  embedding: "INVOKE_MODEL",
  image: "NONE",
  video: "NONE",
  speech: "NONE",
  rerank: "NONE"
}

/** Raw feature values by prefix: "Y?" is a likely yes, "Limited (no chat)" is no chat through Converse. */
const supportPrefixes: ReadonlyArray<readonly [string, Support]> = [
  ["Y", "yes"],
  ["Yes", "yes"],
  ["N", "no"],
  ["No", "no"],
  ["Limited", "no"],
  // TwelveLabs Pegasus takes video, not the still image the vision test sends
  ["video", "no"],
  ["?", "unknown"]
]

const support = (row: Row, raw: string): Support => {
  const hit = supportPrefixes.find(([prefix]) =>
    raw === prefix || raw.startsWith(`${prefix} `) || raw.startsWith(`${prefix}?`)
  )
  return hit === undefined ? fail(row, `unknown feature value "${raw}"`) : hit[1]
}

const lifecycleRules: ReadonlyArray<{
  readonly pattern: RegExp
  readonly status: "ACTIVE" | "LEGACY" | "EOL" | "UNKNOWN"
  readonly source: string
}> = [
  // an LC date plus a real "end of its life" answer: EOL, dated by LC
  {
    pattern: /^LEGACY→EOL \d{4}-\d{2}-\d{2} \[LC\].*(end of its life|EOL confirmed)/,
    status: "EOL",
    source: "LC + ISS"
  },
  { pattern: /^LEGACY→EOL \d{4}-\d{2}-\d{2} \[LC\];/, status: "LEGACY", source: "LC + ISS" },
  { pattern: /^LEGACY→EOL \d{4}-\d{2}-\d{2} \[LC\]$/, status: "LEGACY", source: "LC" },
  { pattern: /^EOL \d{4}-\d{2}-\d{2} \[LC\]$/, status: "EOL", source: "LC" },
  { pattern: /^EOL \(/, status: "EOL", source: "ISS" },
  { pattern: /^LEGACY \(/, status: "LEGACY", source: "ISS" },
  { pattern: /^ACTIVE \(listed on AWS page/, status: "ACTIVE", source: "AWS25 + LC" },
  { pattern: /^ACTIVE \(LL:/, status: "ACTIVE", source: "AWS25 + LC (LL deprecation note unverified)" },
  { pattern: /^ACTIVE\? /, status: "ACTIVE", source: "LL (newer than AWS25; unverified)" },
  { pattern: /^likely EOL /, status: "UNKNOWN", source: "INF (absent from AWS25; unverified)" }
]

const lifecycle = (row: Row) => {
  const rule = lifecycleRules.find((r) => r.pattern.test(row.lifecycle)) ??
    fail(row, `unknown lifecycle "${row.lifecycle}"`)
  // only a full date is a date: "seen 2026-05" stays null; the text stays in `source`
  const eolAt = rule.status === "EOL" || rule.status === "LEGACY"
    ? (/(\d{4}-\d{2}-\d{2})/.exec(row.lifecycle.split(";")[0]!)?.[1] ?? null)
    : null
  return { status: rule.status, legacyAt: null, eolAt, source: row.lifecycle, tag: rule.source }
}

const int = (row: Row, value: number | string | null): number | null => {
  if (value === null) return null
  const n = typeof value === "number" ? value : Number(value)
  return Number.isInteger(n) && n > 0 ? n : fail(row, `bad token limit ${JSON.stringify(value)}`)
}

// ---------------------------------------------------------------------------------------------
// One row
// ---------------------------------------------------------------------------------------------

const toModel = (row: Row) => {
  const modality = modalities[row.modality] ?? fail(row, `unknown modality "${row.modality}"`)
  const api = apis[modality]!
  const isChat = modality === "chat"

  const regions = row.regions === ""
    ? []
    : row.regions.split(",").map((entry) => {
      const region = entry.replace(/\*$/, "")
      if (!isRegion(region)) fail(row, `unknown region "${region}"`)
      return { region, invocation: entry.endsWith("*") ? "PROFILE_ONLY" : "ON_DEMAND" }
    })
  const profileOnly = regions.filter((r) => r.invocation === "PROFILE_ONLY").map((r) => r.region)
  const profileRequired = row.invocation.startsWith("inference profile REQUIRED")
  if (profileRequired && profileOnly.length !== regions.length) {
    fail(row, "profile REQUIRED but some region is on-demand")
  }
  const listed = /profile-only in: (.+)$/.exec(row.invocation)?.[1]?.split(",")
  if (listed !== undefined && listed.join(",") !== profileOnly.join(",")) {
    fail(row, `profile-only list "${listed}" disagrees with starred regions "${profileOnly}"`)
  }

  // LiteLLM's prefixes are evidence, not the full list: a region AWS lists as profile-only must be
  // reachable through one of its geographies, so add the broadest one when none is known.
  const known = new Set(row.crisProfilesInLiteLLM)
  const derived = new Set<string>()
  for (const region of profileOnly) {
    const geos = geographiesOf(region as Parameters<typeof geographiesOf>[0])
    if (geos.length > 0 && !geos.some((g) => known.has(g) || derived.has(g))) derived.add(geos[geos.length - 1]!)
  }
  const profileOrder = ["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"]
  const geos = [...known, ...derived].sort((a, b) => profileOrder.indexOf(a) - profileOrder.indexOf(b))
  for (const g of geos) if (!profileOrder.includes(g)) fail(row, `unknown profile prefix "${g}"`)
  const profiles = geos.map((g) => `${g}.${row.modelId}`)

  const streamingRaw = isChat && row.converseStream === "?" ? row.streamingSupported : row.converseStream
  const reasoning: Support = row.ll_supports_reasoning === true ? "yes" : row.ll_provider !== null ? "no" : "unknown"
  const capabilities = {
    streaming: support(row, streamingRaw),
    systemPrompt: support(row, row.systemPrompt),
    toolUse: support(row, row.toolUse),
    streamingToolUse: support(row, row.streamingToolUse),
    vision: support(row, row.vision),
    documents: support(row, row.documentChat),
    reasoning
  }
  const featureSource = row.featureSource.startsWith("n/a (non-chat model") ? "n/a (non-chat; AWSF)" : row.featureSource
  const life = lifecycle(row)
  const listedBy = row.invocationSource === "AWS25" ? "AWS25" : "LL"

  const sources: Record<string, string> = {
    id: listedBy,
    modality: `${listedBy}: ${row.modality}`,
    api: `rule by modality (chat → Converse, embedding → InvokeModel); converse=${row.converse}`,
    capabilities: featureSource,
    "capabilities.streaming": streamingRaw === row.converseStream
      ? `${featureSource}: ConverseStream=${row.converseStream}`
      : `AWS25/LL streaming=${row.streamingSupported} (ConverseStream=${row.converseStream})`,
    "capabilities.systemPrompt": `${featureSource}: ${row.systemPrompt}`,
    "capabilities.toolUse": `${featureSource}: ${row.toolUse}`,
    "capabilities.streamingToolUse": `${featureSource}: ${row.streamingToolUse}`,
    "capabilities.vision": `${featureSource}: ${row.vision}`,
    "capabilities.documents": `${featureSource}: ${row.documentChat}`,
    "capabilities.reasoning": `LL: supports_reasoning=${row.ll_supports_reasoning ?? "absent"}`,
    limits: "LL (max_input_tokens / max_output_tokens)",
    regions: regions.length === 0
      ? "none (no region data in AWS25 or LL)"
      : row.invocationSource === "AWS25"
      ? "AWS25 (trailing * = profile-only)"
      : "LL (per-region keys)",
    // the profile-only list is the starred regions already; keep the source line short
    invocation: `${row.invocationSource}: ${row.invocation.replace(/in: .+$/, "where starred")}`,
    profiles: [
      row.crisProfilesInLiteLLM.length > 0 ? `LL: ${row.crisProfilesInLiteLLM.join(",")}` : "LL: none",
      ...(derived.size > 0 ? [`derived from AWS25 profile-only regions: ${[...derived].join(",")}`] : [])
    ].join("; "),
    lifecycle: life.tag
  }
  if (row.notes !== "") sources.notes = row.notes

  return {
    id: row.modelId,
    name: row.name,
    vendor: row.provider,
    modality,
    api,
    capabilities,
    maxInputTokens: int(row, row.maxInputTokens),
    maxOutputTokens: int(row, row.maxOutputTokens),
    regions,
    regionsKnown: regions.length > 0,
    profiles,
    profileRequired,
    lifecycle: { status: life.status, legacyAt: life.legacyAt, eolAt: life.eolAt, source: life.source },
    sources
  }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/** JSON laid out like the house style: a value stays on one line when it fits in 120 columns. */
const render = (value: unknown, indent: string, prefix: string): string => {
  const flat = JSON.stringify(value)
  if (indent.length + prefix.length + flat.length + 1 <= 120 || value === null || typeof value !== "object") {
    return `${indent}${prefix}${flat}`
  }
  const inner = `${indent}  `
  const lines = Array.isArray(value)
    ? value.map((v) => render(v, inner, ""))
    : Object.entries(value).map(([k, v]) => render(v, inner, `${JSON.stringify(k)}: `))
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"]
  return `${indent}${prefix}${open}\n${lines.join(",\n")}\n${indent}${close}`
}

const rows = JSON.parse(readFileSync(input, "utf8")) as ReadonlyArray<Row>
const models = rows.map(toModel)
const ids = new Set(models.map((m) => m.id))
if (ids.size !== models.length) throw new Error("duplicate model ids")

const document = {
  description: `The built-in Bedrock model data (${models.length} models), generated by packages/core/scripts/` +
    "build-registry.ts from reference/bedrock/bedrock_model_registry.json. Do not edit by hand: fix the generator " +
    "or the data and regenerate. Decoded into Registry.ModelInfo by Registry.ts.",
  models
}
writeFileSync(output, `${render(document, "", "")}\n`)
process.stdout.write(`wrote ${models.length} models to ${output}\n`)
