/**
 * The API process: an Express 5 app that mounts the certification plugin at
 * `/api/certification-queue` behind bearer-token auth. `CERTIFICATION_API_TOKEN` grants read-write,
 * `CERTIFICATION_API_READ_TOKEN` read-only. Units run in a separate worker process (`worker.ts`);
 * progress reaches this process's SSE streams through Redis. With `CERTIFICATION_ADAPTERS=memory`
 * the queue is in this process, so this process runs an embedded worker instead.
 *
 * @since 0.1.0
 */
import { createCertificationHandler, type HttpPlugin } from "@myia/certification-http"
import express from "express"
import type * as Http from "node:http"
import { fileURLToPath } from "node:url"
import { certificationOptions, fromEnv, type HostConfig } from "./config.ts"

export const basePath = "/api/certification-queue"

export interface Tokens {
  readonly readWrite: string | undefined
  readonly readOnly: string | undefined
}

/** Bearer tokens → principals; anything else is a 401. */
export const bearerAuth = (tokens: Tokens): HttpPlugin.Authorize => ({ headers }) => {
  const match = /^Bearer (.+)$/.exec(headers.authorization ?? "")
  const token = match?.[1]
  if (token !== undefined && token === tokens.readWrite) return { id: "api-token", canRead: true, canWrite: true }
  if (token !== undefined && token === tokens.readOnly) return { id: "api-read-token", canRead: true, canWrite: false }
  return { status: 401, message: "a valid bearer token is required" }
}

/** The Express app and the plugin behind it (dispose the plugin when done). */
export const createApp = (
  config: HostConfig,
  tokens: Tokens
): { readonly app: express.Express; readonly certification: HttpPlugin.CertificationHandler } => {
  if (tokens.readWrite === undefined && tokens.readOnly === undefined) {
    throw new Error("set CERTIFICATION_API_TOKEN (read-write) and/or CERTIFICATION_API_READ_TOKEN (read-only)")
  }
  const certification = createCertificationHandler({
    // A memory queue is invisible to other processes: its units can only run here.
    certification: certificationOptions(config, config.adapters === "memory" ? { concurrency: config.concurrency } : false),
    basePath,
    authorize: bearerAuth(tokens),
    publicPaths: ["/health", "/docs", "/openapi.json"]
  })
  const app = express()
  app.disable("x-powered-by")
  app.use(basePath, certification.node)
  app.get("/", (_req, res) => {
    res.json({ certification: basePath, docs: `${basePath}/docs` })
  })
  return { app, certification }
}

/** Start listening; resolves with the server once it accepts connections. */
export const listen = (app: express.Express, port: number): Promise<Http.Server> =>
  new Promise((resolve, reject) => {
    const server = app.listen(port, (error?: Error) => (error === undefined ? resolve(server) : reject(error)))
  })

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { app, certification } = createApp(fromEnv(), {
    readWrite: process.env.CERTIFICATION_API_TOKEN,
    readOnly: process.env.CERTIFICATION_API_READ_TOKEN
  })
  const port = Number(process.env.PORT ?? "3001")
  const server = await listen(app, port)
  const actual = (server.address() as { readonly port: number }).port
  console.log(`certification API listening on http://localhost:${actual}${basePath}`)
  const stop = () => {
    server.close()
    server.closeAllConnections()
    certification.dispose().then(() => process.exit(0), () => process.exit(1))
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
}
