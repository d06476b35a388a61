/**
 * The account's application inference profiles: those the scenario declares (`applicationProfiles`)
 * and those created through `CreateInferenceProfile`, per region, until deleted or the scenario is
 * replaced. A profile copies from a foundation model or a system profile; invoking its ARN reaches
 * that source. Ids are 12 lowercase characters derived from (region, name), like Bedrock's shape.
 *
 * @since 0.1.0
 */
import * as Scenario from "./Scenario.ts"

/** The pretend AWS account of every ARN the emulator writes. */
export const account = "123456789012"

/** The creation time of everything the scenario declares (system and declared application profiles). */
export const declaredAt = "2024-01-01T00:00:00.000Z"

/** One application inference profile. */
export interface Profile {
  readonly id: string
  readonly region: string
  readonly name: string
  readonly description: string | undefined
  /** The foundation model id or system profile id it copies from. */
  readonly source: string
  readonly createdAt: string
}

/** The profiles of one emulator. */
export interface Store {
  readonly list: (region: string) => ReadonlyArray<Profile>
  /** A profile of the region by id or ARN. */
  readonly get: (region: string, idOrArn: string) => Profile | undefined
  /** Add a profile; `undefined` when the region already has one of that name. */
  readonly create: (profile: Omit<Profile, "id">) => Profile | undefined
  readonly delete: (region: string, idOrArn: string) => boolean
}

/** The ARN of a profile. */
export const arnOf = (profile: Pick<Profile, "id" | "region">): string =>
  `arn:aws:bedrock:${profile.region}:${account}:application-inference-profile/${profile.id}`

const ARN = /^arn:aws[a-z-]*:bedrock:([^:]*):[^:]*:application-inference-profile\/([a-z0-9]+)$/

/** The id an application profile ARN names (or the argument itself when it is not such an ARN). */
export const idOf = (idOrArn: string): string => ARN.exec(idOrArn)?.[2] ?? idOrArn

/** Whether a string is an application inference profile ARN. */
export const isArn = (s: string): boolean => ARN.test(s)

/** The id of a profile named `name` in `region`: deterministic, 12 characters of [a-z0-9]. */
export const makeId = (region: string, name: string): string => {
  const digits = Scenario.hash(`${region}/${name}`).toString(36) + Scenario.hash(`${name}/${region}`).toString(36)
  return digits.padEnd(12, "0").slice(0, 12)
}

/** A store seeded with the profiles `scenario` declares, in every region each one names. */
export const make = (scenario: Scenario.Scenario, regions: ReadonlyArray<string>): Store => {
  const byRegion = new Map<string, Map<string, Profile>>()
  const of = (region: string) => {
    let profiles = byRegion.get(region)
    if (profiles === undefined) byRegion.set(region, (profiles = new Map()))
    return profiles
  }
  for (const declared of scenario.document.applicationProfiles ?? []) {
    const inRegion = Scenario.selects(declared.regions)
    for (const region of regions.filter(inRegion)) {
      const id = makeId(region, declared.name)
      const { description, name, source } = declared
      of(region).set(id, { id, region, name, description, source, createdAt: declaredAt })
    }
  }
  return {
    list: (region) => [...of(region).values()],
    get: (region, idOrArn) => of(region).get(idOf(idOrArn)),
    create: (profile) => {
      const profiles = of(profile.region)
      if ([...profiles.values()].some((p) => p.name === profile.name)) return undefined
      const created = { ...profile, id: makeId(profile.region, profile.name) }
      profiles.set(created.id, created)
      return created
    },
    delete: (region, idOrArn) => of(region).delete(idOf(idOrArn))
  }
}
