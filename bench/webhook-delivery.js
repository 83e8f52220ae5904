// Webhook delivery: how fast the hub carries its outbox to a local endpoint, with 1 and 2 hub
// processes delivering, and how long an event takes from its commit to its receipt.
// Part of `npm run bench`; alone: `node bench/webhook-delivery.js` after `npm run build`.
//
// Environment (all optional):
//   BENCH_DATABASE_URL / DATABASE_URL  PostgreSQL to measure (1 and 2 processes); without it, PGlite only (1 process)
//   BENCH_ONLY                         `postgres` or `pglite` to measure one database
//   BENCH_WEBHOOK_EVENTS               events of the backlog each run drains (default 5000 PG, 1000 PGlite)
//   BENCH_WEBHOOK_LAG_EVENTS           events written one after another while delivery runs, for the lag (default 300)
//   BENCH_WEBHOOK_PER_ENDPOINT         the hubs' webhooks.per_endpoint, and the baseline's POSTs at once (default 8, the hub's default)
//
// Each run: a hub that does not deliver writes the backlog (POST /customer, one customer.created
// each) with a subscription in place; then the delivering processes start and drain it. The
// throughput is backlog / time to its last receipt. The baseline beside it, in the same process: the
// same number of signed POSTs sent straight to the same endpoint from here, as many at once as the
// hub sends to one endpoint (per_endpoint), i.e. what the endpoint and loopback HTTP allow. Then
// the lag: events written one at a time while the hubs deliver, each from its commit time to
// its receipt.
import { createHmac, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHttpClient, expectStatus, runLoad } from './lib/http-client.js'
import { startHubProcess } from './lib/hub-process.js'
import { currentBuild } from './lib/build.js'
import { preparePglite, preparePostgres } from './lib/databases.js'
import { summarize } from './lib/stats.js'
import { fmt, table } from './lib/report.js'
import { envInt } from './lib/env.js'

const env = process.env
const int = envInt
const postgresUrl = env.BENCH_DATABASE_URL || env.DATABASE_URL || ''
const only = env.BENCH_ONLY
const PER_ENDPOINT = int('BENCH_WEBHOOK_PER_ENDPOINT', 8)
const MAX_WAIT_MS = 300_000

/** A local endpoint that answers 204 at once and notes when each event came. */
async function startEndpoint() {
  const firstSeen = new Map()
  let waiter
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const id = req.headers['webhook-id']
      if (!firstSeen.has(id)) firstSeen.set(id, { at: Date.now(), body: Buffer.concat(chunks).toString('utf8') })
      res.writeHead(204).end()
      waiter?.()
    })
  })
  server.keepAliveTimeout = 30_000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    firstSeen,
    /** Resolves once `n` distinct events came. */
    until(n) {
      if (firstSeen.size >= n) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${firstSeen.size} of ${n} events came within ${MAX_WAIT_MS / 1000} s`)), MAX_WAIT_MS)
        waiter = () => {
          if (firstSeen.size < n) return
          clearTimeout(timer)
          waiter = undefined
          resolve()
        }
      })
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }),
  }
}

/** The baseline: `count` signed POSTs straight to the endpoint, PER_ENDPOINT at a time. */
async function baseline(endpointUrl, count) {
  const url = new URL(endpointUrl)
  const client = createHttpClient(url.origin, { sockets: PER_ENDPOINT })
  const key = randomBytes(32)
  const run = await runLoad({
    count,
    concurrency: PER_ENDPOINT,
    maxMs: MAX_WAIT_MS,
    task: async (i) => {
      const id = `evt_baseline_${i}_${randomBytes(4).toString('hex')}`
      const ts = Math.floor(Date.now() / 1000)
      const body = JSON.stringify({ id, type: 'customer.created', payload: { n: i } })
      const signature = `v1,${createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64')}`
      return client.request('POST', url.pathname, JSON.parse(body), { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signature })
    },
    check: (r) => expectStatus(r, 204, 'baseline POST'),
  })
  client.close()
  return summarize(run.latencies.subarray(0, count - run.errors), run.elapsedMs).opsPerSec
}

