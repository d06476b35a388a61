/**
 * `@myia/certification/schemas`: the domain schemas only — identifiers, regions, jobs, units, verdicts
 * and progress events — with no Node or AWS SDK code, so browser bundles (a frontend's typed API
 * client, an admin UI) can import them.
 *
 * @since 0.1.0
 */
export * as Domain from "./Domain.ts"
export * as Queue from "./Queue.ts"
export * as Region from "./Region.ts"
