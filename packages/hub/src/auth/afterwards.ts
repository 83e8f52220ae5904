/**
 * Work a sign-in leaves for after its answer (an attempt given back, a failed attempt's session
 * deleted): started once the current turn of the event loop is done — the one in which the answer
 * is written — and kept until it ends, so that a later request of the same keys in this process can
 * wait for it, and tests and shutdown can wait for all of it.
 *
 * @example
 * ```ts
 * const afterwards = createAfterwards()
 * afterwards.later(() => giveBack(db, attempt), (err) => log.warn({ err }, 'not given back'), [attempt.pairKey])
 * await Promise.all(afterwards.pendingOf([attempt.pairKey]))
 * ```
 */
export function createAfterwards() {
  const inFlight = new Set<{ keys: readonly string[]; done: Promise<void> }>()
  return {
    /** Runs `work` after this turn of the event loop; its error goes to `failed`. `keys`: what {@link pendingOf} finds it by. */
    later(work: () => Promise<void>, failed: (err: unknown) => void, keys: readonly string[] = []): void {
      const entry = { keys, done: Promise.resolve() }
      entry.done = new Promise<void>((resolve) => setImmediate(resolve)).then(work).catch(failed).finally(() => inFlight.delete(entry))
      inFlight.add(entry)
    },
    /** The work in flight that touches any of `keys`. */
    pendingOf(keys: readonly string[]): Promise<void>[] {
      return [...inFlight].filter((e) => e.keys.some((k) => keys.includes(k))).map((e) => e.done)
    },
    /** Resolves once all work started so far (and any it started meanwhile) is done. */
    async settled(): Promise<void> {
      while (inFlight.size > 0) await Promise.all([...inFlight].map((e) => e.done))
    },
  }
}
