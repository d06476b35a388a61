/**
 * The model-native body schemas of `InvokeModel`, and Bedrock's wording when a body breaks one.
 *
 * Bedrock checks an InvokeModel body against the model family's JSON Schema (with the everit
 * validator) and answers `Malformed input request: <issues>, please reformat your input and try
 * again.`, the issues concatenated as the captured answers show them:
 * `#: subject must not be valid against schema {"required":["messages"]}#: extraneous key [stream] is
 * not permitted` or `#/messages/1/content: expected type: String, found: JSONArray`. This module is a
 * small JSON Schema subset (objects, arrays, strings, numbers, booleans, enums, bounds, `anyOf`) with
 * everit's messages, enough to describe each family in `InvokeFamilies` as data.
 *
 * @since 0.1.0
 */
import { wire, type WireError } from "./WireError.ts"

/** A schema node. Objects refuse keys they do not list unless `additional` is true. */
export type Schema =
  | {
    readonly type: "object"
    readonly properties?: Readonly<Record<string, Schema>>
    readonly required?: ReadonlyArray<string>
    readonly additional?: boolean
  }
  | { readonly type: "array"; readonly items?: Schema; readonly minItems?: number; readonly maxItems?: number }
  | { readonly type: "string"; readonly enum?: ReadonlyArray<string>; readonly minLength?: number }
  | {
    readonly type: "integer" | "number"
    readonly minimum?: number
    readonly maximum?: number
    readonly enum?: ReadonlyArray<number>
  }
  | { readonly type: "boolean" }
  | { readonly anyOf: ReadonlyArray<Schema> }
  | { readonly type: "any" }

/** Shorthands for the family tables. */
export const str: Schema = { type: "string" }
export const bool: Schema = { type: "boolean" }
export const any: Schema = { type: "any" }
export const int = (minimum?: number, maximum?: number): Schema => ({ type: "integer", ...bounds(minimum, maximum) })
export const num = (minimum?: number, maximum?: number): Schema => ({ type: "number", ...bounds(minimum, maximum) })
export const oneOf = (...values: ReadonlyArray<string>): Schema => ({ type: "string", enum: values })
export const oneOfInts = (...values: ReadonlyArray<number>): Schema => ({ type: "integer", enum: values })
export const list = (items: Schema, minItems?: number): Schema =>
  ({ type: "array", items, ...(minItems === undefined ? {} : { minItems }) })
export const object = (
  properties: Readonly<Record<string, Schema>>,
  required: ReadonlyArray<string> = [],
  additional = false
): Schema => ({ type: "object", properties, required, additional })
export const openObject: Schema = { type: "object", additional: true }

const bounds = (minimum: number | undefined, maximum: number | undefined) => ({
  ...(minimum === undefined ? {} : { minimum }),
  ...(maximum === undefined ? {} : { maximum })
})

/** The Java class everit names for a JSON value. */
const javaType = (value: unknown): string =>
  value === null
    ? "Null"
    : Array.isArray(value)
    ? "JSONArray"
    : typeof value === "object"
    ? "JSONObject"
    : typeof value === "string"
    ? "String"
    : typeof value === "boolean"
    ? "Boolean"
    : Number.isInteger(value)
    ? "Integer"
    : "BigDecimal"

const expectedName = {
  object: "JSONObject",
  array: "JSONArray",
  string: "String",
  integer: "Integer",
  number: "Number",
  boolean: "Boolean"
} as const

const isType = (type: keyof typeof expectedName, value: unknown): boolean =>
  type === "object"
    ? typeof value === "object" && value !== null && !Array.isArray(value)
    : type === "array"
    ? Array.isArray(value)
    : type === "integer"
    ? typeof value === "number" && Number.isInteger(value)
    : typeof value === type

/** Every issue of `value` against `schema`, in everit's wording, at JSON pointer `at` (`#`, `#/messages/0`). */
export const issues = (schema: Schema, value: unknown, at = "#"): ReadonlyArray<string> => {
  if ("anyOf" in schema) {
    const branches = schema.anyOf.map((s) => issues(s, value, at))
    return branches.some((b) => b.length === 0) ? [] : branches.flat()
  }
  if (schema.type === "any") return []
  if (!isType(schema.type, value)) {
    return [`${at}: expected type: ${expectedName[schema.type]}, found: ${javaType(value)}`]
  }
  switch (schema.type) {
    case "object": {
      const record = value as Record<string, unknown>
      const out: Array<string> = []
      for (const key of schema.required ?? []) if (!(key in record)) out.push(`${at}: required key [${key}] not found`)
      for (const [key, v] of Object.entries(record)) {
        const property = schema.properties?.[key]
        if (property !== undefined) out.push(...issues(property, v, `${at}/${key}`))
        else if (schema.additional !== true) out.push(`${at}: extraneous key [${key}] is not permitted`)
      }
      return out
    }
    case "array": {
      const items = value as ReadonlyArray<unknown>
      const out: Array<string> = []
      if (schema.minItems !== undefined && items.length < schema.minItems) {
        out.push(`${at}: expected minimum item count: ${schema.minItems}, found: ${items.length}`)
      }
      if (schema.maxItems !== undefined && items.length > schema.maxItems) {
        out.push(`${at}: expected maximum item count: ${schema.maxItems}, found: ${items.length}`)
      }
      if (schema.items !== undefined) items.forEach((item, i) => out.push(...issues(schema.items!, item, `${at}/${i}`)))
      return out
    }
    case "string": {
      const s = value as string
      if (schema.enum !== undefined && !schema.enum.includes(s)) return [`${at}: ${s} is not a valid enum value`]
      if (schema.minLength !== undefined && s.length < schema.minLength) {
        return [`${at}: expected minLength: ${schema.minLength}, actual: ${s.length}`]
      }
      return []
    }
    case "integer":
    case "number": {
      const n = value as number
      if (schema.enum !== undefined && !schema.enum.includes(n)) return [`${at}: ${n} is not a valid enum value`]
      const { maximum, minimum } = schema
      if (minimum !== undefined && n < minimum) return [`${at}: ${n} is not greater or equal to ${minimum}`]
      if (maximum !== undefined && n > maximum) return [`${at}: ${n} is not less or equal to ${maximum}`]
      return []
    }
    case "boolean":
      return []
  }
}

/** Bedrock's ValidationException for a body with these issues. */
export const malformed = (found: ReadonlyArray<string>): WireError =>
  wire(
    400,
    "ValidationException",
    `Malformed input request: ${found.join("")}, please reformat your input and try again.`
  )
