import http from 'node:http'
import { msSince } from './stats.js'

/**
 * A small HTTP/1.1 client over one keep-alive agent: no per-request connection setup, so the
 * figures measure the hub rather than TCP handshakes.
 *
 * @param {string} baseUrl e.g. http://127.0.0.1:40123
 * @param {{ sockets: number, headers?: Record<string, string> }} options
 */
export function createHttpClient(baseUrl, { sockets, headers = {} }) {
  const base = new URL(baseUrl)
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets })

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body] sent as JSON when given
   * @param {Record<string, string>} [extraHeaders]
   * @returns {Promise<{ status: number, text: string }>}
   */
  function request(method, path, body, extraHeaders) {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const reqHeaders = { ...headers, ...extraHeaders }
    if (payload) {
      reqHeaders['content-type'] = 'application/json'
      reqHeaders['content-length'] = String(payload.length)
    }
    return new Promise((resolve, reject) => {
      const req = http.request(
        { agent, host: base.hostname, port: base.port, method, path, headers: reqHeaders },
        (res) => {
          const chunks = []
          res.on('data', (c) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      req.end(payload)
    })
  }

  return { request, close: () => agent.destroy() }
}

/**
 * Runs `count` calls of `task` with `concurrency` callers at once, each starting its next call
 * when its previous one answered (a closed loop). Stops early at `maxMs` or when `signal` aborts. Only `task` is timed;
 * `check` (validation of the answer) runs outside the timed part. A call whose task or check
 * throws counts as an error and is left out of the latencies.
 *
 * @template T
 * @param {{ count: number, concurrency: number, maxMs: number, task: (i: number) => Promise<T>, check?: (result: T, i: number) => void, signal?: AbortSignal }} options
 * @returns {Promise<{ latencies: Float64Array, elapsedMs: number, errors: number, firstError?: string, timedOut: boolean }>}
 */
export async function runLoad({ count, concurrency, maxMs, task, check, signal }) {
  const latencies = new Float64Array(count)
  let next = 0
  let done = 0
  let errors = 0
  let firstError
  let timedOut = false
  const started = process.hrtime.bigint()
  const deadline = performance.now() + maxMs

  async function caller() {
    for (;;) {
      const i = next++
      if (i >= count) return
      if (performance.now() > deadline || signal?.aborted) {
        timedOut = true
        return
      }
      const t = process.hrtime.bigint()
      try {
        const result = await task(i)
        const ms = msSince(t)
        check?.(result, i)
        latencies[done++] = ms
      } catch (err) {
        errors++
        firstError ??= err instanceof Error ? err.message : String(err)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller))
  return { latencies: latencies.subarray(0, done), elapsedMs: msSince(started), errors, firstError, timedOut }
}

/** Throws unless the response has the expected status; the message carries the body. */
export function expectStatus(res, status, what) {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${res.text.slice(0, 300)}`)
  return res
}
