/**
 * `@myia/certification`: certify AWS Bedrock foundation models per account × region.
 *
 * Each module is exported as a namespace (`Domain.Job`, `Storage.Storage`, `Registry.layer`), the
 * way Effect's own packages are.
 *
 * @since 0.1.0
 */
export * as Domain from "./Domain.ts"
export * as Queue from "./Queue.ts"
export * as Region from "./Region.ts"
export * as Storage from "./Storage.ts"
