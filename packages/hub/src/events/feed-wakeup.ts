/** Why a wait ended. */
export type WakeReason = 'notified' | 'timeout' | 'closed' | 'aborted'

/**
 * Where the readers of the feed that wait (`GET /events?wait=`) sleep in one hub process, and
 * what wakes them: `notify()` — called when a transaction that wrote events committed, by this
 * process or another — wakes every one of them; `close()` (the hub shuts down) wakes them for
 * good. A waiter holds no connection and no transaction, only a timer.
 *
 * A notification that comes while a reader is reading (between its read and its sleep) is not
 * lost: the reader takes the `version` before it reads and `sleep` returns at once when it moved.
 *
 * @example
 * ```ts
 * const version = wakeup.version
 * const page = await read()
 * if (page.data.length === 0) await wakeup.sleep(version, 2000, signal)
 * ```
 */
export function createFeedWakeup() {
  const sleepers = new Set<(reason: WakeReason) => void>()
  let version = 0
  let closed = false
  const wakeAll = (reason: WakeReason) => {
    for (const wake of [...sleepers]) wake(reason)
  }
  return {
    /** Moves with every notification. */
    get version(): number {
      return version
    },
    get closed(): boolean {
      return closed
    },
    /** Readers sleeping now. */
    get sleeping(): number {
      return sleepers.size
    },
    /** Events were committed: wakes every sleeper. */
    notify(): void {
      version++
      wakeAll('notified')
    },
    /** The hub shuts down: wakes every sleeper, and later sleeps end at once. */
    close(): void {
      closed = true
      wakeAll('closed')
    },
    /**
     * Sleeps until a notification after `since` (a `version` taken before the caller read), `ms`
     * milliseconds, the hub's shutdown or `signal`, whichever comes first.
     */
    sleep(since: number, ms: number, signal?: AbortSignal): Promise<WakeReason> {
      if (closed) return Promise.resolve('closed')
      if (signal?.aborted) return Promise.resolve('aborted')
      if (version !== since) return Promise.resolve('notified')
      return new Promise((resolve) => {
        const done = (reason: WakeReason) => {
          clearTimeout(timer)
          sleepers.delete(done)
          signal?.removeEventListener('abort', onAbort)
          resolve(reason)
        }
        const onAbort = () => done('aborted')
        const timer = setTimeout(() => done('timeout'), Math.max(0, ms))
        sleepers.add(done)
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    },
  }
}
export type FeedWakeup = ReturnType<typeof createFeedWakeup>
