import { describe, expect, test } from 'vitest'
import { normalizeCountry, normalizeEmail, normalizePhone } from './normalize.js'
import { HubError } from '../errors.js'

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(HubError)
    return (err as HubError).code
  }
  return undefined
}

describe('normalizeEmail', () => {
  test('trims and lower-cases', () => {
    expect(normalizeEmail('  Jane@Example.COM ')).toBe('jane@example.com')
    expect(normalizeEmail('JANE.DOE+Shop@Mail.Example.co.uk')).toBe('jane.doe+shop@mail.example.co.uk')
    expect(normalizeEmail('\tx@y.io\n')).toBe('x@y.io')
  })

  test('refuses invalid addresses with 400 INVALID_EMAIL', () => {
    for (const bad of ['', '   ', 'jane', 'jane@', '@example.com', 'jane@example', 'jane@@example.com', 'ja ne@example.com',
      'jane@exa mple.com', 'jane@-example.com', 'jane@example-.com', 'jane@.example.com', 'jane@example..com',
      `${'a'.repeat(250)}@example.com`]) {
      expect(codeOf(() => normalizeEmail(bad)), JSON.stringify(bad)).toBe('INVALID_EMAIL')
    }
    const err = (() => { try { normalizeEmail('nope') } catch (e) { return e as HubError } })()!
    expect(err.statusCode).toBe(400)
  })
})

describe('normalizePhone', () => {
  test('writes Thai numbers in E.164 whatever the notation', () => {
    for (const raw of ['+66812345678', '0812345678', '081-234-5678', '081 234 5678', ' (081) 234-5678 ', '+66 81 234 5678']) {
      expect(normalizePhone(raw, 'TH'), raw).toBe('+66812345678')
    }
  })

  test('a number with + ignores the default country', () => {
    expect(normalizePhone('+14155551234', 'TH')).toBe('+14155551234')
    expect(normalizePhone('+1 (415) 555-1234', 'US')).toBe('+14155551234')
    expect(normalizePhone('+66812345678', 'US')).toBe('+66812345678')
  })

  test('a national number is read in the default country', () => {
    expect(normalizePhone('(415) 555-1234', 'US')).toBe('+14155551234')
    expect(normalizePhone('415.555.1234', 'US')).toBe('+14155551234')
    expect(normalizePhone('020 7946 0958', 'GB')).toBe('+442079460958')
  })

  test('refuses invalid numbers with 400 INVALID_PHONE', () => {
    for (const [raw, country] of [['', 'US'], ['abc', 'US'], ['123', 'US'], ['+1 555', 'US'], ['+999 1234567', 'US'],
      ['0812345678', 'US'], ['+6681234567890123', 'TH'], ['081-234-567', 'TH']] as const) {
      expect(codeOf(() => normalizePhone(raw, country)), `${raw} in ${country}`).toBe('INVALID_PHONE')
    }
  })
})

describe('normalizeCountry', () => {
  test('upper-cases ISO 3166-1 alpha-2 codes', () => {
    expect(normalizeCountry('us')).toBe('US')
    expect(normalizeCountry(' th ')).toBe('TH')
    expect(normalizeCountry('Gb')).toBe('GB')
  })

  test('refuses anything else with 400 INVALID_COUNTRY', () => {
    for (const bad of ['', 'X', 'USA', 'XX', 'ZZ', 'UK', '12', 'u$']) {
      expect(codeOf(() => normalizeCountry(bad)), bad).toBe('INVALID_COUNTRY')
    }
  })
})
