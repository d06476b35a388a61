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
import type { Redis } from "ioredis"

/** The payload put in place of data that is not JSON (never a valid unit message). */
export interface Undecodable {
  readonly undecodable: string
}

class TolerantJob extends Job {
  /**
   * Move the active job to delayed for `delay` milliseconds, spending no attempt. The score is
   * stamped by BullMQ from this process's `Date.now` — the clock BullMQ's own promotion of delayed
   * jobs (the timestamp every worker passes to its scripts) reads. Issue 10: placing it on Redis's
   * clock instead made every delay collapse to 0 when the workers' clocks are ahead of Redis's; the
   * bound for a clock far ahead is {@link UnitQueue.promoteBeyond}, swept by every consumer.
   */
  deferBy(delay: number, token?: string): Promise<unknown> {
    // Driver code: the same timestamp BullMQ's `moveToDelayed` and `moveToActive` stamp.
    return this.backend.moveToDelayed(this.id!, Date.now(), Math.max(0, delay), token, { skipAttempt: true })
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

/** What the adapter's Worker hands its processor: a job that can be deferred without spending an attempt. */
export interface DeferrableJob extends Job {
  readonly deferBy: (delay: number, token?: string) => Promise<unknown>
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

/** BullMQ 5/6 scores a delayed job `timestamp * 0x1000 + counter` (see its `getDelayedScore.lua`). */
const delayedScoreOf = (timestamp: number) => timestamp * 0x1000

/** A BullMQ `Queue` whose getters survive a `data` that is not JSON. */
export class UnitQueue extends Queue {
  protected override get Job(): typeof Job {
    return TolerantJob as unknown as typeof Job
  }

  /**
   * Issue 10 / 15: promote (to waiting, at once) up to `limit` delayed jobs due more than
   * `horizonMillis` after now on this process's clock (`Date.now`, the clock BullMQ stamps and
   * promotes delayed jobs by). A process whose clock is ahead stamps scores in the future of the
   * others; every consumer sweeping with `horizon = maxDelay` keeps such a unit from waiting much
   * longer than the bound. Returns how many jobs it promoted (a job another process promoted or
   * removed in between is skipped). `client` is the connection the queue was built on.
   */
  async promoteBeyond(client: Redis, horizonMillis: number, limit: number): Promise<number> {
    // Due at `now + horizon` at the latest: every score of a later millisecond is beyond it.
    const min = delayedScoreOf(Date.now() + Math.max(0, Math.floor(horizonMillis)) + 1)
    const ids = await client.zrangebyscore(this.keys.delayed!, min, "+inf", "LIMIT", 0, Math.max(1, limit))
    let promoted = 0
    for (const id of ids) {
      // BullMQ's own promote script: ZREM (a no-op -3 when the job already left delayed), push, marker, event.
      promoted += await this.backend.promote(id).then(() => 1, () => 0)
    }
    return promoted
  }
}
