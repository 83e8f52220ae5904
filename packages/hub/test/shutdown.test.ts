import { request } from 'node:http'
import { connect } from 'node:net'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { call, copyMigratedDataDir, killAll, processTimeout, spawnHub, tempDir, type HubProcess } from './helpers/spawn-hub.js'

let tmp: ReturnType<typeof tempDir>
let dataDir: string

beforeEach(async () => {
  tmp = tempDir()
  dataDir = join(tmp.dir, 'data')
  // a migrated data directory: these tests are about stopping, not about the first start
  await copyMigratedDataDir(dataDir)
})
afterEach(async () => {
  await killAll()
  tmp.remove()
})

/** Resolves with the error code of a TCP connect to the port, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
}

interface Pending {
  /** Resolves once the hub's HTTP server has taken the request (it answers 100 Continue). */
  accepted: Promise<void>
  /** Sends the body. */
  finish(): void
  response: Promise<{ status: number; headers: Record<string, unknown>; body: any }>
}

/**
 * A POST /customer that sends its headers with `Expect: 100-continue` and holds the body back:
 * the server answers 100 Continue when it dispatches the request, so the request is in flight
 * on the hub from then until the body is sent.
 */
function startHeldCreate(hub: HubProcess, token: string, requestId: string, email: string): Pending {
  const body = JSON.stringify({ email })
  const req = request(`${hub.url}/customer`, {
    method: 'POST',
    agent: false,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      expect: '100-continue',
    },
  })
  const accepted = new Promise<void>((resolve) => req.once('continue', () => resolve()))
  const response = new Promise<{ status: number; headers: Record<string, unknown>; body: any }>((resolve, reject) => {
    req.once('error', reject)
    req.once('response', (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (c: string) => (text += c))
      res.once('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) }))
    })
  })
  req.flushHeaders()
  return { accepted, finish: () => req.end(body), response }
}

describe('graceful shutdown', { timeout: processTimeout }, () => {
  it('on SIGTERM finishes the requests in flight, then exits 0, frees the lock and the port', async () => {
    const hub = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    const token = hub.firstStartToken!
    const ids = ['inflight-1', 'inflight-2', 'inflight-3']
    const pending = ids.map((id, i) => startHeldCreate(hub, token, id, `inflight${i}@example.com`))
    await Promise.all(pending.map((p) => p.accepted))

    hub.child.kill('SIGTERM')
    await hub.waitForLine((_l, json) => json?.msg === 'shutting down: finishing requests in flight' && json.signal === 'SIGTERM')
    for (const p of pending) p.finish()

    const responses = await Promise.all(pending.map((p) => p.response))
    for (const [i, res] of responses.entries()) {
      expect(res.status).toBe(201)
      expect(res.body.email).toBe(`inflight${i}@example.com`)
      expect(res.headers['x-request-id']).toBe(ids[i])
    }
    expect(await hub.exited).toEqual({ code: 0, signal: null })
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)
    expect(await tryConnect(hub.port)).toBe('ECONNREFUSED')
    expect(hub.stderr()).toBe('')

    // what the finished requests wrote was committed before the database closed
    const again = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    const list = await call(again.url, 'GET', '/customer?sort=createdAt:asc', token)
    expect(list.body.data.map((c: { email: string }) => c.email).sort()).toEqual(['inflight0@example.com', 'inflight1@example.com', 'inflight2@example.com'])
    await again.stop()
  })

  it('on SIGINT exits 0, frees the lock and the port', async () => {
    const hub = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(await tryConnect(hub.port)).toBe('connected')
    expect(await hub.stop('SIGINT')).toEqual({ code: 0, signal: null })
    expect(hub.stdout.some((l) => l.includes('"signal":"SIGINT"'))).toBe(true)
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)
    expect(await tryConnect(hub.port)).toBe('ECONNREFUSED')
  })

  it('on SIGTERM while idle exits 0, frees the lock and the port', async () => {
    const hub = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect((await call(hub.url, 'GET', '/health')).body).toEqual({ status: 'ok', database: 'up' })
    expect(await hub.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)
    expect(await tryConnect(hub.port)).toBe('ECONNREFUSED')
  })
})
