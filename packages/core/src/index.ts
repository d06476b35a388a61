/**
 * `@myia/certification`: certify AWS Bedrock foundation models per account × region.
 *
 * Each module is exported as a namespace (`Domain.Job`, `Storage.Storage`, `Registry.layer`), the
 * way Effect's own packages are.
 *
 * @since 0.1.0
 */
export * as Domain from "./Domain.ts"
export * as ErrorCategory from "./ErrorCategory.ts"
export * as ErrorCategorizer from "./ErrorCategorizer.ts"
export * as Queue from "./Queue.ts"
export * as QueueSchedule from "./QueueSchedule.ts"
export * as RedeliveryPolicy from "./RedeliveryPolicy.ts"
export * as Region from "./Region.ts"
export * as Storage from "./Storage.ts"
export * as JobStateMachine from "./JobStateMachine.ts"
export * as Rating from "./Rating.ts"
export * as Registry from "./Registry.ts"
export * as ModelCatalog from "./ModelCatalog.ts"
export * as BedrockRuntime from "./BedrockRuntime.ts"
export * as RegionGovernor from "./RegionGovernor.ts"
export * as Suite from "./Suite.ts"
export * as Runner from "./Runner.ts"
export * as Certification from "./Certification.ts"
export * as Worker from "./Worker.ts"
export * as Reconciler from "./Reconciler.ts"
export * as ClockSkew from "./ClockSkew.ts"
export * as CertificationClient from "./CertificationClient.ts"
export { createCertification } from "./CertificationClient.ts"
export * as Report from "./Report.ts"
export * as ControlPlane from "./ControlPlane.ts"
export * as Identity from "./Identity.ts"
export * as Metrics from "./Metrics.ts"
export * as Observation from "./Observation.ts"
export * as RegistryMerge from "./RegistryMerge.ts"
export * as LivingRegistry from "./LivingRegistry.ts"
export * as Preflight from "./Preflight.ts"
export * as Progress from "./Progress.ts"
// Continuous certification (issue 14).
export * as RecertificationPolicy from "./RecertificationPolicy.ts"
export * as Recertification from "./Recertification.ts"
export * as RecertificationScheduler from "./RecertificationScheduler.ts"
export * as RecertificationObservations from "./RecertificationObservations.ts"
export * as LatencyStats from "./LatencyStats.ts"
export * as Tracing from "./Tracing.ts"

// The domain types, also flat, so bundled declarations can name them (and hosts can import them).
export type {
  Blame,
  CategorizedError,
  InvocationTarget,
  Job,
  JobCounts,
  JobId,
  JobStatus,
  JobType,
  ModelId,
  TestResult,
  TestStatus,
  Timestamp,
  Unit,
  UnitId,
  UnitOutcome,
  UnitStatus,
  Verdict
} from "./Domain.ts"
export type { ProgressEvent, QueueCounts, QueueError } from "./Queue.ts"
export type { Options as RedeliveryPolicyOptions } from "./RedeliveryPolicy.ts"
export type { HistoryFilter, JobSummary, LatestFilter, Page, PageRequest, Stats, StorageError } from "./Storage.ts"
export * as RequestRateLimit from "./RequestRateLimit.ts"
export * as JobView from "./JobView.ts"
export * as GovernorStore from "./GovernorStore.ts"
export type {
  CreatedJob,
  JobDetail,
  Limits,
  RequestMeta,
  ServiceStats,
  Settings as CertificationSettings,
  Skipped,
  UnitView
} from "./Certification.ts"
export type { CertificationClient as CertificationClientInstance, CreateOptions, WaitOptions } from "./CertificationClient.ts"
export type {
  Capability,
  Certifiability,
  ModelInfo,
  Modality,
  NotCertifiableReason,
  Options as RegistryOptions,
  RegionInvocation,
  Support
} from "./Registry.ts"
export type { RegionCode } from "./Region.ts"
export type { RunnerSettings } from "./Runner.ts"
