import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { SyncResult } from '@his-her/contract'
import { createTestHub, onPostgres, type TestHub } from '../../test/helpers/test-hub.js'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const metricName = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const labelPair = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`
// Inf and NaN in any case, as Prometheus reads them (Go's ParseFloat): prom-client writes `Nan`
// for an event-loop statistic with no sample yet
const number = '(?:[+-]?[Ii][Nn][Ff]|[Nn][Aa][Nn]|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)'
const helpLine = new RegExp(`^# HELP (${metricName}) .*$`)
const typeLine = new RegExp(`^# TYPE (${metricName}) (counter|gauge|histogram|summary|untyped)$`)
const sampleLine = new RegExp(`^(${metricName})(?:\\{((?:${labelPair})(?:,${labelPair})*)?\\})? (${number})(?: -?\\d+)?$`)

/**
 * Parses the Prometheus text format (0.0.4) strictly: every line is a HELP, a TYPE, a sample or
 * empty, every sample belongs to a family whose TYPE came before it, no series appears twice.
 */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  const seen = new Set<string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (helpLine.test(line)) continue
    const type = typeLine.exec(line)
    if (type) {
      expect(types.has(type[1]!), `one TYPE line for ${type[1]}`).toBe(false)
      types.set(type[1]!, type[2]!)
      continue
    }
    const m = sampleLine.exec(line)
    if (!m) throw new Error(`not a line of the Prometheus text format: ${JSON.stringify(line)}`)
    const name = m[1]!
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '')
    expect(types.has(family), `a TYPE line before the sample ${name}`).toBe(true)
    const labels: Record<string, string> = {}
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1')
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    expect(seen.has(key), `the series ${key} appears once`).toBe(false)
    seen.add(key)
    samples.push({ name, labels, value: parseValue(m[3]!) })
  }
  return samples
}

function parseValue(text: string): number {
  const lower = text.toLowerCase()
  if (lower === 'nan') return Number.NaN
  if (/^[+-]?inf$/.test(lower)) return lower.startsWith('-') ? -Infinity : Infinity
  return Number(text)
}

/** The samples of `name`, keyed by their labels (sorted, joined), with their value. */
function series(samples: Sample[], name: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const s of samples.filter((x) => x.name === name)) {
    out.set(Object.entries(s.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(','), s.value)
  }
  return out
}

/** What moved between two scrapes, for the series that moved. */
function moved(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0)
    if (delta !== 0) out[key] = delta
  }
  return out
}

let hub: TestHub

beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => {
  await hub?.close()
})

async function scrape(target: TestHub = hub): Promise<{ text: string; samples: Sample[] }> {
  const res = await target.app.inject({ method: 'GET', url: '/metrics', headers: target.admin })
  expect(res.statusCode, res.body).toBe(200)
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
  return { text: res.body, samples: parsePrometheus(res.body) }
}

