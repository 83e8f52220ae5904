import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'
import { createHttpClient, type HttpClient } from './http-client.js'
import { callRoute } from './route-call.js'

let hub: ListeningHub
let http: HttpClient
let writer: HttpClient

beforeAll(async () => {
  hub = await startListeningHub()
  // a default timeout far shorter than the waits below (the reads under test)
  http = createHttpClient({ baseUrl: hub.baseUrl, token: hub.adminToken, timeoutMs: 300 })
  // the writes around them take the usual timeout: a busy machine must not fail them
  writer = createHttpClient({ baseUrl: hub.baseUrl, token: hub.adminToken })
})
afterAll(async () => {
  await hub?.close()
})

describe('reading the event feed with callRoute', () => {
  it('filters by type and customer and waits for the next matching event', async () => {
    const { body: created } = await callRoute(writer, 'createCustomer', { body: { email: 'feed.reader@example.com' } })
    if (!('id' in created)) throw new Error('the customer was not created')
    const customer = created
    const reading = callRoute(http, 'listEvents', { query: { customerId: customer.id, type: ['customer.updated', 'customer.deleted'], wait: 30 } })
    await vi.waitFor(() => expect(hub.app.services.feed.waiting).toBe(1), { timeout: 10_000, interval: 5 })
    await callRoute(writer, 'updateCustomer', { params: { id: customer.id }, body: { firstName: 'Wanda' } })
    const { body: page } = await reading
    expect(page.data.map((e) => [e.type, e.customerId])).toEqual([['customer.updated', customer.id]])
  })

  it('a long poll outlives the client’s default timeout: it answers empty when its wait is up', async () => {
    const { body: page } = await callRoute(http, 'listEvents', { query: { type: ['seller.terminated'], wait: 1 } })
    expect(page.data).toEqual([])
  })
})
