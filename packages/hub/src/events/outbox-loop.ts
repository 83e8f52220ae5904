import type { FastifyBaseLogger } from 'fastify'
import type { FeedWakeup } from './feed-wakeup.js'

export interface OutboxLoop {
  /** Ends the loop: the step running now finishes, no other starts. */
  stop(): Promise<void>
  /** Ends the current sleep (or the next, if a step runs now): the worker has work of its own to do, such as a freed slot. */
  nudge(): void
}

/**
 * Runs `step` again and again in the background of a hub process, for a worker that carries the
 * outbox's events out (webhook deliveries, NATS). After a step that says there is more to do it
 * runs the next at once; otherwise it sleeps until events are committed (in any process: the
 * feed's notification) or `idleMs` passes — the timer is what brings retries that fall due and
 * claims that expired. A step that throws is logged and the loop sleeps `idleMs` before the next;
 * the loop never dies of it. It ends when stopped or when the feed closes (the hub shuts down).
 *
 * @example
 * ```ts
 * const loop = startOutboxLoop({ name: 'webhooks', wakeup: services.feed.wakeup, idleMs: 1000, log, step: () => deliverSome(db) })
 * onClosing(() => void loop.stop())
 * ```
 */
export function startOutboxLoop(o: { name: string; wakeup: FeedWakeup; idleMs: number; log: FastifyBaseLogger; step: () => Promise<boolean> }): OutboxLoop {
  const stopping = new AbortController()
  let nudged = false
  let wake: AbortController | undefined
  const run = async () => {
    // the feed closes when the hub begins to shut down: no step starts after that
    while (!stopping.signal.aborted && !o.wakeup.closed) {
      const version = o.wakeup.version
      let more = false
      try {
        more = await o.step()
      } catch (err) {
        if (stopping.signal.aborted) break
        o.log.error({ err, worker: o.name }, 'outbox worker step failed; trying again')
      }
      if (!more && !nudged) {
        wake = new AbortController()
        await o.wakeup.sleep(version, o.idleMs, AbortSignal.any([stopping.signal, wake.signal]))
        wake = undefined
      }
      nudged = false
    }
  }
  const running = run()
  return {
    async stop() {
      stopping.abort()
      await running
    },
    nudge() {
      nudged = true
      wake?.abort()
    },
  }
}
