import { describe, expect, test } from 'vitest'
import { isId, newId, type IdPrefix } from './ids.js'

const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** The milliseconds written in the first 10 characters after the prefix. */
function timeOf(id: string): number {
  const body = id.slice(id.indexOf('_') + 1, id.indexOf('_') + 11)
  let t = 0
  for (const ch of body) t = t * 32 + alphabet.indexOf(ch)
  return t
}

/** Returns once Date.now() has moved past `ms`. */
function nextMillisecond(ms: number): void {
  while (Date.now() <= ms) {
    // spin on the clock itself
  }
}

describe('newId', () => {
  test('is the prefix, an underscore and 26 Crockford base32 characters', () => {
    for (const prefix of ['cus', 'addr', 'evt', 'ord', 'tok', 'idn'] as IdPrefix[]) {
      const id = newId(prefix)
      expect(id).toMatch(new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`))
      expect(id).toHaveLength(prefix.length + 27)
      expect(isId(prefix, id)).toBe(true)
    }
  })

  test('carries the time it was made', () => {
    const before = Date.now()
    const id = newId('cus')
    const after = Date.now()
    expect(timeOf(id)).toBeGreaterThanOrEqual(before)
    expect(timeOf(id)).toBeLessThanOrEqual(after)
  })

  test('sorts by creation time', () => {
    const ids: string[] = []
    let last = Date.now()
    for (let i = 0; i < 20; i++) {
      nextMillisecond(last)
      ids.push(newId('evt'))
      last = Date.now()
    }
    expect([...ids].sort()).toEqual(ids)
    const times = ids.map(timeOf)
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!)
  })

  test('is unique over many made at once', () => {
    const n = 100_000
    const ids = new Set<string>()
    for (let i = 0; i < n; i++) ids.add(newId('ord'))
    expect(ids.size).toBe(n)
    // the random part varies in every position, not only in a few
    const sample = [...ids].slice(0, 2000).map((id) => id.slice(14))
    for (let pos = 0; pos < 16; pos++) expect(new Set(sample.map((s) => s[pos])).size, `position ${pos}`).toBeGreaterThan(16)
  })
})

describe('isId', () => {
  test('checks the prefix and the shape', () => {
    const id = newId('cus')
    expect(isId('cus', id)).toBe(true)
    expect(isId('ord', id)).toBe(false)
    expect(isId('cus', id.slice(0, -1))).toBe(false)
    expect(isId('cus', `${id}X`)).toBe(false)
    expect(isId('cus', id.toLowerCase())).toBe(false)
    expect(isId('cus', `cus_${'!'.repeat(26)}`)).toBe(false)
    expect(isId('cus', '')).toBe(false)
    expect(isId('cus', 'cus_')).toBe(false)
  })
})
