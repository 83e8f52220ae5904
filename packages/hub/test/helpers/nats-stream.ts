import { randomBytes } from 'node:crypto'
import { connect, type NatsConnection } from 'nats'

/** The NATS server (JetStream on) the tests publish to. */
export const testNatsUrl = 'nats://127.0.0.1:4222'

/** A message of the stream as a test checks it. */
export interface StreamMessage {
  seq: number
  subject: string
  msgId: string | undefined
  event: { id: string; sequence: string; type: string; customerId: string | null; payload: Record<string, unknown>; createdAt: string }
}

export interface TestStream {
  /** A stream name and subject prefix no other test file uses. */
  stream: string
  prefix: string
  /** Every message of the stream, in stream order. */
  messages(): Promise<StreamMessage[]>
  /** How many messages the stream holds (0 before it is made). */
  count(): Promise<number>
  /** Waits until the stream holds at least `count` messages (failing after `ms`). */
  waitFor(count: number, ms?: number): Promise<void>
  /** Deletes the stream (if it was made) and closes the connection. */
  remove(): Promise<void>
}

/** A unique stream name and subject prefix, and a connection to look into the stream. */
export async function testStream(label: string): Promise<TestStream> {
  const tag = `${label}_${process.pid}_${randomBytes(4).toString('hex')}`
  const stream = `T_${tag}`.toUpperCase()
  const prefix = `t_${tag}`.toLowerCase()
  const nc: NatsConnection = await connect({ servers: testNatsUrl })
  const jsm = await nc.jetstreamManager()
  const count = async () => (await jsm.streams.info(stream).catch(() => undefined))?.state.messages ?? 0
  return {
    stream,
    prefix,
    count,
    async messages() {
      const info = await jsm.streams.info(stream)
      const out: StreamMessage[] = []
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq })
        out.push({ seq: m.seq, subject: m.subject, msgId: m.header?.get('Nats-Msg-Id') || undefined, event: m.json() })
      }
      return out
    },
    async waitFor(n, ms = 20_000) {
      const deadline = Date.now() + ms
      let have = await count()
      while (have < n) {
        if (Date.now() > deadline) throw new Error(`the stream ${stream} holds ${have} messages after ${ms} ms, expected ${n}`)
        await new Promise((r) => setTimeout(r, 50))
        have = await count()
      }
    },
    async remove() {
      await jsm.streams.delete(stream).catch(() => undefined)
      await nc.close()
    },
  }
}
