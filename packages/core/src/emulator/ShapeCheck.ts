/**
 * Request validation from AWS's own service models, as Bedrock's front end (Coral) does it before any
 * model sees the request: a walk over the botocore input shapes (`data/bedrock-shapes.json`, generated
 * from `service-2.json`) that collects every violated constraint — required members, string and list
 * lengths, numeric ranges, enums, patterns — and words them the way AWS does:
 * `2 validation errors detected: Value '1.5' at 'inferenceConfig.temperature' failed to satisfy
 * constraint: Member must have value less than or equal to 1; Value null at 'messages.1.member.role'
 * failed to satisfy constraint: Member must not be null`. Paths name list items 1-based with
 * `.member`, as in the captured `messages.1.member.content.2.member.image.format`.
 *
 * A value of the wrong JSON type (a string where a number belongs) is not a constraint violation:
 * AWS answers a `SerializationException` for it, reported here as {@link Checked} `serialization`.
 * Members bound to the URI, headers or query string are not part of the body and are skipped; unknown
 * body members are ignored, as AWS's JSON protocols do.
 *
 * @since 0.1.0
 */
import shapesData from "../../data/bedrock-shapes.json" with { type: "json" }

/** A structure member: its shape, and where it travels when not in the body (`uri`, `header`, `querystring`). */
export interface MemberRef {
  readonly shape: string
  readonly location?: string
  readonly locationName?: string
}

/** One botocore shape, as far as validation reads it. */
export interface Shape {
  readonly type: string
  readonly required?: ReadonlyArray<string>
  readonly members?: Readonly<Record<string, MemberRef>>
  readonly member?: { readonly shape: string }
  readonly key?: { readonly shape: string }
  readonly value?: { readonly shape: string }
  readonly min?: number
  readonly max?: number
  readonly pattern?: string
  readonly enum?: ReadonlyArray<string>
  readonly document?: boolean
}

/** The two services whose request shapes the emulator knows. */
export type Service = "runtime" | "control"

const services: Record<Service, Readonly<Record<string, Shape>>> = {
  runtime: shapesData.runtime.shapes as Readonly<Record<string, Shape>>,
  control: shapesData.control.shapes as Readonly<Record<string, Shape>>
}

/** One violated constraint. */
export interface Violation {
  /** Coral's path: `inferenceConfig.temperature`, `messages.1.member.content.2.member.text`. */
  readonly path: string
  /** The value as AWS prints it after `Value` (`'1.5'`, `null`). */
  readonly shown: string
  readonly constraint: string
}

/** What a check found: nothing, constraint violations, or a value of the wrong type. */
export type Checked =
  | { readonly _tag: "valid" }
  | { readonly _tag: "invalid"; readonly violations: ReadonlyArray<Violation> }
  | { readonly _tag: "serialization"; readonly path: string; readonly expected: string }

const patterns = new Map<string, RegExp>()
/** Coral matches a pattern against the whole value. */
const fullMatch = (pattern: string): RegExp => {
  let re = patterns.get(pattern)
  if (re === undefined) {
    re = new RegExp(`^(?:${pattern})$`)
    patterns.set(pattern, re)
  }
  return re
}

/** A value as Java's `toString` prints it in Coral's messages. */
const show = (value: unknown, type: string): string => {
  if (value === null || value === undefined) return "null"
  if (typeof value === "number") {
    return `'${(type === "float" || type === "double") && Number.isInteger(value) ? `${value}.0` : value}'`
  }
  if (Array.isArray(value)) return `'[${value.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(", ")}]'`
  if (typeof value === "object") return `'${JSON.stringify(value)}'`
  return `'${String(value)}'`
}

const join = (path: string, name: string) => (path === "" ? name : `${path}.${name}`)

class WrongType {
  readonly path: string
  readonly expected: string
  constructor(path: string, expected: string) {
    this.path = path
    this.expected = expected
  }
}

