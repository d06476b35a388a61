/**
 * A checker of HTTP responses against AWS's own service models (the botocore `service-2.json` files in
 * `test/fixtures/botocore/`, documentation stripped): what a strict client such as boto3 parses.
 *
 * For a 2xx answer: the status is the operation's `responseCode`; the output structure's body members
 * are walked (members, required, unions with exactly one member set, types, enums, lists, maps,
 * timestamps in the shape's format, base64 blobs), required header members are present, a blob
 * payload is left alone, and an event-stream payload is split into frames whose `:event-type` (or
 * `:exception-type`) must be a member of the stream's union and whose payload is walked against that
 * member's shape. For an error: the `x-amzn-ErrorType` name must be one of the operation's modeled
 * errors (with its status and body shape) or one of AWS's common unmodeled errors.
 *
 * Enum values that real Bedrock sends although the model lacks them are accepted only from an
 * explicit, sourced list (`extensions`), so the list is the place to look when the model and the
 * service disagree.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as EventStream from "../../src/emulator/EventStream.ts"

interface Ref {
  readonly shape: string
  readonly location?: string
  readonly locationName?: string
}

/** A botocore shape, as far as the checker reads it. */
export interface Shape {
  readonly type: string
  readonly members?: Readonly<Record<string, Ref>>
  readonly required?: ReadonlyArray<string>
  readonly member?: Ref
  readonly key?: Ref
  readonly value?: Ref
  readonly enum?: ReadonlyArray<string>
  readonly union?: boolean
  readonly document?: boolean
  readonly eventstream?: boolean
  readonly exception?: boolean
  readonly payload?: string
  readonly timestampFormat?: string
  readonly error?: { readonly httpStatusCode: number }
}

/** A botocore operation. */
export interface Operation {
  readonly http: { readonly method: string; readonly requestUri: string; readonly responseCode?: number }
  readonly input?: Ref
  readonly output?: Ref
  readonly errors?: ReadonlyArray<Ref>
}

/** A service model. */
export interface Model {
  readonly operations: Readonly<Record<string, Operation>>
  readonly shapes: Readonly<Record<string, Shape>>
}

const fixtures = fileURLToPath(new URL("../fixtures/botocore/", import.meta.url))

/** Load a model from the fixtures (`bedrock-runtime-service-2.json`, `bedrock-service-2.json`). */
export const load = (file: string): Model => JSON.parse(readFileSync(`${fixtures}${file}`, "utf8")) as Model

/** One mismatch between a value and its shape. */
export interface Problem {
  readonly path: string
  readonly problem: string
}

/** Extra enum values per enum shape, each observed in real Bedrock answers. */
export type Extensions = Readonly<Record<string, ReadonlyArray<string>>>

const kind = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v)

const isBase64 = (s: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0

/** Walk `value` against shape `name`, collecting problems. */
export const walk = (
  model: Model,
  name: string,
  value: unknown,
  path: string,
  extensions: Extensions = {}
): Array<Problem> => {
  const shape = model.shapes[name]
  if (shape === undefined) return [{ path, problem: `the model has no shape ${name}` }]
  const out: Array<Problem> = []
  const problem = (p: string, what: string) => out.push({ path: p, problem: what })
  const expect = (ok: boolean, what: string) => {
    if (!ok)
      problem(path, `${what} expected (shape ${name}), got ${kind(value)} ${JSON.stringify(value)?.slice(0, 80)}`)
    return ok
  }
  if (shape.document === true) return out
  switch (shape.type) {
    case "structure": {
      if (!expect(kind(value) === "object", "an object")) return out
      const record = value as Record<string, unknown>
      const members = shape.members ?? {}
      const set = Object.keys(record).filter((k) => record[k] !== null && record[k] !== undefined)
      for (const key of Object.keys(record)) {
        const ref = members[key]
        if (ref === undefined) problem(`${path}.${key}`, `not a member of ${name}`)
        else if (ref.location !== undefined) problem(`${path}.${key}`, `a ${ref.location} member sent in the body`)
        else if (record[key] !== null) out.push(...walk(model, ref.shape, record[key], `${path}.${key}`, extensions))
      }
      for (const req of shape.required ?? []) {
        if (members[req]?.location === undefined && !set.includes(req))
          problem(`${path}.${req}`, `required by ${name}, missing`)
      }
      if (shape.union === true && set.length !== 1)
        problem(path, `union ${name} must have exactly one member set, has ${set.length}`)
      return out
    }
    case "list": {
      if (!expect(Array.isArray(value), "an array")) return out
      const items = value as ReadonlyArray<unknown>
      items.forEach((item, i) => out.push(...walk(model, shape.member!.shape, item, `${path}[${i}]`, extensions)))
      return out
    }
    case "map": {
      if (!expect(kind(value) === "object", "an object (map)")) return out
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        out.push(...walk(model, shape.key!.shape, k, `${path}{${k}}`, extensions))
        out.push(...walk(model, shape.value!.shape, v, `${path}.${k}`, extensions))
      }
      return out
    }
    case "string": {
      if (!expect(typeof value === "string", "a string")) return out
      const allowed = shape.enum === undefined ? undefined : [...shape.enum, ...(extensions[name] ?? [])]
      if (allowed !== undefined && !allowed.includes(value as string)) {
        problem(path, `${JSON.stringify(value)} is not a value of enum ${name} [${shape.enum!.join(", ")}]`)
      }
      return out
    }
    case "integer":
    case "long":
      expect(typeof value === "number" && Number.isInteger(value), "an integer")
      return out
    case "float":
    case "double":
      expect(typeof value === "number", "a number")
      return out
    case "boolean":
      expect(typeof value === "boolean", "a boolean")
      return out
    case "blob":
      expect(typeof value === "string" && isBase64(value), "a base64 string")
      return out
    case "timestamp": {
      // rest-json bodies carry epoch seconds unless the shape says otherwise.
      if (shape.timestampFormat === "iso8601") {
        expect(
          typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value),
          "an ISO 8601 string"
        )
      } else {
        expect(typeof value === "number", "epoch seconds")
      }
      return out
    }
    default:
      problem(path, `shape type ${shape.type} is not handled by the checker`)
      return out
  }
}

