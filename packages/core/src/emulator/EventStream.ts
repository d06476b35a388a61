/**
 * The AWS event-stream binary framing that Bedrock uses for `ConverseStream` and
 * `InvokeModelWithResponseStream`, as the emulator writes it and the AWS SDK reads it.
 *
 * A message is `total_length:u32 | headers_length:u32 | prelude_crc:u32 | headers | payload |
 * message_crc:u32`, big-endian, with zlib CRC-32 over the prelude and over everything before the
 * message CRC. Bedrock only sends string headers (type tag 7). The encoder reproduces the SDK's own
 * snapshot frames byte for byte (see the tests); the decoder exists so tests can inspect raw frames.
 *
 * @since 0.1.0
 */
import { crc32 as zlibCrc32 } from "node:zlib"

/** The exception types Bedrock can send inside a `ConverseStream` (union member names, lowerCamel). */
export type StreamExceptionType =
  | "internalServerException"
  | "modelStreamErrorException"
  | "validationException"
  | "throttlingException"
  | "serviceUnavailableException"
  | "modelTimeoutException"

/** One decoded event-stream message. */
export interface Message {
  readonly headers: Readonly<Record<string, string>>
  readonly payload: Uint8Array
}

/** zlib / IEEE CRC-32 of some bytes, as an unsigned 32-bit integer. */
export const crc32 = (bytes: Uint8Array): number => zlibCrc32(bytes) >>> 0

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

const STRING_TYPE = 7

const encodeHeaders = (headers: ReadonlyArray<readonly [string, string]>): Uint8Array => {
  const parts: Array<Uint8Array> = []
  for (const [name, value] of headers) {
    const n = utf8.encode(name)
    const v = utf8.encode(value)
    if (n.length > 255) throw new RangeError(`event-stream header name too long: ${name}`)
    if (v.length > 65535) throw new RangeError(`event-stream header value too long for ${name}`)
    const part = new Uint8Array(1 + n.length + 1 + 2 + v.length)
    const view = new DataView(part.buffer)
    part[0] = n.length
    part.set(n, 1)
    part[1 + n.length] = STRING_TYPE
    view.setUint16(2 + n.length, v.length)
    part.set(v, 4 + n.length)
    parts.push(part)
  }
  return concat(parts)
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** Encode one message with string headers (in the given order) and a payload. */
export const encode = (headers: ReadonlyArray<readonly [string, string]>, payload: Uint8Array): Uint8Array => {
  const h = encodeHeaders(headers)
  const total = 12 + h.length + payload.length + 4
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  view.setUint32(0, total)
  view.setUint32(4, h.length)
  view.setUint32(8, crc32(out.subarray(0, 8)))
  out.set(h, 12)
  out.set(payload, 12 + h.length)
  view.setUint32(total - 4, crc32(out.subarray(0, total - 4)))
  return out
}

/** An `event` message: `:event-type`, `:message-type: event`, `:content-type: application/json`, compact JSON body. */
export const event = (eventType: string, body: unknown): Uint8Array =>
  encode(
    [[":event-type", eventType], [":message-type", "event"], [":content-type", "application/json"]],
    utf8.encode(JSON.stringify(body))
  )

/**
 * An `exception` message; the SDK throws the matching modeled exception from the stream's async
 * iterator (any other type surfaces as an error of that name).
 */
export const exception = (
  exceptionType: StreamExceptionType | (string & {}),
  body: { readonly message: string }
): Uint8Array =>
  encode(
    [[":exception-type", exceptionType], [":message-type", "exception"], [":content-type", "application/json"]],
    utf8.encode(JSON.stringify(body))
  )

/** Split a byte buffer into messages, checking lengths and both CRCs; throws on a malformed frame. */
export const decode = (bytes: Uint8Array): ReadonlyArray<Message> => {
  const messages: Array<Message> = []
  let offset = 0
  while (offset < bytes.length) {
    if (bytes.length - offset < 16) throw new Error("truncated event-stream message")
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset)
    const total = view.getUint32(0)
    const headersLength = view.getUint32(4)
    if (total > bytes.length - offset) throw new Error("truncated event-stream message")
    const frame = bytes.subarray(offset, offset + total)
    if (crc32(frame.subarray(0, 8)) !== view.getUint32(8)) throw new Error("prelude checksum mismatch")
    if (crc32(frame.subarray(0, total - 4)) !== view.getUint32(total - 4)) throw new Error("message checksum mismatch")
    const headers: Record<string, string> = {}
    let p = 12
    const end = 12 + headersLength
    while (p < end) {
      const nameLength = frame[p]!
      const name = utf8Decoder.decode(frame.subarray(p + 1, p + 1 + nameLength))
      p += 1 + nameLength
      const type = frame[p]!
      if (type !== STRING_TYPE) throw new Error(`unsupported header type ${type}`)
      const valueLength = new DataView(frame.buffer, frame.byteOffset + p + 1).getUint16(0)
      headers[name] = utf8Decoder.decode(frame.subarray(p + 3, p + 3 + valueLength))
      p += 3 + valueLength
    }
    messages.push({ headers, payload: frame.slice(end, total - 4) })
    offset += total
  }
  return messages
}
