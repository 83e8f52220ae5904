import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { loadConfig } from '../config.js'
import { ConfigError } from '../errors.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hub-ledgers-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const load = (yaml: string) => {
  writeFileSync(join(dir, 'customer-hub.yaml'), yaml)
  return loadConfig({}, dir)
}

describe('ledgers: in the configuration', () => {
  test('earn rules, return window and expiry are read with their defaults', () => {
    const config = load(`
ledgers:
  - handle: reward-points
    earn: { per: 100, points: 2, currency: USD }
    pending_days: 14
  - handle: miles
    name: Miles
    allow_negative: true
    expiry_days: 365
    earn:
      - { per: 1000, points: 1, currency: EUR }
      - { per: 100, points: 1, currency: USD }
`)
    expect(config.ledgers).toEqual([
      { handle: 'reward-points', name: 'Reward points', allowNegative: false, pendingDays: 14, expiryDays: null, earn: [{ per: 100, points: 2, currency: 'USD' }] },
      {
        handle: 'miles', name: 'Miles', allowNegative: true, pendingDays: 0, expiryDays: 365,
        earn: [{ per: 1000, points: 1, currency: 'EUR' }, { per: 100, points: 1, currency: 'USD' }],
      },
    ])
  })

  test.each([
    ['ledgers:\n  - handle: x\n    pending_days: -1\n', 'ledgers[0].pending_days'],
    ['ledgers:\n  - handle: x\n    expiry_days: 1.5\n', 'ledgers[0].expiry_days'],
    ['ledgers:\n  - handle: x\n    earn: { per: 0, points: 1, currency: USD }\n', 'ledgers[0].earn.per'],
    ['ledgers:\n  - handle: x\n    earn: { per: 100, points: 1, currency: usd }\n', 'ledgers[0].earn.currency'],
    ['ledgers:\n  - handle: x\n    earn: { per: 100, points: 1, currency: USD, bonus: 2 }\n', 'ledgers[0].earn.bonus'],
    ['ledgers:\n  - handle: x\n    return_days: 3\n', 'ledgers[0].return_days'],
  ])('a bad value stops start-up naming its key: %s', (yaml, key) => {
    let error: unknown
    try {
      load(yaml)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toContain(key)
  })
})