const jsonType: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === "string",
  blob: (v) => typeof v === "string",
  boolean: (v) => typeof v === "boolean",
  integer: (v) => typeof v === "number" && Number.isInteger(v),
  long: (v) => typeof v === "number" && Number.isInteger(v),
  float: (v) => typeof v === "number",
  double: (v) => typeof v === "number",
  timestamp: (v) => typeof v === "number" || typeof v === "string",
  structure: (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  map: (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  list: (v) => Array.isArray(v)
}

const lengthOf = (shape: Shape, value: unknown): number =>
  shape.type === "blob" ? Buffer.from(value as string, "base64").length : [...(value as string)].length

/** The `min` / `max` length constraints of strings, blobs, lists and maps. */
const lengthWithin = ({ max, min }: Shape, length: number, violate: (constraint: string) => void): void => {
  if (min !== undefined && length < min) violate(`Member must have length greater than or equal to ${min}`)
  if (max !== undefined && length > max) violate(`Member must have length less than or equal to ${max}`)
}

/** Walk `value` against `name`, pushing violations; throws {@link WrongType} on a type mismatch. */
const walk = (
  shapes: Readonly<Record<string, Shape>>,
  name: string,
  value: unknown,
  path: string,
  out: Array<Violation>
): void => {
  const shape = shapes[name]
  if (shape === undefined) throw new Error(`unknown shape ${name}`)
  if (shape.document === true) return
  if (!(jsonType[shape.type] ?? (() => true))(value)) throw new WrongType(path, shape.type)
  const violate = (constraint: string) => out.push({ path, shown: show(value, shape.type), constraint })
  switch (shape.type) {
    case "string":
    case "blob": {
      lengthWithin(shape, lengthOf(shape, value), violate)
      if (shape.enum !== undefined && !shape.enum.includes(value as string)) {
        violate(`Member must satisfy enum value set: [${shape.enum.join(", ")}]`)
      }
      if (shape.pattern !== undefined && !fullMatch(shape.pattern).test(value as string)) {
        violate(`Member must satisfy regular expression pattern: ${shape.pattern}`)
      }
      return
    }
    case "integer":
    case "long":
    case "float":
    case "double": {
      const n = value as number
      const { max, min } = shape
      if (min !== undefined && n < min) violate(`Member must have value greater than or equal to ${min}`)
      if (max !== undefined && n > max) violate(`Member must have value less than or equal to ${max}`)
      return
    }
    case "list": {
      const items = value as ReadonlyArray<unknown>
      lengthWithin(shape, items.length, violate)
      items.forEach((item, i) => {
        if (item !== null) walk(shapes, shape.member!.shape, item, `${path}.${i + 1}.member`, out)
      })
      return
    }
    case "map": {
      const entries = Object.entries(value as Record<string, unknown>)
      lengthWithin(shape, entries.length, violate)
      for (const [key, item] of entries) {
        walk(shapes, shape.key!.shape, key, join(path, key), out)
        if (item !== null) walk(shapes, shape.value!.shape, item, join(path, key), out)
      }
      return
    }
    case "structure": {
      const record = value as Record<string, unknown>
      for (const [member, ref] of Object.entries(shape.members ?? {})) {
        if (ref.location !== undefined) continue
        const v = record[member]
        if (v === undefined || v === null) {
          if (shape.required?.includes(member)) {
            out.push({ path: join(path, member), shown: "null", constraint: "Member must not be null" })
          }
          continue
        }
        walk(shapes, ref.shape, v, join(path, member), out)
      }
      return
    }
  }
}

/** Check `value` against the input shape `name` of `service`; `path` prefixes the paths (a query member's name). */
export const check = (service: Service, name: string, value: unknown, path = ""): Checked => {
  const violations: Array<Violation> = []
  try {
    walk(services[service], name, value, path, violations)
  } catch (error) {
    if (error instanceof WrongType) return { _tag: "serialization", path: error.path, expected: error.expected }
    throw error
  }
  return violations.length === 0 ? { _tag: "valid" } : { _tag: "invalid", violations }
}

/** AWS's wording of a list of violations. */
export const message = (violations: ReadonlyArray<Violation>): string =>
  `${violations.length} validation error${violations.length === 1 ? "" : "s"} detected: ` +
  violations.map((v) => `Value ${v.shown} at '${v.path}' failed to satisfy constraint: ${v.constraint}`).join("; ")

/**
 * The query-string members of the input structure `name`, read from `params` (numbers parsed) and
 * checked together, as AWS reports them: by member name, every violation in one message.
 */
export const checkQuery = (
  service: Service,
  name: string,
  params: URLSearchParams
): { readonly checked: Checked; readonly values: Readonly<Record<string, unknown>> } => {
  const shapes = services[service]
  const values: Record<string, unknown> = {}
  const violations: Array<Violation> = []
  for (const [member, ref] of Object.entries(shapes[name]?.members ?? {})) {
    const raw = ref.location === "querystring" ? params.get(ref.locationName ?? member) : null
    if (raw === null) continue
    const numeric = ["integer", "long", "float", "double"].includes(shapes[ref.shape]!.type)
    const value = numeric ? Number(raw) : raw
    if (numeric && (raw.trim() === "" || Number.isNaN(value))) {
      return { checked: { _tag: "serialization", path: member, expected: shapes[ref.shape]!.type }, values }
    }
    const checked = check(service, ref.shape, value, member)
    if (checked._tag === "serialization") return { checked, values }
    if (checked._tag === "invalid") violations.push(...checked.violations)
    values[member] = value
  }
  return { checked: violations.length === 0 ? { _tag: "valid" } : { _tag: "invalid", violations }, values }
}
