/**
 * The plugin mounted on a bare `node:http` server (the documented mount without a framework), run
 * as its own process by the hostile-input test. Same configuration and tokens as `server.ts`, plus a
 * path-based rule in the authorize hook — the read-only token may not read `/stats` — so the test can
 * show that no spelling of that path gets past the hook.
 */
import { createCertificationHandler, type HttpPlugin } from "@myia/certification-http"
import * as Http from "node:http"
import { certificationOptions, fromEnv } from "../src/config.ts"
import { basePath, bearerAuth, originOf } from "../src/server.ts"

const tokens = bearerAuth({
  readWrite: process.env.CERTIFICATION_API_TOKEN,
  readOnly: process.env.CERTIFICATION_API_READ_TOKEN
})

/** The example's bearer tokens, and a path policy: `/stats` is not for the read-only token. */
const authorize: HttpPlugin.Authorize = async (request) => {
  const verdict = await tokens(request)
  if ("id" in verdict && verdict.id === "api-read-token" && request.path === "/stats") {
    return { status: 403, message: "the read-only token may not read /stats" }
  }
  return verdict
}

const certification = createCertificationHandler({
  certification: certificationOptions(fromEnv(), false),
  basePath,
  authorize,
  publicPaths: ["/health", "/docs", "/openapi.json"]
})
const server = Http.createServer({ requireHostHeader: false }, (req, res) => certification.node(req, res))
server.on("clientError", certification.clientError)
server.listen(Number(process.env.PORT ?? "0"), "127.0.0.1", () => {
  const origin = originOf(server.address() as { readonly address: string; readonly port: number })
  console.log(`certification API listening on ${origin}${basePath}`)
})
process.once("SIGTERM", () => {
  server.close()
  server.closeAllConnections()
  certification.dispose().then(() => process.exit(0), () => process.exit(1))
})
