import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { call, killAll, processTimeout, spawnHub, tempDir, type HubProcess } from './helpers/spawn-hub.js'

// A reader waiting on one hub process is woken by events written through another: the database's
// notification reaches every process, each through its one listening connection.
describe.skipIf(!onPostgres)('GET /events?wait= across hub processes', { timeout: processTimeout }, () => {
  const schema = `hubtest_${randomBytes(6).toString('hex')}`
  const tmp = tempDir()
  let client: pg.Client
  let a: HubProcess
  let b: HubProcess
  let admin: string

  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl })
    await client.connect()
    await client.query(`CREATE SCHEMA "${schema}"`)
    const env = { DATABASE_URL: urlWithSchema(schema), HUB_SECRET: randomBytes(32).toString('hex'), HUB_DB_POOL_SIZE: '2', LOG_LEVEL: 'debug' }
    a = await spawnHub({ cwd: tmp.dir, env })
    b = await spawnHub({ cwd: tmp.dir, env })
    admin = (a.firstStartToken ?? b.firstStartToken)!
  })
  afterAll(async () => {
    await killAll()
    await client?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client?.end()
    tmp.remove()
  })

  const lines = (hub: HubProcess, msg: string) => hub.stdout.map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, unknown>) : {})).filter((j) => j.msg === msg)

  /** Starts a read on `hub` that waits for `customerId`'s next `customer.updated`, and resolves once it waits. */
  async function waitingReader(hub: HubProcess, customerId: string, wait = 30) {
    const before = lines(hub, 'feed reader waiting').length
    const answer = call(hub.url, 'GET', `/events?customerId=${customerId}&type=customer.updated&wait=${wait}`, admin)
    await hub.waitForLine(() => lines(hub, 'feed reader waiting').length > before)
    const reqId = lines(hub, 'feed reader waiting')[before]!.reqId
    return { answer, reqId }
  }

  /** Why the wait of request `reqId` last ended, once the request is complete. */
  async function lastWake(hub: HubProcess, reqId: unknown): Promise<unknown> {
    await hub.waitForLine((_l, json) => json?.msg === 'request completed' && json.reqId === reqId)
    return lines(hub, 'feed reader woken').filter((l) => l.reqId === reqId).at(-1)?.reason
  }

  async function newCustomer(hub: HubProcess): Promise<string> {
    const res = await call(hub.url, 'POST', '/customer', admin, { email: `wait.${randomBytes(4).toString('hex')}@example.com` })
    expect(res.status).toBe(201)
    return res.body.id
  }

  async function rename(hub: HubProcess, id: string, firstName: string) {
    expect((await call(hub.url, 'PATCH', `/customer/${id}`, admin, { firstName })).status).toBe(200)
  }

  it('a reader waiting on one process is answered when the event is written through the other', async () => {
    const id = await newCustomer(b)
    const { answer, reqId } = await waitingReader(a, id)
    await rename(b, id, 'Otto')
    const res = await answer
    expect(res.status).toBe(200)
    expect(res.body.data.map((e: { type: string; customerId: string }) => [e.type, e.customerId])).toEqual([['customer.updated', id]])
    // process a learnt of the commit through its listening connection (not by its slow re-check)
    expect(await lastWake(a, reqId)).toBe('notified')
  })

  it('a listening connection that is lost is made again, and wakes readers again', async () => {
    const listeningBefore = lines(a, 'listening for events').length
    expect(listeningBefore).toBe(1)
    // the listening connection of process a (named after its process id) is cut
    const { rows } = await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, [`customer-hub listener ${a.pid}`])
    expect(rows).toHaveLength(1)
    await client.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid])
    await a.waitForLine(() => lines(a, 'listening for events').length > listeningBefore)

    const id = await newCustomer(b)
    const { answer, reqId } = await waitingReader(a, id)
    await rename(b, id, 'Rita')
    const res = await answer
    expect(res.body.data.map((e: { type: string; customerId: string }) => [e.type, e.customerId])).toEqual([['customer.updated', id]])
    expect(await lastWake(a, reqId)).toBe('notified')
  })

  it('on SIGTERM a process answers its waiting readers at once and exits 0', async () => {
    const id = await newCustomer(b)
    const { answer, reqId } = await waitingReader(a, id, 60)
    a.child.kill('SIGTERM')
    const res = await answer
    expect(res.status).toBe(200)
    expect(res.body.data).toEqual([])
    // the shutdown ended the wait, not the 60 seconds
    expect(await lastWake(a, reqId)).toBe('closed')
    expect(await a.exited).toEqual({ code: 0, signal: null })
  })
})
