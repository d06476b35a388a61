import { assert, describe, it } from "@effect/vitest"
import * as EventStream from "../../src/emulator/EventStream.ts"

// The five frames verified against the AWS SDK's own snapshot bytes (reference REPORT §1.5).
const vectors = [
  {
    type: "messageStart", body: { role: "__role__" },
    total: 117, headers: 82, prelude: 3514138638, message: 4090186464
  },
  {
    type: "contentBlockStop", body: { contentBlockIndex: 0 },
    total: 125, headers: 86, prelude: 3865579478, message: 1480746266
  },
  { type: "chunk", body: {}, total: 93, headers: 75, prelude: 1152338955, message: 2235761731 },
  { type: "chunk", body: { bytes: "AQAAAQ==" }, total: 111, headers: 75, prelude: 2672732141, message: 3888096204 },
  {
    type: "throttlingException", body: { message: "__message__" },
    total: 130, headers: 89, prelude: 3165902283, message: 277105475
  }
] as const

describe("EventStream", () => {
  for (const v of vectors) {
    it(`encodes the SDK snapshot frame ${v.type} ${JSON.stringify(v.body)} byte for byte`, () => {
      const frame = EventStream.event(v.type, v.body)
      const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
      assert.strictEqual(frame.length, v.total)
      assert.strictEqual(view.getUint32(0), v.total)
      assert.strictEqual(view.getUint32(4), v.headers)
      assert.strictEqual(view.getUint32(8), v.prelude)
      assert.strictEqual(view.getUint32(v.total - 4), v.message)
    })
  }

  it("crc32 is zlib's CRC-32", () => {
    assert.strictEqual(EventStream.crc32(new TextEncoder().encode("123456789")), 0xcbf43926)
  })

  it("decode reads back headers and payload of concatenated frames", () => {
    const bytes = new Uint8Array([
      ...EventStream.event("contentBlockDelta", { delta: { text: "héllo" }, contentBlockIndex: 0 }),
      ...EventStream.exception("throttlingException", { message: "slow down" })
    ])
    const [first, second] = EventStream.decode(bytes)
    assert.deepStrictEqual(first!.headers, {
      ":event-type": "contentBlockDelta",
      ":message-type": "event",
      ":content-type": "application/json"
    })
    assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(first!.payload)), {
      delta: { text: "héllo" },
      contentBlockIndex: 0
    })
    assert.strictEqual(second!.headers[":message-type"], "exception")
    assert.strictEqual(second!.headers[":exception-type"], "throttlingException")
  })

  it("decode rejects a frame whose payload was corrupted", () => {
    const frame = EventStream.event("messageStop", { stopReason: "end_turn" })
    frame[frame.length - 6]! ^= 0xff
    assert.throws(() => EventStream.decode(frame), /message checksum/)
  })

  it("decode rejects a frame whose prelude was corrupted", () => {
    const frame = EventStream.event("messageStop", { stopReason: "end_turn" })
    frame[5]! ^= 0x01
    assert.throws(() => EventStream.decode(frame), /prelude checksum/)
  })
})
