import { readdirSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { consoleDir } from './console.js'

let hub: TestHub
beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => {
  await hub?.close()
})
const get = (url: string) => hub.app.inject({ method: 'GET', url })

describe('the console at /console', () => {
  test('every page path is the page, with headers that keep it to its own scripts and out of frames, never cached stale', async () => {
    for (const url of ['/console', '/console/', '/console/customers', '/console/customers/cus_01AAAAAAAAAAAAAAAAAAAAAAAA']) {
      const res = await get(url)
      expect(res.statusCode, url).toBe(200)
      expect(res.headers['content-type']).toMatch(/^text\/html/)
      expect(res.body).toContain('<div id="root"></div>')
      expect(res.headers['cache-control']).toBe('no-cache')
      expect(res.headers['content-security-policy']).toContain("script-src 'self'")
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(res.headers['x-frame-options']).toBe('DENY')
      expect(res.headers['referrer-policy']).toBe('no-referrer')
    }
  })

  test('its built files are cached for good; a file that is not there is a 404, and no path reaches outside the build', async () => {
    const script = readdirSync(`${consoleDir}assets`).find((f) => f.endsWith('.js'))!
    const res = await get(`/console/assets/${script}`)
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/javascript/)
    expect(res.headers['cache-control']).toContain('immutable')
    expect((await get('/console/assets/no-such-file.js')).statusCode).toBe(404)
    for (const url of ['/console/assets/../../../package.json', '/console/assets/%2e%2e/%2e%2e/%2e%2e/package.json', '/console/assets/..%2f..%2f..%2fpackage.json']) {
      const outside = await get(url)
      expect(outside.body, url).not.toContain('"name": "@his-her/customer-hub"')
      expect(outside.statusCode, url).toBeGreaterThanOrEqual(400)
    }
  })

  test('the page is public: a bad token does not matter', async () => {
    const res = await hub.app.inject({ method: 'GET', url: '/console/', headers: { authorization: 'Bearer nope' } })
    expect(res.statusCode).toBe(200)
  })
})
