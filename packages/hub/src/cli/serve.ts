import { setFlagsFromString } from 'node:v8'
import { loadConfig } from '../config.js'
import { startHub } from '../http/server.js'

/** `customer-hub serve`: runs the hub until SIGTERM or SIGINT, then shuts down cleanly. */
export async function serveCommand(): Promise<void> {
  const config = loadConfig()
  // read by V8 at each garbage collection: set before the heap grows (see `heapGrowingPercent`)
  if (config.heapGrowingPercent > 0 && !process.execArgv.some((a) => /^--heap[-_]growing[-_]percent/.test(a))) {
    setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`)
  }
  const hub = await startHub(config)
  hub.app.log.info({ url: hub.url }, 'customer hub listening')
  const shutdown = (signal: string) => {
    hub.app.log.info({ signal }, 'shutting down: finishing requests in flight')
    hub.stop().then(
      () => process.exit(0),
      (err) => {
        hub.app.log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
}
