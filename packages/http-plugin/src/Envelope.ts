/**
 * The error envelope, built in one place: `{"status":"error","error":{"code","message","details"?}}`.
 * Handlers fail with the typed errors of `Api` (`fail`), the plugin's own layers (the request gate,
 * auth, the framework-failure catch-all) answer with responses (`response`), and schema decode
 * failures become one 400 naming each field (`validation`). All three share `body`.
 *
 * @since 0.1.0
 */
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as HttpApiError from "effect/http-api/HttpApiError"
import * as SchemaIssue from "effect/SchemaIssue"
import * as Api from "./Api.ts"

/** The JSON of an error response. */
export const body = (code: string, message: string, details?: unknown) => ({
  status: "error" as const,
  error: details === undefined ? { code, message } : { code, message, details }
})

type ErrorClasses = typeof Api.errorsByStatus

/** A typed API error of the given status (the endpoint's error schema encodes it). */
export const fail = <S extends keyof ErrorClasses>(
  status: S,
  code: string,
  message: string,
  details?: unknown
): InstanceType<ErrorClasses[S]> => new Api.errorsByStatus[status](body(code, message, details)) as InstanceType<ErrorClasses[S]>

/** An error response with any status (for answers given outside an endpoint: gate, auth, router). */
export const response = (
  status: number,
  code: string,
  message: string,
  options?: { readonly details?: unknown; readonly headers?: Readonly<Record<string, string>> }
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(body(code, message, options?.details), {
    status,
    ...(options?.headers === undefined ? {} : { headers: options.headers })
  })

/** One wrong field of a request and why. */
export interface Issue {
  readonly field: string
  readonly message: string
}

/** A 400 naming one field and why. */
export const badField = (field: string, message: string): Api.BadRequest => badFields([{ field, message }])

const issuesMessage = (issues: ReadonlyArray<Issue>): string => issues.map((i) => `${i.field}: ${i.message}`).join("; ")

/** A 400 naming each wrong field and why. */
export const badFields = (issues: ReadonlyArray<Issue>): Api.BadRequest =>
  fail(400, "VALIDATION_ERROR", issuesMessage(issues), { issues })

/** `["modelIds", 0, "x"]` → `modelIds[0].x`; the empty path is the slot itself (`body`, `query`…). */
const fieldPath = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>, root: string): string => {
  let out = ""
  for (const segment of path) {
    const key = typeof segment === "object" && segment !== null ? segment.key : segment
    out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`
  }
  return out === "" ? root : out
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

const slotNames: Readonly<Record<string, string>> = { Payload: "body", Params: "path", Query: "query", Headers: "headers" }

/** A request decode failure (payload, params, query, headers) as the 400 that names each field. */
export const validation = (error: HttpApiError.HttpApiSchemaError): HttpServerResponse.HttpServerResponse => {
  const root = slotNames[error.kind] ?? "body"
  const issues = formatIssues(error.cause.issue).issues.map((i) => ({
    field: fieldPath(i.path ?? [], root),
    message: i.message
  }))
  return response(400, "VALIDATION_ERROR", issuesMessage(issues), { details: { issues } })
}