async function measure(build, target, processes, events, lagEvents) {
  const admin = `bench-admin-${randomBytes(16).toString('hex')}`
  const secret = randomBytes(32).toString('base64url')
  const workDir = target.kind === 'pglite' ? target.workDir : mkdtempSync(join(tmpdir(), 'hub-bench-'))
  const common = { hubMain: build.hubMain, databaseUrl: target.kind === 'postgres' ? target.url : undefined, dataDir: target.kind === 'pglite' ? target.dataDir : join(workDir, 'data'), adminToken: admin, cwd: workDir, secret }
  const endpoint = await startEndpoint()
  const hubs = []
  try {
    // the backlog, written by a hub that does not deliver
    const writer = await startHubProcess({ ...common, env: { HUB_WEBHOOKS_DELIVER: 'false' } })
    hubs.push(writer)
    const api = createHttpClient(writer.url, { sockets: 16, headers: { authorization: `Bearer ${admin}` } })
    expectStatus(await api.request('POST', '/webhooks', { url: endpoint.url, events: ['customer.*'] }), 201, 'POST /webhooks')
    const tag = randomBytes(4).toString('hex')
    const written = await runLoad({ count: events, concurrency: 16, maxMs: MAX_WAIT_MS, task: (i) => api.request('POST', '/customer', { email: `wh-${tag}-${i}@example.com` }), check: (r) => expectStatus(r, 201, 'POST /customer') })
    if (written.errors > 0) throw new Error(`the backlog was not written: ${written.firstError}`)
    api.close()
    // on the embedded database only one process may run: the writer gives way to the deliverer
    if (target.kind === 'pglite') {
      await writer.stop()
      hubs.pop()
    }
    const started = Date.now()
    for (let p = 0; p < processes; p++) hubs.push(await startHubProcess({ ...common, env: { HUB_WEBHOOKS_PER_ENDPOINT: String(PER_ENDPOINT) } }))
    await endpoint.until(events)
    const drainMs = Math.max(...[...endpoint.firstSeen.values()].map((v) => v.at)) - started

    // the lag: one event at a time while the hubs deliver
    const deliverer = createHttpClient(hubs.at(-1).url, { sockets: 1, headers: { authorization: `Bearer ${admin}` } })
    for (let i = 0; i < lagEvents; i++) expectStatus(await deliverer.request('POST', '/customer', { email: `lag-${tag}-${i}@example.com` }), 201, 'POST /customer')
    deliverer.close()
    await endpoint.until(events + lagEvents)
    const lags = []
    for (const { at, body } of endpoint.firstSeen.values()) {
      const event = JSON.parse(body)
      if (event.payload?.customer?.email?.startsWith(`lag-${tag}-`)) lags.push(at - Date.parse(event.createdAt))
    }
    const lag = summarize(lags, 1)
    const direct = await baseline(endpoint.url, events)
    return { events, drainMs, perSecond: (events * 1000) / drainMs, direct, lagP50: lag.p50, lagP95: lag.p95 }
  } finally {
    for (const hub of hubs) await hub.stop()
    await endpoint.close()
    if (target.kind !== 'pglite') rmSync(workDir, { recursive: true, force: true })
  }
}

async function main() {
  const build = await currentBuild()
  const rows = []
  const runs = []
  if (postgresUrl && only !== 'pglite') runs.push(['postgres', 1], ['postgres', 2])
  if (only !== 'postgres') runs.push(['pglite', 1])
  for (const [kind, processes] of runs) {
    const target = kind === 'postgres' ? await preparePostgres(postgresUrl) : preparePglite()
    try {
      const events = int('BENCH_WEBHOOK_EVENTS', kind === 'postgres' ? 5000 : 1000)
      const r = await measure(build, target, processes, events, int('BENCH_WEBHOOK_LAG_EVENTS', 300))
      rows.push([target.label, String(processes), String(r.events), `${fmt.ops(r.perSecond)}/s`, `${fmt.ops(r.direct)}/s`, fmt.ms(r.lagP50), fmt.ms(r.lagP95)])
      console.log(`webhook delivery, ${target.label}, ${processes} process(es): ${r.events} events in ${(r.drainMs / 1000).toFixed(1)} s`)
    } finally {
      await target.cleanup()
    }
  }
  console.log('\nWebhook delivery to a local endpoint (a backlog drained; the lag: one event at a time, commit to receipt)')
  console.log(table(['database', 'processes', 'events', 'delivered', 'baseline: POSTs straight to it', 'lag p50', 'lag p95'], rows))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