/** AWS's common errors that no operation models (credentials, signing, routing, serialization). */
export const commonErrors: ReadonlyArray<string> = [
  "UnrecognizedClientException",
  "ExpiredTokenException",
  "InvalidSignatureException",
  "MissingAuthenticationTokenException",
  "IncompleteSignature",
  "UnknownOperationException",
  "SerializationException"
]

/** A response as it came off the wire. */
export interface WireResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

const json = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes))

const checkStream = (model: Model, union: string, body: Uint8Array, extensions: Extensions): Array<Problem> => {
  const shape = model.shapes[union]!
  const out: Array<Problem> = []
  EventStream.decode(body).forEach((frame, i) => {
    const type = frame.headers[":message-type"]
    const member = type === "event" ? frame.headers[":event-type"] : frame.headers[":exception-type"]
    const ref = member === undefined ? undefined : shape.members?.[member]
    const at = `frame[${i}](${member})`
    if (type !== "event" && type !== "exception")
      out.push({ path: at, problem: `:message-type ${type} is neither event nor exception` })
    else if (ref === undefined) out.push({ path: at, problem: `not a member of the stream union ${union}` })
    else if ((model.shapes[ref.shape]?.exception === true) !== (type === "exception")) {
      out.push({ path: at, problem: `${member} sent as ${type}` })
    } else out.push(...walk(model, ref.shape, json(frame.payload), at, extensions))
  })
  return out
}

const checkSuccess = (model: Model, op: Operation, res: WireResponse, extensions: Extensions): Array<Problem> => {
  const out: Array<Problem> = []
  if (res.status !== (op.http.responseCode ?? 200))
    out.push({ path: "status", problem: `${res.status}, the model says ${op.http.responseCode ?? 200}` })
  if (op.output === undefined) return out
  const shape = model.shapes[op.output.shape]!
  for (const [name, ref] of Object.entries(shape.members ?? {})) {
    if (
      ref.location === "header" &&
      shape.required?.includes(name) &&
      res.headers[ref.locationName!.toLowerCase()] === undefined
    ) {
      out.push({ path: `header ${ref.locationName}`, problem: `required by ${op.output.shape}, missing` })
    }
  }
  const payload = shape.payload === undefined ? undefined : shape.members![shape.payload]!
  if (payload !== undefined) {
    const target = model.shapes[payload.shape]!
    if (target.eventstream === true) return [...out, ...checkStream(model, payload.shape, res.body, extensions)]
    if (target.type === "blob") return out
    return [...out, ...walk(model, payload.shape, json(res.body), "body", extensions)]
  }
  const body = res.body.length === 0 ? {} : json(res.body)
  return [...out, ...walk(model, op.output.shape, body, "body", extensions)]
}

/** Every problem of one response of `operation` against `model`. */
export const checkResponse = (
  model: Model,
  operation: string,
  res: WireResponse,
  extensions: Extensions = {}
): Array<Problem> => {
  const op = model.operations[operation]
  if (op === undefined) return [{ path: operation, problem: "not an operation of the model" }]
  if (res.status < 300) return checkSuccess(model, op, res, extensions)
  const name = (res.headers["x-amzn-errortype"] ?? "").split(":")[0]!
  if (commonErrors.includes(name)) return []
  const modeled = (op.errors ?? []).find((e) => e.shape === name)
  if (modeled === undefined)
    return [{ path: "x-amzn-ErrorType", problem: `${name || "(none)"} is not an error of ${operation}` }]
  const status = model.shapes[name]!.error?.httpStatusCode
  const out: Array<Problem> =
    status === res.status ? [] : [{ path: "status", problem: `${res.status} for ${name}, the model says ${status}` }]
  return [...out, ...walk(model, name, json(res.body), "body", extensions)]
}
