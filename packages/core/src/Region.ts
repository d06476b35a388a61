/**
 * AWS regions where Amazon Bedrock runs, with display names.
 *
 * A `Region` is a branded string validated against this list, so a typo such as `us-east1`
 * is rejected at the edge (HTTP body, queue payload, CLI flag) with the list of valid values.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** Every Bedrock region the SDK knows, with the name AWS shows in the console. */
export const regions = {
  "us-east-1": "US East (N. Virginia)",
  "us-east-2": "US East (Ohio)",
  "us-west-1": "US West (N. California)",
  "us-west-2": "US West (Oregon)",
  "us-gov-east-1": "AWS GovCloud (US-East)",
  "us-gov-west-1": "AWS GovCloud (US-West)",
  "ca-central-1": "Canada (Central)",
  "ca-west-1": "Canada West (Calgary)",
  "mx-central-1": "Mexico (Central)",
  "sa-east-1": "South America (São Paulo)",
  "eu-central-1": "Europe (Frankfurt)",
  "eu-central-2": "Europe (Zurich)",
  "eu-west-1": "Europe (Ireland)",
  "eu-west-2": "Europe (London)",
  "eu-west-3": "Europe (Paris)",
  "eu-north-1": "Europe (Stockholm)",
  "eu-south-1": "Europe (Milan)",
  "eu-south-2": "Europe (Spain)",
  "il-central-1": "Israel (Tel Aviv)",
  "me-central-1": "Middle East (UAE)",
  "me-south-1": "Middle East (Bahrain)",
  "af-south-1": "Africa (Cape Town)",
  "ap-east-2": "Asia Pacific (Taipei)",
  "ap-northeast-1": "Asia Pacific (Tokyo)",
  "ap-northeast-2": "Asia Pacific (Seoul)",
  "ap-northeast-3": "Asia Pacific (Osaka)",
  "ap-south-1": "Asia Pacific (Mumbai)",
  "ap-south-2": "Asia Pacific (Hyderabad)",
  "ap-southeast-1": "Asia Pacific (Singapore)",
  "ap-southeast-2": "Asia Pacific (Sydney)",
  "ap-southeast-3": "Asia Pacific (Jakarta)",
  "ap-southeast-4": "Asia Pacific (Melbourne)",
  "ap-southeast-5": "Asia Pacific (Malaysia)",
  "ap-southeast-7": "Asia Pacific (Thailand)"
} as const

/** A region code as a plain string literal type (for config objects keyed by region). */
export type RegionCode = keyof typeof regions

/** The region codes, in display order. */
export const regionCodes = Object.keys(regions) as ReadonlyArray<keyof typeof regions>

const regionSet: ReadonlySet<string> = new Set(regionCodes)

/** Whether a string is a known Bedrock region code. */
export const isRegion = (u: string): u is Region => regionSet.has(u)

/** A Bedrock region code such as `us-east-1`, validated against {@link regions}. */
export const Region = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((s: string) => regionSet.has(s) || `unknown Bedrock region "${s}"; expected one of ${regionCodes.join(", ")}`)
  ),
  Schema.brand("Region")
)
export type Region = typeof Region.Type

/** The console display name of a region, e.g. `US East (N. Virginia)`. */
export const regionName = (region: Region): string => regions[region as keyof typeof regions] ?? region

/**
 * The geography prefixes of the system inference profiles that can serve a region, most specific
 * first (e.g. `ap-northeast-1` → `jp`, `apac`). `global` profiles are not listed: they serve every
 * commercial region and the registry records them per model.
 */
export const geographiesOf = (region: Region): ReadonlyArray<string> => {
  if (region.startsWith("us-gov-")) return ["us-gov"]
  if (region.startsWith("us-")) return ["us"]
  if (region.startsWith("eu-")) return ["eu"]
  if (region.startsWith("ca-")) return ["ca", "us"]
  if (region === "ap-northeast-1" || region === "ap-northeast-3") return ["jp", "apac"]
  if (region === "ap-southeast-2" || region === "ap-southeast-4") return ["au", "apac"]
  if (region.startsWith("ap-")) return ["apac"]
  return []
}
