/**
 * The worker process: consumes units from BullMQ and writes verdicts to PostgreSQL. Run as many as
 * you like (per-region limits hold across all of them). SIGTERM or Ctrl-C stops fetching, releases
 * in-flight units for redelivery and exits.
 *
 * @since 0.1.0
 */
import { CertificationClient } from "@myia/certification"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { certificationOptions, fromEnv } from "./config.ts"

const config = fromEnv()
if (config.adapters === "memory") {
  // A memory queue cannot be shared between processes; the API process runs the worker itself.
  console.error("CERTIFICATION_ADAPTERS=memory: the API process (server.ts) runs the worker; nothing to do here")
  process.exit(2)
}
const main = Layer.launch(CertificationClient.layer(certificationOptions(config, { concurrency: config.concurrency })))

const fiber = Effect.runFork(main)
console.log(`certification worker started (concurrency ${config.concurrency}, queue ${config.queueName})`)
const stop = () => {
  Effect.runFork(Fiber.interrupt(fiber)).addObserver(() => process.exit(0))
}
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
