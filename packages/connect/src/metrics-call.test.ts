import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'
import { createHttpClient } from './http-client.js'
import { callRoute } from './route-call.js'

let hub: ListeningHub

beforeAll(async () => {
  hub = await startListeningHub()
})
afterAll(async () => {
  await hub?.close()
})

describe('a route that answers in another media type than JSON', () => {
  it('callRoute gives the metrics as the text the hub sent', async () => {
    const http = createHttpClient({ baseUrl: hub.baseUrl, token: hub.adminToken })
    await callRoute(http, 'health', {})
    const { status, headers, body } = await callRoute(http, 'metrics', {})
    expect(status).toBe(200)
    expect(headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(typeof body).toBe('string')
    expect(body).toContain('hub_http_requests_total{route="/health",method="GET",status="200"} 1')
  })
})
