/**
 * The hostile-input table: requests an attacker would send, as raw HTTP/1.1 bytes, each with the
 * answer it must get on both mounts (the Express host and the bare `node:http` host). Every row is
 * sent over its own TCP connection; none may change a PostgreSQL row.
 *
 * An expectation is a status (or several, when Node itself may answer either way), an optional error
 * code, or `closed` when Node ends the connection without an answer (CONNECT with no listener). A row
 * may expect something else on the plain host, whose hook also forbids `/stats` to the read token.
 */

export const base = "/api/certification-queue"
export const rw = "Bearer rw-token"
export const ro = "Bearer ro-token"

export interface Expect {
  readonly status: number | "closed" | ReadonlyArray<number | "closed">
  readonly code?: string | undefined
}

export interface Case {
  readonly name: string
  /** The raw request; `Connection: close` is added when the row has no Connection header. */
  readonly request: string | Buffer
  readonly expect: Expect
  /** What the plain `node:http` host must answer instead (its hook has a path rule). */
  readonly plain?: Expect | undefined
  /** Close the writing side after sending (a truncated request). */
  readonly truncate?: boolean | undefined
  /** Only for the plain host: Express answers targets outside its mount path itself (its HTML 404). */
  readonly plainOnly?: boolean | undefined
  /** The success is not an envelope (`/openapi.json`). */
  readonly envelope?: false | undefined
}

const line = (method: string, target: string, headers: ReadonlyArray<string>, body = "") =>
  `${method} ${target} HTTP/1.1\r\nHost: localhost\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n${body}`

