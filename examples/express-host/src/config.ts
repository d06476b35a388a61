/**
 * The host's configuration, from the environment (names carried over from the original system):
 * `DATABASE_URL`, `REDIS_URL`, `CERTIFICATION_QUEUE_NAME`, `CERTIFICATION_CONCURRENCY`, `AWS_REGION`,
 * plus `CERTIFICATION_PG_SCHEMA`, `CERTIFICATION_REDIS_PREFIX` (isolate runs) and `BEDROCK_ENDPOINT`
 * (the emulator's URL; unset means the real Bedrock through the AWS default credential chain).
 * `CERTIFICATION_ADAPTERS=memory` swaps PostgreSQL + BullMQ for the in-memory adapters; the queue
 * then lives in the API process, so that process runs the worker itself (no PostgreSQL or Redis needed).
 *
 * @since 0.1.0
 */
import type { CertificationClient } from "@myia/certification"
import { BullMqQueue } from "@myia/certification-bullmq"
import { MemoryQueue, MemoryStorage } from "@myia/certification-memory"
import { PgStorage } from "@myia/certification-postgres"

/** Which Storage + Queue the host runs on. */
export type Adapters = "postgres" | "memory"

export interface HostConfig {
  readonly adapters: Adapters
  readonly databaseUrl: string
  readonly redisUrl: string
  readonly schema: string
  readonly redisPrefix: string
  readonly queueName: string
  readonly concurrency: number
  readonly bedrockEndpoint: string | undefined
}

/** Read the configuration from an environment (default: `process.env`). */
export const fromEnv = (env: NodeJS.ProcessEnv = process.env): HostConfig => ({
  adapters: env.CERTIFICATION_ADAPTERS === "memory" ? "memory" : "postgres",
  databaseUrl: env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  redisUrl: env.REDIS_URL ?? `redis://${env.REDIS_HOST ?? "127.0.0.1"}:${env.REDIS_PORT ?? "6379"}`,
  schema: env.CERTIFICATION_PG_SCHEMA ?? "certification",
  redisPrefix: env.CERTIFICATION_REDIS_PREFIX ?? "bull",
  queueName: env.CERTIFICATION_QUEUE_NAME ?? BullMqQueue.defaultQueueName,
  concurrency: Number(env.CERTIFICATION_CONCURRENCY ?? "4"),
  bedrockEndpoint: env.BEDROCK_ENDPOINT
})

/** The environment a child process needs to see the same configuration. */
export const toEnv = (config: HostConfig): Record<string, string> => ({
  CERTIFICATION_ADAPTERS: config.adapters,
  DATABASE_URL: config.databaseUrl,
  REDIS_URL: config.redisUrl,
  CERTIFICATION_PG_SCHEMA: config.schema,
  CERTIFICATION_REDIS_PREFIX: config.redisPrefix,
  CERTIFICATION_QUEUE_NAME: config.queueName,
  CERTIFICATION_CONCURRENCY: String(config.concurrency),
  ...(config.bedrockEndpoint === undefined ? {} : { BEDROCK_ENDPOINT: config.bedrockEndpoint })
})

/**
 * Storage + queue (PostgreSQL + BullMQ, or memory) + Bedrock settings; `worker` decides whether this
 * process runs units.
 */
export const certificationOptions = (
  config: HostConfig,
  worker: CertificationClient.CreateOptions["worker"]
): CertificationClient.CreateOptions => ({
  ...(config.adapters === "memory"
    ? { storage: MemoryStorage.layer, queue: MemoryQueue.layer() }
    : {
      storage: PgStorage.layerFromUrl(config.databaseUrl, { schema: config.schema }),
      queue: BullMqQueue.layer({ connection: config.redisUrl, queueName: config.queueName, prefix: config.redisPrefix })
    }),
  worker,
  ...(config.bedrockEndpoint === undefined
    ? {}
    : {
      bedrock: {
        endpoint: config.bedrockEndpoint,
        // The emulator accepts any SigV4 signature; these are not real credentials.
        credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator" }
      }
    })
})
