/**
 * The API process: an Express 5 app that mounts the certification plugin at
 * `/api/certification-queue` behind bearer-token auth. `CERTIFICATION_API_TOKEN` grants read-write,
 * `CERTIFICATION_API_READ_TOKEN` read-only; tokens are compared in constant time and never logged.
 * It listens on `HOST` (default `127.0.0.1`, this machine only) and `PORT`. Units run in a separate
 * worker process (`worker.ts`); progress reaches this process's SSE streams through Redis. With
 * `CERTIFICATION_ADAPTERS=memory` the queue is in this process, so this process runs an embedded
 * worker instead.
 *
 * @since 0.1.0
 */
import { createCertificationHandler, type HttpPlugin } from "@myia/certification-http"
import express from "express"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import { fileURLToPath } from "node:url"
import { certificationOptions, fromEnv, type HostConfig } from "./config.ts"

export const basePath = "/api/certification-queue"

export interface Tokens {
  readonly readWrite: string | undefined
  readonly readOnly: string | undefined
}

const digest = (token: string): Buffer => Crypto.createHash("sha256").update(token).digest()

/** Whether `given` is `expected`, in time that does not depend on where they differ (equal-length digests). */
const sameToken = (given: Buffer, expected: string | undefined): boolean =>
  expected !== undefined && expected !== "" && Crypto.timingSafeEqual(given, digest(expected))

/** Bearer tokens → principals (scheme case-insensitive, tokens compared in constant time); anything else is a 401. */
export const bearerAuth = (tokens: Tokens): HttpPlugin.Authorize => ({ headers }) => {
  const match = /^bearer +([^\s]+) *$/i.exec(headers.authorization ?? "")
  if (match !== null) {
    const given = digest(match[1]!)
    // Both comparisons always run, so timing does not tell which token matched.
    const readWrite = sameToken(given, tokens.readWrite)
    const readOnly = sameToken(given, tokens.readOnly)
    if (readWrite) return { id: "api-token", canRead: true, canWrite: true }
    if (readOnly) return { id: "api-read-token", canRead: true, canWrite: false }
  }
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
    // Probes carry no token: liveness (/health) and readiness with the clock check (/ready, issue 15).
    publicPaths: ["/health", "/ready", "/docs", "/openapi.json"]
  })
  const app = express()
  app.disable("x-powered-by")
  app.use(basePath, certification.node)
  app.get("/", (_req, res) => {
    res.json({ certification: basePath, dashboard: `${basePath}/ui`, docs: `${basePath}/docs` })
  })
  return { app, certification }
}

/**
 * Start listening on `host:port`; resolves with the server once it accepts connections. Requests
 * Node's HTTP parser refuses get the plugin's JSON envelope (`clientError`), and so does an HTTP/1.1
 * request without `Host` (Node would answer it with an empty 400 before any handler runs).
 */
export const listen = (
  app: express.Express,
  certification: HttpPlugin.CertificationHandler,
  port: number,
  host: string
): Promise<Http.Server> =>
  new Promise((resolve, reject) => {
    const server = Http.createServer({ requireHostHeader: false }, app)
    server.on("clientError", certification.clientError)
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve(server)
    })
  })

/** `http://host:port` for a listening address (IPv6 in brackets). */
export const originOf = (address: { readonly address: string; readonly port: number }): string =>
  `http://${address.address.includes(":") ? `[${address.address}]` : address.address}:${address.port}`

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { app, certification } = createApp(fromEnv(), {
    readWrite: process.env.CERTIFICATION_API_TOKEN,
    readOnly: process.env.CERTIFICATION_API_READ_TOKEN
  })
  const port = Number(process.env.PORT ?? "3001")
  const server = await listen(app, certification, port, process.env.HOST ?? "127.0.0.1")
  const origin = originOf(server.address() as { readonly address: string; readonly port: number })
  console.log(`certification API listening on ${origin}${basePath}`)
  console.log(`dashboard: ${origin}${basePath}/ui`)
  const stop = () => {
    server.close()
    server.closeAllConnections()
    certification.dispose().then(() => process.exit(0), () => process.exit(1))
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
}
