/**
 * The emulator's request log: one record per finished exchange, newest last, bounded so long
 * benchmarks stay small. `reset` forgets the log; an exchange that began before a reset is not
 * recorded when it ends, so a test that resets sees only its own requests.
 *
 * @since 0.1.0
 */
import type { Exchange, Operation } from "./Exchange.ts"

/** One request as the emulator saw it (for tests and benchmarks; the runner never reads this). */
export interface RequestRecord {
  /** Arrival time, epoch ms (from the emulator's `Clock`). */
  readonly at: number
  readonly region: string
  /** The model id as requested (base id, profile id or ARN), when the route names one. */
  readonly modelId: string | undefined
  readonly operation: Operation
  /** HTTP status sent; 0 when the client went away before any response. */
  readonly status: number
  /** The error name (HTTP error or mid-stream exception type), if any. */
  readonly errorName: string | undefined
  readonly requestId: string
  /** The client closed the connection or stream before the response was complete. */
  readonly closedByClient: boolean
  readonly durationMs: number
}

/** A bounded request log. */
export interface RequestLog {
  /** The newest records (at most the bound), oldest first. */
  readonly entries: () => ReadonlyArray<RequestRecord>
  /** Forget every record, and every exchange in flight. */
  readonly reset: () => void
  /** Call when an exchange begins; the returned function records it when it ends. */
  readonly begin: () => (ex: Exchange) => void
}

/** A log keeping the newest `maxEntries` records. */
export const make = (maxEntries: number): RequestLog => {
  let log: Array<RequestRecord> = []
  let generation = 0
  return {
    entries: () => log.slice(-maxEntries),
    reset: () => {
      log = []
      generation++
    },
    begin: () => {
      const started = generation
      return (ex) => {
        if (started !== generation) return
        log.push({
          at: ex.at,
          region: ex.region,
          modelId: ex.modelId,
          operation: ex.operation,
          status: ex.status,
          errorName: ex.errorName,
          requestId: ex.requestId,
          closedByClient: !ex.ended,
          durationMs: performance.now() - ex.started
        })
        // Trim in batches so appending stays amortised O(1).
        if (log.length >= 2 * maxEntries) log = log.slice(-maxEntries)
      }
    }
  }
}
