import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { HubEvent } from '@his-her/contract'

/** One request the receiver got. */
export interface Received {
  headers: IncomingHttpHeaders
  /** The body exactly as sent. */
  body: string
  event: HubEvent
  /** The status the receiver answered; 0 while it has not (or never will: `hang`). */
  status: number
  /** Its order among every request this receiver got, from 0. */
  n: number
}

/** What the receiver answers a request: a status, headers, or no answer at all (`hang`); given as a promise, the answer is held back until it resolves. */
export type Answer = number | { status: number; headers?: Record<string, string> } | 'hang'

/**
 * A real local HTTP endpoint for webhook tests: it records every request and answers what
 * `answer` says (200 by default). `until` waits — on arrivals, not on a timer — until what was
 * received satisfies a condition, and fails with what came when the deadline passes first.
 *
 * @example
 * ```ts
 * const receiver = await startReceiver((event, tries) => (tries === 1 ? 500 : 200))
 * await receiver.until((got) => got.some((r) => r.event.type === 'customer.created' && r.status === 200))
 * ```
 */
export async function startReceiver(answer: (event: HubEvent, tries: number, received: Received[]) => Answer | Promise<Answer> = () => 200) {
  const received: Received[] = []
  const tries = new Map<string, number>()
  const waiters = new Set<() => void>()
  const hanging = new Set<() => void>()
  const wakeAll = () => {
    for (const wake of [...waiters]) wake()
  }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const event = JSON.parse(body) as HubEvent
      const count = (tries.get(event.id) ?? 0) + 1
      tries.set(event.id, count)
      // recorded on arrival (status 0 until answered): a test can look while an answer is held back
      const record: Received = { headers: req.headers, body, event, status: 0, n: received.length }
      received.push(record)
      void Promise.resolve(answer(event, count, received)).then((a) => {
        if (a === 'hang') {
          hanging.add(() => res.destroy())
        } else {
          const { status, headers } = typeof a === 'number' ? { status: a, headers: {} } : { headers: {}, ...a }
          record.status = status
          res.writeHead(status, headers).end()
        }
        wakeAll()
      })
      wakeAll()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    /** How often the event was sent. */
    tries: (eventId: string) => tries.get(eventId) ?? 0,
    /** Resolves when `done(received)` holds; rejects after `ms` with what came. */
    until(done: (got: Received[]) => boolean, ms = 20_000): Promise<void> {
      if (done(received)) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done(received)) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`the receiver did not get what was awaited within ${ms} ms; it got: ${received.map((r) => `${r.event.type} ${r.event.id} → ${r.status}`).join(', ') || 'nothing'}`))
        }, ms)
        waiters.add(check)
      })
    },
    async close() {
      for (const end of hanging) end()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
export type Receiver = Awaited<ReturnType<typeof startReceiver>>
