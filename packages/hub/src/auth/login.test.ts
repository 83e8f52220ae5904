import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'

const password = 'correct horse battery'
let seq = 0

async function register(hub: TestHub, email = `login${++seq}@example.com`): Promise<string> {
  const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password } })
  expect(res.statusCode, res.body).toBe(201)
  return email
}

function login(hub: TestHub, email: string, pw: string, remoteAddress = '127.0.0.1') {
  return hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: pw }, remoteAddress })
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

describe('wrong credentials', () => {
  let hub: TestHub
  beforeAll(async () => {
    hub = await createTestHub({ customer: { requireEmailVerification: false } })
  })
  afterAll(async () => {
    await hub?.close()
  })

  test('an unknown email and a wrong password get the same 401 INVALID_CREDENTIALS body', async () => {
    const email = await register(hub)
    const unknown = await login(hub, `nobody${++seq}@example.com`, password)
    const wrong = await login(hub, email, 'not the password')
    expectError(unknown, 401, 'INVALID_CREDENTIALS')
    expectError(wrong, 401, 'INVALID_CREDENTIALS')
    expect(unknown.body).toBe(wrong.body)
    expect(unknown.headers['content-type']).toBe(wrong.headers['content-type'])
    // the right password still works
    expect((await login(hub, email, password)).statusCode).toBe(200)
  })

  test('sign-ins of one email from one address at once all succeed (their counts lock rows in one order)', async () => {
    const email = await register(hub)
    // four at a time: a fifth in flight would meet the backoff (attempts count until they succeed)
    for (let round = 0; round < 15; round++) {
      const answers = await Promise.all(Array.from({ length: 4 }, () => login(hub, email, password)))
      expect(answers.map((r) => r.statusCode), answers.map((r) => r.body).join('\n')).toEqual(Array(4).fill(200))
    }
  })

  test('a malformed login body is a 400, not a 401', async () => {
    expectError(await hub.app.inject({ method: 'POST', url: '/auth/login', payload: {} }), 400, 'VALIDATION_FAILED')
    expectError(await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'a@b.co', password: '' } }), 400, 'VALIDATION_FAILED')
    expectError(await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'a@b.co', password: 'x', role: 'admin' } }), 400, 'VALIDATION_FAILED')
  })

  test('timing does not tell an unknown email from a wrong password', async () => {
    const email = await register(hub)
    // the first unknown-email login makes the dummy hash: not part of the measurement
    await login(hub, `warmup${++seq}@example.com`, password)
    await login(hub, email, 'warm up')
    const unknownTimes: number[] = []
    const wrongTimes: number[] = []
    for (let i = 0; i < 20; i++) {
      // each pair from an address of its own: the wait after repeated failures is not measured
      let t = performance.now()
      expect((await login(hub, `absent${i}-${++seq}@example.com`, 'not the password', `10.4.${i}.1`)).statusCode).toBe(401)
      unknownTimes.push(performance.now() - t)
      t = performance.now()
      expect((await login(hub, email, 'not the password', `10.4.${i}.2`)).statusCode).toBe(401)
      wrongTimes.push(performance.now() - t)
    }
    const ratio = median(unknownTimes) / median(wrongTimes)
    console.log(`login timing: median unknown email ${median(unknownTimes).toFixed(1)} ms, wrong password ${median(wrongTimes).toFixed(1)} ms, ratio ${ratio.toFixed(2)}`)
    expect(ratio).toBeGreaterThan(1 / 3)
    expect(ratio).toBeLessThan(3)
  })
})

// The sign-in limits (failures per address, the wait per email and address) are in login-limits.test.ts.
