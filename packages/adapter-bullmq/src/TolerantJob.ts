/**
 * The BullMQ Worker and Queue classes the adapter uses, tolerant of poison payloads (issue 15).
 *
 * BullMQ parses a job's `data` with `JSON.parse` while it moves the job to active, outside any
 * processor: a payload that is not JSON throws there, the job stays active without a lock renewal,
 * and the stalled check hands it out again and again (and every getter that reads the job throws).
 * These classes build such a job with the raw text under `undecodable` instead, so the processor
 * sees it, fails to decode it as a unit message and dead-letters it at once.
 *
 * @since 0.1.0
 */
import { Job, Queue, Worker } from "bullmq"

/** The payload put in place of data that is not JSON (never a valid unit message). */
export interface Undecodable {
  readonly undecodable: string
}

class TolerantJob extends Job {
  /**
   * Issue 15: move the active job to delayed until `timestamp` on the *queue's* clock (Redis time),
   * spending no attempt. BullMQ's own `moveToDelayed` stamps the score from this process's clock, so a
   * worker an hour ahead would park the unit for an hour.
   */
  deferUntil(timestamp: number, delay: number, token?: string): Promise<unknown> {
    return this.backend.moveToDelayed(this.id!, timestamp, Math.max(0, delay), token, { skipAttempt: true })
  }

  static override fromJSON<T = any, R = any, N extends string = string>(
    ...[queue, json, jobId]: Parameters<typeof Job.fromJSON>
  ): Job<T, R, N> {
    // Driver code, not Effect code: BullMQ's own parse throws, and this is the only place to catch it.
    try {
      return super.fromJSON<T, R, N>(queue, json, jobId)
    } catch {
      const raw = String(json.data ?? "")
      const data: Undecodable = { undecodable: raw.length > 500 ? `${raw.slice(0, 500)}…` : raw }
      return super.fromJSON<T, R, N>(queue, { ...json, data: JSON.stringify(data) }, jobId)
    }
  }
}

/** What the adapter's Worker hands its processor: a job that can be deferred on Redis time. */
export interface DeferrableJob extends Job {
  readonly deferUntil: (timestamp: number, delay: number, token?: string) => Promise<unknown>
}

/** Whether `job` was built by these classes (always, for jobs of a {@link UnitWorker}). */
export const isDeferrable = (job: Job): job is DeferrableJob => job instanceof TolerantJob

/** A BullMQ `Worker` whose jobs survive a `data` that is not JSON. */
export class UnitWorker extends Worker {
  protected override get Job(): typeof Job {
    // The subclass only replaces the static parse; its generics cannot be restated for TypeScript.
    return TolerantJob as unknown as typeof Job
  }
}

/** A BullMQ `Queue` whose getters survive a `data` that is not JSON. */
export class UnitQueue extends Queue {
  protected override get Job(): typeof Job {
    return TolerantJob as unknown as typeof Job
  }
}
