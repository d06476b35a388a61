/** Server-Sent Events over `fetch` (an `EventSource` cannot send an `Authorization` header). */

/**
 * Read a Server-Sent Events body, calling `onMessage` with the id and data of each `message` event
 * (the default type); other events (the API's `heartbeat` keep-alives) and comments are skipped.
 */
export const readSse = async (
  body: ReadableStream<Uint8Array>,
  onMessage: (id: string | undefined, data: string) => void
): Promise<void> => {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ""
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    buffer += decoder.decode(value, { stream: true })
    let end: number
    while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "")
      let id: string | undefined
      let type = "message"
      const data: Array<string> = []
      for (const line of block.split(/\r?\n/)) {
        const value = line.slice(line.indexOf(":") + 1).replace(/^ /, "")
        if (line.startsWith("id:")) id = value
        else if (line.startsWith("event:")) type = value
        else if (line.startsWith("data:")) data.push(value)
      }
      if (type === "message" && data.length > 0 && data.join("") !== "") onMessage(id, data.join("\n"))
    }
  }
}
