/**
 * The one validation layer for text that reaches the API: path parameters, query parameters, JSON
 * string fields and headers all decode through these schemas, so every endpoint refuses the same
 * things with the same message. Client-safe (no server code), so a typed client validates alike.
 *
 * Every text input is refused when it holds control characters (NUL, line breaks, DEL, C1),
 * invisible or bidirectional formatting characters (which make an echoed id read differently),
 * unpaired UTF-16 surrogates, or leading/trailing whitespace — padding is rejected, never trimmed
 * silently — or when it is longer than its field allows. Pagination takes strict decimal integers
 * (`0x10`, `1e2`, `+3`, ` 4` and `010` are refused). Messages never echo the raw value unescaped:
 * values are quoted with `JSON.stringify` and cut to a short prefix.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { Domain } from "@myia/certification/schemas"

// C0 controls (NUL, TAB, CR, LF…), DEL and C1 controls.
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/
// Invisible and bidirectional formatting characters (zero-width, LRM/RLM, embeddings/overrides, isolates, BOM).
const formatCharacters = /[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** A value as a message may show it: JSON-quoted (control characters escaped) and at most 40 characters. */
export const quote = (value: string): string => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)

/** Why a text input is refused, or `undefined` when it is acceptable. */
export const textIssue = (value: string, maxLength: number): string | undefined =>
  value.length > maxLength
    ? `must be at most ${maxLength} characters (got ${value.length})`
    : controlCharacters.test(value)
    ? "must not contain control characters (NUL, line breaks, tabs…)"
    : formatCharacters.test(value)
    ? "must not contain invisible or bidirectional formatting characters"
    : loneSurrogate.test(value)
    ? "must be well-formed Unicode text"
    : value.trim() !== value
    ? `must not have leading or trailing whitespace (got ${quote(value)})`
    : undefined

/** A string input of at most `maxLength` characters that passes {@link textIssue}. */
export const Text = (maxLength: number) =>
  Schema.String.check(Schema.makeFilter((s: string) => textIssue(s, maxLength)))

/** A model id (Bedrock or the host's own): clean text, then the domain's rules (non-empty, no whitespace, ≤ 256). */
export const ModelIdInput = Text(256).pipe(Schema.decodeTo(Domain.ModelId))

/** A Bedrock region code (`us-east-1`). */
export const RegionInput = Text(32).pipe(Schema.decodeTo(Domain.Region))

/** A job id path parameter: letters, digits, `_` or `-`, at most 64. */
export const JobIdInput = Text(64).pipe(Schema.decodeTo(Domain.JobId))

/** A unit id path parameter: letters, digits, `_` or `-`, at most 64. */
export const UnitIdInput = Text(64).pipe(Schema.decodeTo(Domain.UnitId))

/**
 * An `Idempotency-Key` header: 1–255 visible ASCII characters (a UUID is the usual choice). The same
 * key with the same body answers the first job again; with another body it is a 409.
 */
export const IdempotencyKey = Schema.String.check(
  Schema.makeFilter((s: string) =>
    /^[\x21-\x7e]{1,255}$/.test(s) ? undefined : "must be 1-255 visible ASCII characters (no spaces)"
  )
)

/** A strict decimal integer ≥ 1 from a query string: digits only, no sign, no leading zero, at most 9 digits. */
export const PositiveIntFromString = Schema.String.check(
  Schema.makeFilter((s: string) =>
    /^[1-9][0-9]{0,8}$/.test(s) ? undefined : `must be a whole number of at least 1 written in decimal digits (got ${quote(s)})`
  )
).pipe(Schema.decodeTo(Schema.Int, SchemaTransformation.numberFromString))

/**
 * A `Last-Event-ID` header (issue 18): the sequence number of the last progress event the client
 * saw — decimal digits, `0` or no leading zero, at most 9 digits.
 */
export const EventIdFromString = Schema.String.check(
  Schema.makeFilter((s: string) =>
    /^(0|[1-9][0-9]{0,8})$/.test(s)
      ? undefined
      : `must be the id of an event of this stream (decimal digits; got ${quote(s)})`
  )
).pipe(Schema.decodeTo(Schema.Int, SchemaTransformation.numberFromString))