describe('GET /metrics', () => {
  test('counts requests by route pattern and syncs by outcome and rule, exactly, and holds no customer data', async () => {
    const before = await scrape()
    const shop = 'identity.metrics-shop'
    const other = 'identity.metrics-other'
    const third = 'identity.metrics-third'
    const emailA = 'ann.metrics@example.com'
    const emailB = 'bea.metrics@example.com'
    const phone = '+14155550142'
    const sync = async (body: object, headers: Record<string, string> = {}) => {
      const res = await hub.app.inject({ method: 'POST', url: '/customer/sync', headers: { ...hub.admin, ...headers }, payload: body })
      return { status: res.statusCode, body: res.json<SyncResult>() }
    }

    const s1 = await sync({ platform: { component: shop, externalId: 'm-1' }, email: emailA })
    expect(s1.body).toMatchObject({ created: true, matchedBy: null })
    const s2 = await sync({ platform: { component: shop, externalId: 'm-1' } }, { 'idempotency-key': 'metrics-replay' })
    expect(s2.body).toMatchObject({ created: false, matchedBy: 'platform', joined: [] })
    // the same request again: its first answer replayed, no second sync
    const replay = await hub.app.inject({ method: 'POST', url: '/customer/sync', headers: { ...hub.admin, 'idempotency-key': 'metrics-replay' }, payload: { platform: { component: shop, externalId: 'm-1' } } })
    expect(replay.headers['idempotent-replayed']).toBe('true')
    const s3 = await sync({ platform: { component: other, externalId: 'o-1' }, email: emailA.toUpperCase() })
    expect(s3.body).toMatchObject({ created: false, matchedBy: 'email', joined: [] })
    const s4 = await sync({ platform: { component: other, externalId: 'o-2' }, email: emailB, phone })
    expect(s4.body).toMatchObject({ created: true })
    const s5 = await sync({ platform: { component: shop, externalId: 'm-2' }, phone })
    expect(s5.body).toMatchObject({ created: false, matchedBy: 'phone', documentId: s4.body.documentId })
    // a customer known only by a platform id, then the email that shows it is the first one: joined
    const s6 = await sync({ platform: { component: third, externalId: 't-1' } })
    expect(s6.body).toMatchObject({ created: true })
    const s7 = await sync({ platform: { component: third, externalId: 't-1' }, email: emailA })
    expect(s7.body).toMatchObject({ created: false, matchedBy: 'email', joined: [{ sourceId: s6.body.documentId, targetId: s1.body.documentId }] })
    // refused: no sync counted
    const bad = await hub.app.inject({ method: 'POST', url: '/customer/sync', headers: hub.admin, payload: { email: emailA } })
    expect(bad.statusCode).toBe(400)

    const ids = [s1.body.documentId, s4.body.documentId]
    for (const id of ids) expect((await hub.app.inject({ method: 'GET', url: `/customer/${id}`, headers: hub.admin })).statusCode).toBe(200)
    expect((await hub.app.inject({ method: 'GET', url: `/no-such-route/${emailA}`, headers: hub.admin })).statusCode).toBe(404)

    const after = await scrape()
    expect(moved(series(before.samples, 'hub_http_requests_total'), series(after.samples, 'hub_http_requests_total'))).toEqual({
      'method=GET,route=/metrics,status=200': 1, // the first scrape
      'method=POST,route=/customer/sync,status=201': 3, // s1, s4, s6
      'method=POST,route=/customer/sync,status=200': 5, // s2, its replay, s3, s5, s7
      'method=POST,route=/customer/sync,status=400': 1,
      'method=GET,route=/customer/:id,status=200': 2,
      'method=GET,route=unmatched,status=404': 1,
    })
    // the replay answered 200 but ran no sync: counted as a request, not as a sync
    expect(moved(series(before.samples, 'hub_sync_total'), series(after.samples, 'hub_sync_total'))).toEqual({
      'outcome=created,rule=none': 3,
      'outcome=matched,rule=platform': 1,
      'outcome=matched,rule=email': 1,
      'outcome=matched,rule=phone': 1,
      'outcome=joined,rule=email': 1,
    })
    const durations = moved(series(before.samples, 'hub_http_request_duration_seconds_count'), series(after.samples, 'hub_http_request_duration_seconds_count'))
    expect(durations).toEqual({
      'method=GET,route=/metrics': 1,
      'method=POST,route=/customer/sync': 9,
      'method=GET,route=/customer/:id': 2,
      'method=GET,route=unmatched': 1,
    })
    const inf = series(after.samples, 'hub_http_request_duration_seconds_bucket')
    expect(inf.get('le=+Inf,method=POST,route=/customer/sync')).toBe(9)

    // no label holds an email, a phone, an id or a platform's customer id; nor does the text
    const labelValues = after.samples.flatMap((s) => Object.values(s.labels))
    for (const value of labelValues) {
      expect(value).not.toMatch(/@|cus_|idn_|\+?\d{7,}/)
    }
    for (const secret of [emailA, emailB, emailA.toUpperCase(), phone, ...ids, s6.body.documentId, 'm-1', 't-1', hub.adminToken]) {
      expect(after.text).not.toContain(secret)
    }
    expect(new Set(after.samples.filter((s) => s.name === 'hub_http_requests_total').map((s) => s.labels.route))).toEqual(new Set(['/metrics', '/customer/sync', '/customer/:id', 'unmatched']))
  })

  test("reports the PostgreSQL pool (not the embedded database's) and the process", async () => {
    const { samples } = await scrape()
    const pool = series(samples, 'hub_db_pool_connections')
    if (onPostgres) {
      expect([...pool.keys()].sort()).toEqual(['state=idle', 'state=total', 'state=waiting'])
      expect(pool.get('state=total')).toBeGreaterThanOrEqual(1)
      expect(pool.get('state=idle')).toBeLessThanOrEqual(pool.get('state=total')!)
      expect(pool.get('state=waiting')).toBe(0)
    } else {
      expect(pool.size).toBe(0)
    }
    expect(series(samples, 'process_cpu_user_seconds_total').size).toBe(1)
    expect(series(samples, 'nodejs_heap_size_used_bytes').size).toBe(1)
  })

  test("each hub app counts its own requests: another app's counters do not move", async () => {
    const second = await createTestHub()
    try {
      expect((await second.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
      const { samples } = await scrape(second)
      expect(Object.fromEntries(series(samples, 'hub_http_requests_total'))).toEqual({ 'method=GET,route=/health,status=200': 1 })
      expect(series(samples, 'hub_sync_total').size).toBe(0)
    } finally {
      await second.close()
    }
  })

  test('an admin or a metrics:read token reads it: another role is refused with 403, no token with 401', async () => {
    const created = await hub.app.inject({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'metrics-scraper', role: 'metrics:read' } })
    expect(created.statusCode, created.body).toBe(201)
    const scraper = await hub.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${created.json<{ token: string }>().token}` } })
    expect(scraper.statusCode, scraper.body).toBe(200)
    expect(scraper.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(series(parsePrometheus(scraper.body), 'hub_http_requests_total').size).toBeGreaterThan(0)

    const relay = await hub.app.inject({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'metrics-relay', role: 'events:read' } })
    expect(relay.statusCode, relay.body).toBe(201)
    const refusedRelay = await hub.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${relay.json<{ token: string }>().token}` } })
    expect(refusedRelay.statusCode).toBe(403)
    expect(refusedRelay.json()).toMatchObject({ code: 'FORBIDDEN' })

    const platform = await hub.platform()
    const refused = await hub.app.inject({ method: 'GET', url: '/metrics', headers: platform })
    expect(refused.statusCode).toBe(403)
    expect(refused.json()).toMatchObject({ code: 'FORBIDDEN' })
    expect(refused.body).not.toContain('hub_http_requests_total')
    const anonymous = await hub.app.inject({ method: 'GET', url: '/metrics' })
    expect(anonymous.statusCode).toBe(401)
    expect(anonymous.json()).toMatchObject({ code: 'UNAUTHORIZED' })
  })

  test('the OpenAPI document describes its answer as Prometheus text', async () => {
    const doc = (await hub.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, unknown> }> }>> }>()
    const content = doc.paths['/metrics']!.get!.responses['200']!.content
    expect(Object.keys(content)).toEqual(['text/plain; version=0.0.4; charset=utf-8'])
  })
})
