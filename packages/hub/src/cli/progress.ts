import cliProgress from 'cli-progress'

/**
 * Progress of long work on stderr: a bar with rate and ETA when stderr is a terminal; otherwise
 * (logs, pipes, CI) a plain line every `every` ms and one at the end, so a log still shows where
 * the work is and how fast it goes — or nothing, with `lines: false`.
 *
 * @example
 * ```ts
 * const progress = progressBar('import', 'rows')
 * progress.update(500, 1000)
 * progress.stop()
 * ```
 */
export function progressBar(label: string, unit: string, { every = 2000, lines = true }: { every?: number; lines?: boolean } = {}) {
  const started = Date.now()
  const rate = (done: number) => Math.round(done / Math.max((Date.now() - started) / 1000, 0.001))
  if (!process.stderr.isTTY && !lines) return { update: (_done: number, _total: number) => {}, stop: () => {} }
  if (!process.stderr.isTTY) {
    let last = 0
    let shown = { done: 0, total: 0 }
    const line = () => {
      const { done, total } = shown
      const r = rate(done)
      const eta = r > 0 && total > done ? ` | ETA ${Math.ceil((total - done) / r)} s` : ''
      process.stderr.write(`${label}: ${done}/${total} ${unit} | ${r}/s${eta}\n`)
    }
    return {
      update(done: number, total: number) {
        shown = { done, total }
        if (Date.now() - last >= every) {
          last = Date.now()
          line()
        }
      },
      stop() {
        if (last > 0) line()
        last = 0
        this.update = () => {}
      },
    }
  }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  )
  let begun = false
  return {
    update(done: number, total: number) {
      if (!begun) {
        bar.start(total, 0, { rate: 0 })
        begun = true
      }
      bar.setTotal(total)
      bar.update(done, { rate: rate(done) })
    },
    stop() {
      if (begun) bar.stop()
      begun = false
      this.update = () => {}
    },
  }
}