/** A request with a JSON (or any text) body and a correct Content-Length. */
const withBody = (method: string, target: string, body: string, headers: ReadonlyArray<string> = [rwAuth]) =>
  line(method, target, [...headers, "Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`], body)

const rwAuth = `Authorization: ${rw}`
const roAuth = `Authorization: ${ro}`

const get = (path: string, headers: ReadonlyArray<string> = [roAuth]) => line("GET", `${base}${path}`, headers)
const post = (path: string, body: unknown, headers?: ReadonlyArray<string>) =>
  withBody("POST", `${base}${path}`, typeof body === "string" ? body : JSON.stringify(body), headers)

const ok: Expect = { status: 200 }
const e = (status: number, code?: string): Expect => ({ status, code })
const invalid = e(400, "VALIDATION_ERROR")
const badPath = e(400, "INVALID_PATH")
const notFound = e(404, "NOT_FOUND")
const malformedHttp = e(400, "MALFORMED_REQUEST")
const unauthorized = e(401, "UNAUTHORIZED")
const forbidden = e(403, "FORBIDDEN")

const good = "amazon.nova-lite-v1:0"
const certifyModel = (modelId: unknown, region: unknown = "us-east-1") => post("/certify-model", { modelId, region })

/** Every text field hostile strings can go to, with a hostile value each. */
const hostileStrings: ReadonlyArray<readonly [string, string]> = [
  ["NUL", "amazon.nova\u0000-lite-v1:0"],
  ["line feed", "amazon.nova-lite-v1:0\n"],
  ["carriage return", "amazon\rnova"],
  ["tab", "amazon\tnova"],
  ["DEL", "amazon\u007fnova"],
  ["C1 control", "amazon\u0085nova"],
  ["unpaired surrogate", "amazon\ud800nova"],
  ["bidi override", "amazon\u202enova"],
  ["zero-width space", "amazon\u200bnova"],
  ["byte-order mark", "\ufeffamazon.nova-lite-v1:0"],
  ["leading space", " amazon.nova-lite-v1:0"],
  ["trailing space", "amazon.nova-lite-v1:0 "],
  ["internal space", "amazon nova"],
  ["empty", ""],
  ["300 characters", "a".repeat(300)]
]

const bodyCases: ReadonlyArray<Case> = [
  ...hostileStrings.map(([what, value]): Case => ({
    name: `certify-model with a modelId holding ${what}`,
    request: certifyModel(value),
    expect: invalid
  })),
  ...hostileStrings.map(([what, value]): Case => ({
    name: `certify-multiple with a modelIds element holding ${what}`,
    request: post("/certify-multiple", { modelIds: [good, value], regions: ["us-east-1"] }),
    expect: invalid
  })),
  ...["us-east-1\u0000", " us-east-1", "US-EAST-1", "us-east-1\n", "mars-1", "", "us-east-1 ", "<script>"].map(
    (region): Case => ({ name: `certify-model with region ${JSON.stringify(region)}`, request: certifyModel(good, region), expect: invalid })
  ),
  { name: "malformed JSON", request: post("/certify-model", "{\"modelId\":"), expect: e(400, "MALFORMED_JSON") },
  { name: "JSON with a trailing comma", request: post("/certify-model", "{\"modelId\":\"x\",}"), expect: e(400, "MALFORMED_JSON") },
  { name: "single-quoted JSON", request: post("/certify-model", "{'modelId':'x'}"), expect: e(400, "MALFORMED_JSON") },
  { name: "a UTF-8 byte-order mark before the JSON (dropped by the decoder)", request: post("/certify-model", "\ufeff{}"), expect: invalid },
  { name: "invalid UTF-8 bytes in the body", request: Buffer.concat([Buffer.from(post("/certify-model", "{\"modelId\":\"xx\",\"region\":\"us-east-1\"}").replace("xx", "\u00ff\u00fe"), "latin1")]), expect: e(400, "MODELS_NOT_CERTIFIABLE") },
  { name: "body null", request: post("/certify-model", "null"), expect: invalid },
  { name: "body an array", request: post("/certify-model", "[\"amazon.nova-lite-v1:0\",\"us-east-1\"]"), expect: invalid },
  { name: "body a string", request: post("/certify-model", "\"amazon.nova-lite-v1:0\""), expect: invalid },
  { name: "body a number", request: post("/certify-model", "42"), expect: invalid },
  { name: "body true", request: post("/certify-model", "true"), expect: invalid },
  { name: "empty body names the missing fields", request: post("/certify-multiple", ""), expect: invalid },
  { name: "whitespace-only body", request: post("/certify-model", "   \n "), expect: e(400, "MALFORMED_JSON") },
  { name: "10,000 nested arrays", request: post("/certify-model", "[".repeat(10_000) + "]".repeat(10_000)), expect: invalid },
  { name: "10,000 nested objects", request: post("/certify-model", "{\"a\":".repeat(10_000) + "1" + "}".repeat(10_000)), expect: invalid },
  { name: "__proto__ key carrying the fields", request: post("/certify-model", "{\"__proto__\":{\"modelId\":\"x\",\"region\":\"us-east-1\"}}"), expect: invalid },
  { name: "constructor.prototype keys", request: post("/certify-model", { constructor: { prototype: { modelId: good } }, region: "us-east-1" }), expect: invalid },
  { name: "modelId as an object with toString", request: certifyModel({ toString: "x" }), expect: invalid },
  { name: "modelId as an array", request: certifyModel([good]), expect: invalid },
  { name: "modelId as a number", request: certifyModel(42), expect: invalid },
  { name: "region as null", request: certifyModel(good, null), expect: invalid },
  { name: "modelIds as a string", request: post("/certify-multiple", { modelIds: good, regions: ["us-east-1"] }), expect: invalid },
  { name: "10,000 model ids", request: post("/certify-multiple", { modelIds: Array.from({ length: 10_000 }, (_, i) => `m${i}`), regions: ["us-east-1"] }), expect: e(413, "PAYLOAD_TOO_LARGE") },
  { name: "101 model ids", request: post("/certify-multiple", { modelIds: Array.from({ length: 101 }, (_, i) => `acme.m${i}-v1:0`), regions: ["us-east-1"] }), expect: invalid },
  { name: "no regions", request: post("/certify-all", { regions: [] }), expect: invalid },
  { name: "modalities not in the list", request: post("/certify-all", { regions: ["us-east-1"], modalities: ["image"] }), expect: invalid },
  { name: "unknown model", request: certifyModel("acme.unknown-v1:0"), expect: e(400, "MODELS_NOT_CERTIFIABLE") },
  { name: "emoji model id", request: certifyModel("amazon.nova-😀"), expect: e(400, "MODELS_NOT_CERTIFIABLE") },
  { name: "image model (not certifiable)", request: certifyModel("stability.sd3-5-large-v1:0", "us-west-2"), expect: e(400, "MODELS_NOT_CERTIFIABLE") },
  { name: "a text/plain body that is not valid input", request: withBody("POST", `${base}/certify-model`, "modelId=x", [rwAuth]).replace("application/json", "text/plain"), expect: e(400, "MALFORMED_JSON") },
  { name: "a multipart body", request: withBody("POST", `${base}/certify-model`, "--b\r\n\r\nx\r\n--b--", [rwAuth]).replace("application/json", "multipart/form-data; boundary=b"), expect: e(400, "MALFORMED_JSON") },
  { name: "a form-encoded body", request: withBody("POST", `${base}/certify-model`, "modelId=a&region=b", [rwAuth]).replace("application/json", "application/x-www-form-urlencoded"), expect: e(400, "MALFORMED_JSON") },
  { name: "a gzip body", request: line("POST", `${base}/certify-model`, [rwAuth, "Content-Type: application/json", "Content-Encoding: gzip", "Content-Length: 10"], "\u001f\u008b\u0008\u0000\u0000\u0000\u0000\u0000\u0000\u0003"), expect: e(415, "UNSUPPORTED_MEDIA_TYPE") },
  { name: "a brotli body", request: line("POST", `${base}/certify-model`, [rwAuth, "Content-Encoding: br", "Content-Length: 2"], "xx"), expect: e(415, "UNSUPPORTED_MEDIA_TYPE") },
  { name: "a declared Content-Length over the limit", request: line("POST", `${base}/certify-model`, [rwAuth, "Content-Type: application/json", "Content-Length: 9999999"], "{}"), expect: e(413, "PAYLOAD_TOO_LARGE") },
  { name: "a declared Content-Length over the limit without a token", request: line("POST", `${base}/certify-model`, ["Content-Length: 9999999"], "{}"), expect: e(413, "PAYLOAD_TOO_LARGE") },
  { name: "a 70 KB body with a correct length", request: post("/certify-multiple", { modelIds: [good], regions: ["us-east-1"], pad: "x".repeat(70_000) }), expect: e(413, "PAYLOAD_TOO_LARGE") },
  { name: "a chunked body over the limit", request: chunked(`${base}/certify-model`, 80_000), expect: e(413, "PAYLOAD_TOO_LARGE") },
  { name: "a chunked body over the limit to POST /health", request: chunked(`${base}/health`, 80_000), expect: notFound },
  { name: "a chunked body over the limit without a token", request: chunked(`${base}/certify-model`, 80_000, false), expect: unauthorized },
  { name: "a chunked body with a bad chunk size", request: line("POST", `${base}/certify-model`, [rwAuth, "Transfer-Encoding: chunked"], "zz\r\n{}\r\n0\r\n\r\n"), expect: malformedHttp },
  { name: "a chunked body that never ends its last chunk", request: line("POST", `${base}/certify-model`, [rwAuth, "Transfer-Encoding: chunked"], "5\r\n{\"a\":\r\n"), expect: { status: [400, 408, "closed"] }, truncate: true },
  { name: "a body shorter than its Content-Length", request: line("POST", `${base}/certify-model`, [rwAuth, "Content-Type: application/json", "Content-Length: 100"], "{\"modelId\":"), expect: { status: [400, 408, "closed"] }, truncate: true },
  { name: "Content-Length and Transfer-Encoding together", request: line("POST", `${base}/certify-model`, [rwAuth, "Content-Length: 2", "Transfer-Encoding: chunked"], "0\r\n\r\n"), expect: malformedHttp },
  { name: "two different Content-Length headers", request: line("POST", `${base}/certify-model`, [rwAuth, "Content-Length: 2", "Content-Length: 3"], "{}x"), expect: malformedHttp },
  { name: "a negative Content-Length", request: line("POST", `${base}/certify-model`, [rwAuth, "Content-Length: -1"], ""), expect: malformedHttp },
  { name: "a Content-Length that is not a number", request: line("POST", `${base}/certify-model`, [rwAuth, "Content-Length: abc"], ""), expect: malformedHttp },
  { name: "Expect: 100-continue with an invalid body", request: line("POST", `${base}/certify-model`, [rwAuth, "Expect: 100-continue", "Content-Type: application/json", "Content-Length: 2"], "{}"), expect: invalid }
]

/** A chunked POST of `bytes` bytes in 16 KiB chunks. */
function chunked(target: string, bytes: number, auth = true): string {
  const chunk = "a".repeat(16_384)
  let body = ""
  for (let sent = 0; sent < bytes; sent += chunk.length) body += `${chunk.length.toString(16)}\r\n${chunk}\r\n`
  return line("POST", target, [...(auth ? [rwAuth] : []), "Content-Type: application/json", "Transfer-Encoding: chunked"], `${body}0\r\n\r\n`)
}

const targetCases: ReadonlyArray<Case> = [
  { name: "a // path (seen as //x/stats, routed as /stats before)", request: line("GET", `${base}//x/stats`, [roAuth]), expect: badPath },
  { name: "a leading // before the base path", request: line("GET", `//x${base}/stats`, [roAuth]), expect: badPath, plainOnly: true },
  { name: "an empty segment", request: get("/jobs//x"), expect: badPath },
  { name: "a trailing slash", request: get("/stats/"), expect: badPath },
  { name: "a dot segment", request: get("/./stats"), expect: badPath },
  { name: "a dot-dot segment", request: get("/jobs/../stats"), expect: badPath },
  { name: "an encoded dot-dot (%2e%2e)", request: get("/%2e%2e/stats"), expect: badPath },
  { name: "an encoded dot-dot in a job id", request: get("/jobs/%2e%2e"), expect: badPath },
  { name: "an encoded slash", request: get("/jobs%2Fx"), expect: badPath },
  { name: "a percent-encoded letter (/st%61ts)", request: get("/st%61ts"), expect: badPath },
  { name: "a malformed percent-encoding", request: get("/jobs/%zz"), expect: badPath },
  { name: "a lone percent sign", request: get("/jobs/%"), expect: badPath },
  { name: "an encoded NUL in the path", request: get("/jobs/a%00b"), expect: badPath },
  { name: "a ; path parameter", request: get("/stats;x=1"), expect: badPath },
  { name: "a backslash", request: get("/stats\\"), expect: badPath },
  { name: "upper-case path", request: get("/STATS"), expect: notFound },
  { name: "mixed-case path", request: get("/Stats"), expect: notFound },
  { name: "the base path alone", request: line("GET", base, [roAuth]), expect: notFound },
  { name: "the base path with a slash (Express strips it; node:http sees a trailing /)", request: line("GET", `${base}/`, [roAuth]), expect: notFound, plain: badPath },
  { name: "an unknown endpoint", request: get("/nope"), expect: notFound },
  { name: "absolute-form target", request: line("GET", `http://evil.example${base}/health`, []), expect: ok },
  { name: "absolute-form with userinfo", request: line("GET", `http://user:pass@evil.example${base}/stats`, []), expect: unauthorized },
  { name: "absolute-form with a // path", request: line("GET", `http://evil.example${base}//x/stats`, [roAuth]), expect: badPath },
  { name: "absolute-form https", request: line("GET", `https://evil.example${base}/stats`, [roAuth]), expect: ok, plain: forbidden },
  { name: "asterisk-form", request: line("OPTIONS", "*", []), expect: e(405, "METHOD_NOT_ALLOWED"), plainOnly: true },
  { name: "asterisk-form GET", request: line("GET", "*", []), expect: badPath, plainOnly: true },
  { name: "a fragment in the target", request: line("GET", `${base}/stats#x`, [roAuth]), expect: { status: [400] } },
  { name: "raw UTF-8 bytes in the target", request: Buffer.from(`GET ${base}/jobs/\u00e9 HTTP/1.1\r\nHost: localhost\r\n${roAuth}\r\n\r\n`, "utf8"), expect: { status: [400] } },
  { name: "a job id of 65 characters", request: get(`/jobs/${"a".repeat(65)}`), expect: invalid },
  { name: "a job id of 150 characters", request: get(`/jobs/${"a".repeat(150)}`), expect: invalid },
  { name: "a job id of digits only", request: get("/jobs/12345"), expect: invalid },
  { name: "a job id with a dot", request: get("/jobs/a.b"), expect: invalid },
  { name: "a job id with a colon", request: get("/jobs/a:b"), expect: invalid },
  { name: "a job id with an @", request: get("/jobs/a@b"), expect: invalid },
  { name: "an unknown job", request: get("/jobs/no-such-job"), expect: e(404, "JOB_NOT_FOUND") },
  { name: "events of an unknown job", request: get("/jobs/no-such-job/events"), expect: e(404, "JOB_NOT_FOUND") },
  { name: "cancel of an unknown job", request: line("DELETE", `${base}/jobs/no-such-job`, [rwAuth]), expect: e(404, "JOB_NOT_FOUND") },
  { name: "retry of an unknown job", request: line("POST", `${base}/jobs/no-such-job/retry`, [rwAuth, "Content-Length: 0"]), expect: e(404, "JOB_NOT_FOUND") },
  { name: "a 5,000-character path", request: get(`/jobs/${"a".repeat(5_000)}`), expect: e(414, "URI_TOO_LONG") },
  { name: "a 5,000-character query", request: get(`/history?x=${"a".repeat(5_000)}`), expect: e(414, "URI_TOO_LONG") },
  { name: "a 20,000-character path (over Node's header limit)", request: get(`/jobs/${"a".repeat(20_000)}`), expect: e(431, "HEADERS_TOO_LARGE") }
]

const queryCases: ReadonlyArray<Case> = [
  ...["0x10", "1e2", "-1", "0", "01", "+1", "%201", "1%20", "1.5", "1e400", "9999999999", "", "NaN", "Infinity", "%00", "1%00", "%D9%A3"].map(
    (value): Case => ({ name: `history page=${JSON.stringify(value)}`, request: get(`/history?page=${value}`), expect: invalid })
  ),
  ...["101", "0", "-5", "0x1", "20.0", "1e1"].map(
    (value): Case => ({ name: `certifications limit=${value}`, request: get(`/certifications?limit=${value}`), expect: invalid })
  ),
  { name: "history page given twice", request: get("/history?page=1&page=2"), expect: invalid },
  { name: "history status not a job status", request: get("/history?status=DONE"), expect: invalid },
  { name: "history status in lower case", request: get("/history?status=completed"), expect: invalid },
  { name: "history status with NUL", request: get("/history?status=COMPLETED%00"), expect: invalid },
  { name: "history type unknown", request: get("/history?type=ALL"), expect: invalid },
  { name: "certifications modelId with NUL (a 503 on PostgreSQL before)", request: get("/certifications?modelId=a%00b"), expect: invalid },
  { name: "certifications modelId padded", request: get("/certifications?modelId=%20amazon.nova-lite-v1:0"), expect: invalid },
  { name: "certifications modelId with a line break", request: get("/certifications?modelId=a%0Ab"), expect: invalid },
  { name: "certifications modelId with a bidi override", request: get("/certifications?modelId=a%E2%80%AEb"), expect: invalid },
  { name: "certifications modelId of 300 characters", request: get(`/certifications?modelId=${"a".repeat(300)}`), expect: invalid },
  { name: "certifications modelId with invalid UTF-8 escapes", request: get("/certifications?modelId=%C3%28"), expect: { status: [200, 400] } },
  { name: "certifications region unknown", request: get("/certifications?region=mars-1"), expect: invalid },
  { name: "certifications region upper case", request: get("/certifications?region=US-EAST-1"), expect: invalid },
  { name: "certifications status unknown", request: get("/certifications?status=GREAT"), expect: invalid },
  { name: "models region with NUL", request: get("/models?region=us-east-1%00"), expect: invalid },
  { name: "models region given twice", request: get("/models?region=us-east-1&region=us-west-2"), expect: invalid },
  { name: "prototype keys in the query are ignored", request: get("/history?__proto__=x&constructor=y&toString=z"), expect: ok },
  { name: "bracket keys in the query are ignored", request: get("/history?page[]=1&a[b]=c"), expect: ok },
  { name: "a malformed escape in the query", request: get("/history?page=%zz"), expect: invalid }
]

const methodCases: ReadonlyArray<Case> = [
  { name: "TRACE", request: line("TRACE", `${base}/health`, []), expect: e(405, "METHOD_NOT_ALLOWED") },
  { name: "TRACE with a token", request: line("TRACE", `${base}/stats`, [roAuth]), expect: e(405, "METHOD_NOT_ALLOWED") },
  { name: "PATCH", request: line("PATCH", `${base}/jobs/x`, [rwAuth, "Content-Length: 0"]), expect: e(405, "METHOD_NOT_ALLOWED") },
  { name: "OPTIONS", request: line("OPTIONS", `${base}/stats`, []), expect: e(405, "METHOD_NOT_ALLOWED") },
  { name: "PROPFIND", request: line("PROPFIND", `${base}/stats`, []), expect: e(405, "METHOD_NOT_ALLOWED") },
  { name: "an unknown method", request: line("FOO", `${base}/stats`, []), expect: malformedHttp },
  { name: "a lower-case method", request: line("get", `${base}/stats`, []), expect: malformedHttp },
  { name: "CONNECT (Node closes the connection)", request: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", expect: { status: "closed" } },
  { name: "HEAD /health answers the GET status without a body", request: line("HEAD", `${base}/health`, []), expect: ok },
  { name: "PUT on a read endpoint", request: line("PUT", `${base}/stats`, [rwAuth, "Content-Length: 0"]), expect: notFound },
  { name: "DELETE on history", request: line("DELETE", `${base}/history`, [rwAuth]), expect: notFound },
  { name: "POST on stats", request: post("/stats", {}), expect: notFound },
  { name: "GET on certify-model", request: get("/certify-model"), expect: notFound },
  { name: "a request line without a version (HTTP/0.9 form)", request: `GET ${base}/health\r\n\r\n`, expect: ok },
  { name: "HTTP/2.0 in an HTTP/1 request line", request: `GET ${base}/health HTTP/2.0\r\nHost: x\r\n\r\n`, expect: ok },
  { name: "a garbage request line", request: "\u0000\u0001\u0002GARBAGE\r\n\r\n", expect: malformedHttp },
  { name: "a TLS ClientHello on the plain port", request: Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]), expect: malformedHttp }
]

const headerCases: ReadonlyArray<Case> = [
  { name: "Host: a b", request: `GET ${base}/health HTTP/1.1\r\nHost: a b\r\n\r\n`, expect: ok },
  { name: "Host: [::", request: `GET ${base}/stats HTTP/1.1\r\nHost: [::\r\n${roAuth}\r\n\r\n`, expect: ok, plain: forbidden },
  { name: "Host with a path", request: `GET ${base}/health HTTP/1.1\r\nHost: evil/x?y\r\n\r\n`, expect: ok },
  { name: "two Host headers", request: `GET ${base}/health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, expect: { status: [200, 400] } },
  { name: "no Host header on HTTP/1.1", request: `GET ${base}/health HTTP/1.1\r\n\r\n`, expect: e(400, "MISSING_HOST") },
  { name: "no Host header on HTTP/1.0", request: `GET ${base}/health HTTP/1.0\r\n\r\n`, expect: ok },
  { name: "a 20 KB header (over Node's limit)", request: line("GET", `${base}/stats`, [roAuth, `X-Big: ${"a".repeat(20_000)}`]), expect: e(431, "HEADERS_TOO_LARGE") },
  { name: "500 headers", request: line("GET", `${base}/stats`, [roAuth, ...Array.from({ length: 500 }, (_, i) => `X-H${i}: ${i}`)]), expect: ok, plain: forbidden },
  { name: "2,000 headers (over Node's header size limit)", request: line("GET", `${base}/stats`, [roAuth, ...Array.from({ length: 2_000 }, (_, i) => `X-H${i}: ${i}`)]), expect: e(431, "HEADERS_TOO_LARGE") },
  { name: "a header name with a space", request: line("GET", `${base}/stats`, [roAuth, "X Bad: 1"]), expect: malformedHttp },
  { name: "an obsolete folded header", request: line("GET", `${base}/stats`, [roAuth, "X-Fold: a", " b"]), expect: malformedHttp },
  { name: "a NUL in a header value", request: line("GET", `${base}/stats`, [roAuth, "X-Nul: a\u0000b"]), expect: malformedHttp },
  { name: "a bare LF line ending", request: `GET ${base}/health HTTP/1.1\nHost: x\n\n`, expect: { status: [200, 400] } },
  { name: "Idempotency-Key with a space", request: post("/certify-model", { modelId: good, region: "us-east-1" }, [rwAuth, "Idempotency-Key: a b"]), expect: invalid },
  { name: "Idempotency-Key of 300 characters", request: post("/certify-model", { modelId: good, region: "us-east-1" }, [rwAuth, `Idempotency-Key: ${"k".repeat(300)}`]), expect: invalid },
  { name: "Idempotency-Key non-ASCII", request: Buffer.from(post("/certify-model", { modelId: "x", region: "us-east-1" }, [rwAuth, "Idempotency-Key: clé"]), "latin1"), expect: invalid },
  { name: "Idempotency-Key with an invalid body", request: post("/certify-model", { modelId: 1 }, [rwAuth, "Idempotency-Key: abc"]), expect: invalid }
]

const authCases: ReadonlyArray<Case> = [
  { name: "no Authorization header", request: get("/stats", []), expect: unauthorized },
  { name: "a wrong token", request: get("/stats", ["Authorization: Bearer guess"]), expect: unauthorized },
  { name: "lower-case bearer scheme", request: get("/history", ["Authorization: bearer ro-token"]), expect: ok },
  { name: "upper-case BEARER scheme", request: get("/history", ["Authorization: BEARER ro-token"]), expect: ok },
  { name: "two spaces after the scheme", request: get("/history", ["Authorization: Bearer  ro-token"]), expect: ok },
  { name: "the scheme without a token", request: get("/stats", ["Authorization: Bearer"]), expect: unauthorized },
  { name: "the token without a scheme", request: get("/stats", ["Authorization: ro-token"]), expect: unauthorized },
  { name: "a Basic credential", request: get("/stats", [`Authorization: Basic ${Buffer.from("ro:ro-token").toString("base64")}`]), expect: unauthorized },
  { name: "the token with a suffix", request: get("/stats", ["Authorization: Bearer ro-tokenX"]), expect: unauthorized },
  { name: "a prefix of the token", request: get("/stats", ["Authorization: Bearer ro-tok"]), expect: unauthorized },
  { name: "the token and more words", request: get("/stats", ["Authorization: Bearer ro-token rw-token"]), expect: unauthorized },
  { name: "a 10 KB token", request: get("/stats", [`Authorization: Bearer ${"t".repeat(10_000)}`]), expect: unauthorized },
  { name: "a token with a tab", request: get("/stats", ["Authorization: Bearer\tro-token"]), expect: unauthorized },
  { name: "a non-ASCII token", request: Buffer.from(get("/stats", ["Authorization: Bearer r\u00f6-token"]), "latin1"), expect: unauthorized },
  { name: "the read token on a write", request: post("/certify-model", { modelId: good, region: "us-east-1" }, [roAuth]), expect: forbidden },
  { name: "the read token cancelling", request: line("DELETE", `${base}/jobs/no-such-job`, [roAuth]), expect: forbidden },
  { name: "the read token retrying", request: line("POST", `${base}/jobs/no-such-job/retry`, [roAuth, "Content-Length: 0"]), expect: forbidden },
  { name: "no token on a write", request: post("/certify-model", { modelId: good, region: "us-east-1" }, []), expect: unauthorized },
  { name: "no token on an invalid write (auth before validation)", request: post("/certify-model", "{\"modelId\":", []), expect: unauthorized },
  { name: "no token on metrics", request: get("/metrics", []), expect: unauthorized },
  { name: "health is public", request: get("/health", []), expect: ok },
  { name: "openapi.json is public on these hosts", request: get("/openapi.json", []), expect: ok, envelope: false },
  { name: "the read token reads stats (the plain host's hook forbids it)", request: get("/stats"), expect: ok, plain: forbidden },
  { name: "the write token reads stats", request: get("/stats", [rwAuth]), expect: ok },
  { name: "a forbidden path spelled with //", request: get("//stats"), expect: badPath },
  { name: "a forbidden path spelled with a trailing slash", request: get("/stats/"), expect: badPath },
  { name: "a forbidden path spelled with %73", request: get("/%73tats"), expect: badPath },
  { name: "a forbidden path spelled with ;", request: get("/stats;"), expect: badPath },
  { name: "a forbidden path spelled with /./", request: get("/./stats"), expect: badPath },
  { name: "a forbidden path spelled in upper case", request: get("/STATS"), expect: notFound },
  { name: "a forbidden path in absolute form", request: line("GET", `http://x${base}/stats`, [roAuth]), expect: ok, plain: forbidden },
  { name: "a forbidden path with a query", request: get("/stats?x=1"), expect: ok, plain: forbidden },
  { name: "a forbidden path with an empty query", request: get("/stats?"), expect: ok, plain: forbidden }
]

/** Every row, in the order they run. */
export const cases: ReadonlyArray<Case> = [...targetCases, ...queryCases, ...methodCases, ...headerCases, ...authCases, ...bodyCases]
