/**
 * The dashboard routes (issue 19): `GET /ui` (the page shell), `GET /ui/app-<version>.js` and
 * `GET /ui/app-<version>.css` (the bundled assets, generated into `DashboardAssets.json` by
 * `scripts/build-dashboard.ts`). None of them holds data, so they are served without the authorize
 * hook — a browser navigation carries no bearer token. Every piece of data the page shows comes
 * from the API, through the hook.
 *
 * The shell is `no-cache` with an `ETag` (a 304 when unchanged); the assets carry their content
 * hash in the URL and are cached for a year as `immutable`. Bodies are compressed (brotli or gzip,
 * by `Accept-Encoding`), once, on first use. A Content-Security-Policy allows nothing but this
 * origin, so the page cannot load or send anything elsewhere.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Zlib from "node:zlib"
import Assets from "./DashboardAssets.json" with { type: "json" }

/** Where the page lives, relative to the base path. */
export const path = "/ui"

/** The asset URLs, relative to the base path. */
export const scriptPath = `${path}/app-${Assets.version}.js`
export const stylePath = `${path}/app-${Assets.version}.css`

/** The page shell: no data, relative URLs (so any base path works), no inline script or style. */
export const shell = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Bedrock certification</title>
<link rel="stylesheet" href="ui/app-${Assets.version}.css">
</head>
<body>
<noscript>This dashboard needs JavaScript.</noscript>
<div id="app"></div>
<script defer src="ui/app-${Assets.version}.js"></script>
</body>
</html>
`

const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

interface Asset {
  readonly body: string
  readonly contentType: string
  readonly cacheControl: string
  readonly etag: string
  br?: Uint8Array
  gzip?: Uint8Array
}

const asset = (body: string, contentType: string, cacheControl: string): Asset => ({
  body,
  contentType,
  cacheControl,
  etag: `"${Assets.version}-${body.length.toString(36)}"`
})

const immutable = "public, max-age=31536000, immutable"

const assets: ReadonlyMap<HttpRouter.PathInput, Asset> = new Map([
  [path as HttpRouter.PathInput, asset(shell, "text/html; charset=utf-8", "no-cache")],
  [scriptPath as HttpRouter.PathInput, asset(Assets.script, "text/javascript; charset=utf-8", immutable)],
  [stylePath as HttpRouter.PathInput, asset(Assets.style, "text/css; charset=utf-8", immutable)]
])

/** The best encoding the client accepts (`br`, then `gzip`), or none. */
export const encodingFor = (acceptEncoding: string | undefined): "br" | "gzip" | undefined => {
  const accepted = new Map<string, number>()
  for (const part of (acceptEncoding ?? "").toLowerCase().split(",")) {
    const [name, ...params] = part.trim().split(";")
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find((m) => m !== null)
    if (name !== undefined && name !== "") accepted.set(name, q == null ? 1 : Number(q[1]))
  }
  const ok = (name: string) => (accepted.get(name) ?? accepted.get("*") ?? 0) > 0
  return ok("br") ? "br" : ok("gzip") ? "gzip" : undefined
}

const encoded = (a: Asset, encoding: "br" | "gzip"): Uint8Array =>
  encoding === "br"
    ? (a.br ??= Zlib.brotliCompressSync(a.body, { params: { [Zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }))
    : (a.gzip ??= Zlib.gzipSync(a.body, { level: 9 }))

const serve = (a: Asset) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const headers: Record<string, string> = {
      "cache-control": a.cacheControl,
      etag: a.etag,
      vary: "accept-encoding",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "content-security-policy": contentSecurityPolicy
    }
    const inm = request.headers["if-none-match"]
    if (inm !== undefined && inm.split(",").some((tag) => tag.trim() === a.etag)) {
      return HttpServerResponse.empty({ status: 304, headers })
    }
    const encoding = encodingFor(request.headers["accept-encoding"])
    if (encoding === undefined) return HttpServerResponse.text(a.body, { contentType: a.contentType, headers })
    return HttpServerResponse.uint8Array(encoded(a, encoding), {
      contentType: a.contentType,
      headers: { ...headers, "content-encoding": encoding }
    })
  })

/** The dashboard's routes, to merge into the plugin's router outside the authorization middleware. */
export const routes = HttpRouter.use((router) =>
  Effect.forEach([...assets], ([route, a]) => router.add("GET", route, serve(a)), { discard: true })
)
