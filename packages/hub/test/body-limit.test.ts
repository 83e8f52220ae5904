import { request as httpRequest } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_DRAINED_BYTES } from '../src/http/error-handler.js'
import { createTestHub, type TestHub } from './helpers/test-hub.js'
import { expectError } from './helpers/requests.js'

let hub: TestHub
let base: string

beforeAll(async () => {
  hub = await createTestHub()
  await hub.app.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(hub.app.server.address() as AddressInfo).port}`
})
afterAll(async () => {
  await hub?.close()
})

const MiB = 1024 * 1024

/** A customer whose metadata makes the JSON body about `bytes` long. */
const bodyOf = (bytes: number) => JSON.stringify({ email: 'big@example.com', metadata: { padding: 'x'.repeat(bytes) } })

async function post(body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/customer`, {
    method: 'POST',
    headers: { ...hub.admin, 'content-type': 'application/json', ...headers },
    body,
    ...(typeof body === 'string' ? {} : { duplex: 'half' }),
  } as RequestInit)
  const raw = await res.text()
  return { status: res.status, body: JSON.parse(raw) as Record<string, unknown>, raw, headers: res.headers }
}

/** A body of `bytes` sent in chunks without a Content-Length (chunked transfer encoding). */
function streamed(bytes: number): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode('x'.repeat(64 * 1024))
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent === 0) controller.enqueue(new TextEncoder().encode('{"email":"big@example.com","metadata":{"padding":"'))
      if (sent >= bytes) {
        controller.enqueue(new TextEncoder().encode('"}}'))
        controller.close()
        return
      }
      controller.enqueue(chunk)
      sent += chunk.length
    },
  })
}

/**
 * Sends a request of `bodyBytes` over a plain socket, the whole body first, and only then reads
 * the answer, as a client that writes before it reads does. Resolves with the raw answer.
 */
function sendThenRead(bodyBytes: number): Promise<string> {
  const { port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1')
    socket.pause()
    socket.on('error', reject)
    const head =
      `POST /customer HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${hub.admin.authorization}\r\n` +
      `content-type: application/json\r\ncontent-length: ${bodyBytes}\r\nconnection: close\r\n\r\n`
    socket.write(head)
    socket.write(Buffer.alloc(bodyBytes, 0x20), () => {
      let answer = ''
      socket.setEncoding('utf8').on('data', (c: string) => (answer += c))
      socket.on('end', () => resolve(answer))
      socket.resume()
    })
  })
}

describe('a body over the 1 MiB limit, over real HTTP', () => {
  it.each([2, 20])('fetch posting %i MiB reads the 413 BODY_TOO_LARGE answer in the error shape', async (mib) => {
    const res = await post(bodyOf(mib * MiB))
    expectError(res, 413, 'BODY_TOO_LARGE')
    expect(res.body).toEqual({ statusCode: 413, code: 'BODY_TOO_LARGE', error: 'Payload Too Large', message: 'The request body is larger than 1 MiB.' })
    expect(res.headers.get('x-request-id')).toMatch(/^req_/)
    // the hub read what was sent and can take the next request
    expect((await post(JSON.stringify({ email: `after-${mib}@example.com` }))).status).toBe(201)
  })

  it('a body sent without Content-Length (chunked) that grows past the limit gets the 413 too', async () => {
    expectError(await post(streamed(3 * MiB)), 413, 'BODY_TOO_LARGE')
  })

  it('with Expect: 100-continue the 413 comes before the body is sent', async () => {
    const length = 2 * MiB
    const answer = await new Promise<{ status: number; body: string; continued: boolean }>((resolve, reject) => {
      let continued = false
      const req = httpRequest(`${base}/customer`, {
        method: 'POST',
        headers: { ...hub.admin, 'content-type': 'application/json', 'content-length': String(length), expect: '100-continue' },
      })
      req.on('continue', () => {
        continued = true
        req.end(Buffer.alloc(length, 0x20))
      })
      req.on('response', (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode!, body, continued }))
      })
      req.on('error', reject)
      req.flushHeaders()
    })
    expect(answer.continued).toBe(false)
    expect(answer.status).toBe(413)
    expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 413, code: 'BODY_TOO_LARGE' })
  })

  it('a client that sends the whole body before it reads (2 and 20 MiB) reads the 413, not a closed connection', async () => {
    for (const mib of [2, 20]) {
      const answer = await sendThenRead(mib * MiB)
      expect(answer).toMatch(/^HTTP\/1\.1 413 /)
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
        statusCode: 413,
        code: 'BODY_TOO_LARGE',
        error: 'Payload Too Large',
        message: 'The request body is larger than 1 MiB.',
      })
    }
  })

  it(`a declared length past ${MAX_DRAINED_BYTES / MiB} MiB is answered and the connection closed at once, without waiting for the body`, async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${base}/customer`, {
        method: 'POST',
        headers: { ...hub.admin, 'content-type': 'application/json', 'content-length': String(MAX_DRAINED_BYTES + 1) },
      })
      let status = 0
      let body = ''
      req.on('response', (res) => {
        status = res.statusCode!
        res.setEncoding('utf8').on('data', (c: string) => (body += c))
      })
      // no byte of the body is sent: the socket closes only because the hub closes it
      req.on('socket', (socket) => socket.on('close', () => resolve({ status, body })))
      req.on('error', () => {}) // the request is cut short; the answer read so far is what counts
      req.flushHeaders()
      setImmediate(() => req.socket === null && reject(new Error('no socket')))
    })
    expect(answer.status).toBe(413)
    expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 413, code: 'BODY_TOO_LARGE' })
  })
})
