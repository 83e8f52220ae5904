import { createHash } from 'node:crypto'
import type { CountryCode } from 'libphonenumber-js/max'
import { expect } from 'vitest'
import { HubError } from '../../src/errors.js'
import { normalizeEmail, normalizePhone } from '../../src/identity/normalize.js'
import { pool } from './spawn-hub.js'

// People who shop on three platforms, the records those platforms sync of them, and the
// partition of those records into customers that the identity rules (docs/identity.md) must
// reach whatever order the records arrive in. Everything derives from a seed: no Math.random.

/** A small, fast PRNG: the same seed gives the same sequence on every machine. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `items` in the order of a seeded Fisher–Yates shuffle (a new array). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items]
  const rand = mulberry32(seed)
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Platforms

export type PlatformKey = 'th' | 'us' | 'mp'
export const platformKeys: readonly PlatformKey[] = ['th', 'us', 'mp']

/**
 * The hub's `customer.default_country` in these tests: a country none of the platforms is in, so
 * a local spelling is only read right in its platform's own country.
 */
export const hubFallbackCountry = 'GB'

/**
 * - `th`, a Thai store: writes Thai numbers the local way (`081-234-5678`) and says so with
 *   `platform.defaultCountry: 'TH'` on every sync;
 * - `us`, a US shop: writes US numbers the local way (`(415) 555-1234`); its country is the hub's
 *   configuration (`identity.components.<component>.default_country: US`);
 * - `mp`, a marketplace: always writes numbers in international form.
 */
export const platforms: Record<PlatformKey, { name: string; externalIdField: string; localCountry: 'TH' | 'US' | null; sendsCountry: boolean }> = {
  th: { name: 'Thai store', externalIdField: 'thaiStoreCustomerId', localCountry: 'TH', sendsCountry: true },
  us: { name: 'US shop', externalIdField: 'shopifyCustomerId', localCountry: 'US', sendsCountry: false },
  mp: { name: 'marketplace', externalIdField: 'marketplaceBuyerId', localCountry: null, sendsCountry: false },
}

/** The platform components of one run: the run's tag keeps them apart from every other run's. */
export function componentsOf(tag: string): Record<PlatformKey, string> {
  return { th: `identity.thai-store-${tag}`, us: `identity.us-shop-${tag}`, mp: `identity.marketplace-${tag}` }
}

// ---------------------------------------------------------------------------------------------
// People and the records planned for them (run-independent)

export interface Person {
  index: number
  hasEmail: boolean
  /** `slot` numbers the phone within the population; a household's members share one slot. */
  phone: { country: 'TH' | 'US'; slot: number; household: number | null } | null
  platforms: PlatformKey[]
}

export type RecordKind = 'id' | 'email' | 'phone' | 'id+email' | 'id+phone' | 'id+email+phone'

export interface RecordPlan {
  index: number
  person: number
  platform: PlatformKey
  kind: RecordKind
  /** An invalid phone sent beside the record's valid identifiers (its only phone). */
  badPhone: string | null
  /** Which spelling of the phone (and of the email's case and spaces) the record uses. */
  variant: number
}

export interface Population {
  seed: number
  people: Person[]
  /** The people of each household, by household number. */
  households: number[][]
  plans: RecordPlan[]
}

const badPhones = ['12', '0000', '+1 23', '1-2']

/**
 * `n` people and the records three platforms sync of them.
 *
 * - ~85% have an email, ~60% a phone (Thai or US), each is known to 1–3 platforms;
 * - households: groups of 2–3 people sharing one phone, every member with an email; a household's
 *   phone is only ever sent together with the member's email;
 * - record kinds: platform id only, email only (no externalId), phone only (own phones only),
 *   platform id + email, platform id + phone, all three;
 * - about 3% of the records carry an invalid phone beside a valid email or platform id.
 */
export function generatePopulation(n: number, seed: number): Population {
  const rand = mulberry32(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!
  const people: Person[] = []
  const households: number[][] = []
  let slot = 0
  for (let i = 0; i < n; ) {
    if (rand() < 0.05 && i + 1 < n) {
      const size = Math.min(rand() < 0.6 ? 2 : 3, n - i)
      const household = households.length
      const country = rand() < 0.6 ? 'TH' : 'US'
      const members: number[] = []
      for (let k = 0; k < size; k++, i++) {
        people.push({ index: i, hasEmail: true, phone: { country, slot, household }, platforms: platformsOf(rand) })
        members.push(i)
      }
      households.push(members)
      slot++
      continue
    }
    const phone = rand() < 0.6 ? { country: rand() < 0.6 ? ('TH' as const) : ('US' as const), slot: slot++, household: null } : null
    // a person with neither email nor phone is known by platform ids alone
    people.push({ index: i, hasEmail: rand() < 0.85, phone, platforms: platformsOf(rand) })
    i++
  }

  const plans: RecordPlan[] = []
  const plan = (person: Person, platform: PlatformKey, kind: RecordKind) => {
    const badPhone = !kind.includes('phone') && rand() < 0.03 ? pick(badPhones) : null
    plans.push({ index: plans.length, person: person.index, platform, kind, badPhone, variant: Math.floor(rand() * 1_000_000) })
  }
  for (const person of people) {
    const shared = person.phone?.household != null
    for (const platform of person.platforms) {
      const count = rand() < 0.4 ? 2 : 1
      for (let k = 0; k < count; k++) {
        const kinds: [RecordKind, number][] = [['id', 3]]
        if (person.hasEmail) kinds.push(['id+email', 3])
        if (person.phone && !shared) kinds.push(['id+phone', 2])
        if (person.phone && person.hasEmail) kinds.push(['id+email+phone', 2])
        plan(person, platform, weighted(kinds, rand))
      }
    }
    if (person.hasEmail && rand() < 0.25) plan(person, pick(person.platforms), 'email')
    if (person.phone && !shared && rand() < 0.2) plan(person, pick(person.platforms), 'phone')
  }
  return { seed, people, households, plans }
}

function platformsOf(rand: () => number): PlatformKey[] {
  const r = rand()
  const count = r < 0.5 ? 1 : r < 0.85 ? 2 : 3
  return shuffled(platformKeys, Math.floor(rand() * 2 ** 31)).slice(0, count).sort()
}

function weighted<T>(options: [T, number][], rand: () => number): T {
  let r = rand() * options.reduce((s, [, w]) => s + w, 0)
  for (const [value, w] of options) {
    r -= w
    if (r < 0) return value
  }
  return options[options.length - 1]![0]
}

// ---------------------------------------------------------------------------------------------
// One run: the records with this run's identifiers

/**
 * A run is one replay of the population's records. Its tag goes into every email, platform id
 * and component, and its number picks a block of phone numbers no other run uses, so that every
 * run can share one hub and one database.
 */
export interface Run {
  number: number
  tag: string
}

export interface SyncBody {
  platform: { component: string; externalIdField?: string; externalId?: string; defaultCountry?: string }
  email?: string
  phone?: string
}

export interface SyncRecord {
  index: number
  person: number
  platform: PlatformKey
  kind: RecordKind
  body: SyncBody
  /** The record's valid identifiers, normalized as the hub stores them. */
  keys: { platform?: { component: string; value: string }; email?: string; phone?: string }
  /** Its phone is a household's shared one. */
  householdPhone: boolean
  /** It carries an invalid phone (the sync must reject exactly that one identifier). */
  badPhone: boolean
}

// Exchanges a US number can have (not N11, 555, or the ones set aside), one block per run.
const usExchanges = Array.from({ length: 800 }, (_, i) => 200 + i).filter((x) => x % 100 !== 11 && ![555, 950, 958, 959, 976].includes(x))
const usAreas = ['415', '212', '646', '312', '617', '206', '303', '512', '213', '404']
const domains = ['example.com', 'example.net', 'mail.example.org']
const names = ['ann', 'bo', 'chai', 'dara', 'eve', 'fon', 'gus', 'hana', 'ice', 'joy', 'kit', 'lek', 'mali', 'nok', 'oat', 'ploy']

/** The phone of `slot` in run `run`: E.164 plus the parts the spellings are made of. */
function phoneOf(country: 'TH' | 'US', slot: number, run: number): { e164: string; parts: string[] } {
  if (slot >= 100_000) throw new Error('at most 100,000 phones a run')
  if (country === 'TH') {
    if (run >= 180) throw new Error('at most 180 runs')
    const nsn = String(810_000_000 + run * 100_000 + slot) // a Thai mobile: 8X XXX XXXX
    return { e164: `+66${nsn}`, parts: [nsn.slice(0, 2), nsn.slice(2, 5), nsn.slice(5)] }
  }
  const exchange = usExchanges[run + 30]
  if (exchange === undefined) throw new Error('too many runs for the US exchange blocks')
  const area = usAreas[slot % usAreas.length]!
  const line = String(Math.floor(slot / usAreas.length)).padStart(4, '0')
  return { e164: `+1${area}${exchange}${line}`, parts: [area, String(exchange), line] }
}

/** How `platform` writes the phone: local forms of its own country's numbers, else international. */
function spell(country: 'TH' | 'US', parts: string[], platform: PlatformKey, variant: number): string {
  const [a, b, c] = parts as [string, string, string]
  const local = platforms[platform].localCountry === country && variant % 4 !== 0
  const v = Math.floor(variant / 4)
  if (country === 'TH') {
    const forms = local ? [`0${a}-${b}-${c}`, `0${a}${b}${c}`, `0${a} ${b} ${c}`] : [`+66 ${a} ${b} ${c}`, `+66-${a}-${b}-${c}`, `+66${a}${b}${c}`]
    return forms[v % forms.length]!
  }
  const forms = local
    ? [`(${a}) ${b}-${c}`, `${a}-${b}-${c}`, `${a}.${b}.${c}`, `${a}${b}${c}`]
    : [`+1 ${a}-${b}-${c}`, `+1 (${a}) ${b}-${c}`, `+1${a}${b}${c}`, `+1 ${a} ${b} ${c}`]
  return forms[v % forms.length]!
}

/** The email as a platform might send it: random case, sometimes spaces around it. */
function noisy(email: string, variant: number): string {
  const rand = mulberry32(variant)
  const cased = rand() < 0.4 ? [...email].map((ch) => (rand() < 0.5 ? ch.toUpperCase() : ch)).join('') : email
  const r = rand()
  return r < 0.15 ? ` ${cased} ` : r < 0.25 ? `${cased}  ` : cased
}

/** The population's records with the identifiers of `run`. */
export function recordsOf(population: Population, run: Run): SyncRecord[] {
  const components = componentsOf(run.tag)
  const externalId = (person: number, platform: PlatformKey) =>
    platform === 'th' ? `TH-${run.tag.toUpperCase()}-${String(person).padStart(5, '0')}` : platform === 'us' ? `${run.tag}${7_000_000 + person}` : `mp_${run.tag}_${person}`
  const emailOf = (p: Person) => `${names[p.index % names.length]}.p${p.index}.${run.tag}@${domains[p.index % domains.length]}`
  return population.plans.map((plan): SyncRecord => {
    const person = population.people[plan.person]!
    const body: SyncBody = { platform: { component: components[plan.platform] } }
    if (platforms[plan.platform].sendsCountry) body.platform.defaultCountry = platforms[plan.platform].localCountry!
    const keys: SyncRecord['keys'] = {}
    if (plan.kind.startsWith('id')) {
      const id = externalId(person.index, plan.platform)
      body.platform.externalIdField = platforms[plan.platform].externalIdField
      body.platform.externalId = id
      keys.platform = { component: components[plan.platform], value: id }
    }
    if (plan.kind.includes('email')) {
      const email = emailOf(person)
      body.email = noisy(email, plan.variant)
      keys.email = email
    }
    if (plan.kind.includes('phone')) {
      const phone = phoneOf(person.phone!.country, person.phone!.slot, run.number)
      body.phone = spell(person.phone!.country, phone.parts, plan.platform, plan.variant)
      keys.phone = phone.e164
    }
    if (plan.badPhone) body.phone = plan.badPhone
    return {
      index: plan.index,
      person: person.index,
      platform: plan.platform,
      kind: plan.kind,
      body,
      keys,
      householdPhone: keys.phone !== undefined && person.phone?.household != null,
      badPhone: plan.badPhone !== null,
    }
  })
}

// ---------------------------------------------------------------------------------------------
// The truth: which records must end on one customer

/**
 * The expected partition: the connected components of the records under "share a platform id
 * (same component), an email, or a phone that is not a household's shared phone". Returns, for
 * each record, the smallest record index of its component.
 */
export function expectedPartition(records: SyncRecord[]): number[] {
  const parent = records.map((r) => r.index)
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!
      i = parent[i]!
    }
    return i
  }
  const firstWith = new Map<string, number>()
  for (const r of records) {
    const keys = [
      r.keys.platform && `platform:${r.keys.platform.component}:${r.keys.platform.value}`,
      r.keys.email && `email:${r.keys.email}`,
      r.keys.phone && !r.householdPhone && `phone:${r.keys.phone}`,
    ].filter((k): k is string => typeof k === 'string')
    for (const key of keys) {
      const other = firstWith.get(key)
      if (other === undefined) firstWith.set(key, r.index)
      else {
        const [x, y] = [find(r.index), find(other)]
        if (x !== y) parent[Math.max(x, y)] = Math.min(x, y)
      }
    }
  }
  return records.map((r) => find(r.index))
}

/**
 * What the generator promises, checked: every identifier valid as the hub reads it (the phone in
 * its platform's country) and normalized to `keys`, except the deliberate invalid phones; a
 * household's phone only beside that member's email; phone-only records only for own phones;
 * each expected component within one person. Returns the broken promises (none expected).
 */
export function checkRecords(records: SyncRecord[], expected: number[]): string[] {
  const problems: string[] = []
  const countries = ['TH', 'US', hubFallbackCountry] as const
  for (const r of records) {
    const say = (what: string) => problems.push(`${describeRecord(r)}: ${what}`)
    if (!r.keys.platform && !r.keys.email && !r.keys.phone) say('no valid identifier')
    if (r.body.email !== undefined && normalizeEmail(r.body.email) !== r.keys.email) say(`email normalizes to ${normalizeEmail(r.body.email)}`)
    if (r.badPhone) {
      for (const country of countries) {
        if (readPhone(r.body.phone!, country) !== undefined) say(`the invalid phone is valid in ${country}`)
      }
    } else if (r.body.phone !== undefined) {
      const country = r.body.platform.defaultCountry ?? platforms[r.platform].localCountry ?? hubFallbackCountry
      if (platforms[r.platform].localCountry === null && !r.body.phone.startsWith('+')) say('the marketplace sent a phone without +')
      const read = readPhone(r.body.phone, country) ?? 'invalid'
      if (read !== r.keys.phone) say(`phone reads as ${read} in ${country}, expected ${r.keys.phone}`)
    }
    if (r.householdPhone && !r.keys.email) say('a household phone without the email')
    if (r.householdPhone && r.kind === 'phone') say('a phone-only record of a shared phone')
  }
  const personOf = new Map<number, number>()
  for (const r of records) {
    const root = expected[r.index]!
    const person = personOf.get(root)
    if (person === undefined) personOf.set(root, r.person)
    else if (person !== r.person) problems.push(`expected component of #${root} holds people p${person} and p${r.person}`)
  }
  return problems
}

/** The phone as the hub stores it, read in `country`; undefined when the hub finds it invalid. */
function readPhone(raw: string, country: string): string | undefined {
  try {
    return normalizePhone(raw, country as CountryCode)
  } catch (err) {
    if (err instanceof HubError) return undefined
    throw err
  }
}

/** One line a person can read: `#12 p5 Thai store id+email {externalId, email, phone as sent}`. */
export function describeRecord(r: SyncRecord): string {
  const sent = [
    r.body.platform.externalId !== undefined ? `externalId ${JSON.stringify(r.body.platform.externalId)}` : undefined,
    r.body.email !== undefined ? `email ${JSON.stringify(r.body.email)}` : undefined,
    r.body.phone !== undefined ? `phone ${JSON.stringify(r.body.phone)}${r.badPhone ? ' (invalid)' : r.householdPhone ? ' (household)' : ''}` : undefined,
  ].filter(Boolean)
  return `#${r.index} p${r.person} ${platforms[r.platform].name} ${r.kind}${r.badPhone ? '+badphone' : ''} {${sent.join(', ')}}`
}

// ---------------------------------------------------------------------------------------------
// Replaying a run against a hub and reading back where the records landed

/** One request to a hub, answered with its status and parsed JSON body. */
export type Send = (method: 'GET' | 'POST', path: string, body?: unknown) => Promise<{ status: number; body: any }>

export interface Replay {
  /** The sync's answer for each record, by record index. */
  answers: { status: number; body: any }[]
  seconds: number
}

/**
 * Sends the records in `order` (record indexes) with `width` in flight (1: one after another);
 * the i-th record of the order goes to `hubs[i % hubs.length]`.
 */
export async function replay(records: SyncRecord[], order: number[], hubs: Send[], width: number): Promise<Replay> {
  const answers: Replay['answers'] = new Array(records.length)
  const started = performance.now()
  await pool(order.map((index, i) => ({ index, send: hubs[i % hubs.length]! })), width, async ({ index, send }) => {
    answers[index] = await send('POST', '/customer/sync', records[index]!.body)
  })
  return { answers, seconds: (performance.now() - started) / 1000 }
}

/** What one run ended with, in numbers that are all zero (or empty) when the hub did right. */
export interface RunVerdict {
  /** Answers ≥ 500, of syncs, reads and lookups. */
  serverErrors: number
  /** Syncs not answered 200/201, by `status code`. */
  notSynced: Record<string, number>
  /** Records whose `rejected` is not exactly their invalid phone (one entry) or nothing. */
  wrongRejected: number
  /** Expected components whose records landed on two or more customers. */
  splitComponents: number
  /** Customers holding records of two or more people. */
  falseMerges: number
  /** Customers holding records of two expected components of one person (joined with nothing to join on). */
  overJoined: number
  /** Records that `GET /customer/lookup` on their valid identifiers does not find on their customer. */
  lookupMisses: number
  /** `joined` merges whose reason is not `sync`. */
  joinsNotSync: number
}

export interface RunReport {
  tag: string
  verdict: RunVerdict
  /** The hub's partition: a digest of, for each record, the smallest record index on its customer. */
  partition: string
  expectedPartition: string
  joins: number
  customers: number
  /** One readable example of each kind of problem found. */
  examples: string[]
}

export const cleanVerdict: RunVerdict = { serverErrors: 0, notSynced: {}, wrongRejected: 0, splitComponents: 0, falseMerges: 0, overJoined: 0, lookupMisses: 0, joinsNotSync: 0 }

const digest = (labels: number[]) => createHash('sha256').update(labels.join(',')).digest('hex').slice(0, 16)

/**
 * Reads back where each record landed — the live customer its sync's `documentId` ends on,
 * following 410 `CUSTOMER_MERGED` `details.mergedInto` — cross-checks with
 * `GET /customer/lookup`, and compares with the expected partition.
 */
export async function judgeRun(tag: string, records: SyncRecord[], expected: number[], result: Replay, send: Send, width: number): Promise<RunReport> {
  const verdict: RunVerdict = { ...cleanVerdict, notSynced: {} }
  const examples = new Map<string, string>()
  const example = (kind: string, text: () => string) => {
    if (!examples.has(kind)) examples.set(kind, `${kind}:\n${text()}`)
  }
  let joins = 0

  // the syncs' own answers
  const documentOf: (string | undefined)[] = records.map(() => undefined)
  for (const r of records) {
    const a = result.answers[r.index]!
    if (a.status >= 500) verdict.serverErrors++
    if (a.status !== 200 && a.status !== 201) {
      const key = `${a.status} ${a.body?.code ?? ''}`.trim()
      verdict.notSynced[key] = (verdict.notSynced[key] ?? 0) + 1
      example(`not synced (${key})`, () => `  ${describeRecord(r)}\n  answered ${JSON.stringify(a.body)}`)
      continue
    }
    documentOf[r.index] = a.body.documentId
    const joined: { reason?: string }[] = Array.isArray(a.body.joined) ? a.body.joined : []
    joins += joined.length
    const notSync = joined.filter((m) => m.reason !== 'sync').length
    verdict.joinsNotSync += notSync
    if (notSync > 0) example('a join whose reason is not sync', () => `  ${describeRecord(r)}\n  joined ${JSON.stringify(joined)}`)
    const rejected = a.body.rejected
    const right = r.badPhone
      ? Array.isArray(rejected) && rejected.length === 1 && rejected[0].field === 'phone' && rejected[0].code === 'INVALID_PHONE' && rejected[0].value === r.body.phone
      : Array.isArray(rejected) && rejected.length === 0
    if (!right) {
      verdict.wrongRejected++
      example('rejected not as expected', () => `  ${describeRecord(r)}\n  rejected ${JSON.stringify(rejected)}`)
    }
  }

  // the live customer each document ends on
  const finalOf = new Map<string, Promise<string>>()
  const resolve = (id: string, seen: string[] = []): Promise<string> => {
    let known = finalOf.get(id)
    if (!known) {
      known = (async () => {
        const res = await send('GET', `/customer/${id}`)
        if (res.status >= 500) verdict.serverErrors++
        if (res.status === 200) return id
        if (res.status === 410 && res.body?.code === 'CUSTOMER_MERGED' && typeof res.body.details?.mergedInto === 'string' && !seen.includes(id)) {
          return resolve(res.body.details.mergedInto, [...seen, id])
        }
        return `unreadable:${id}:${res.status}`
      })()
      finalOf.set(id, known)
    }
    return known
  }
  const landed: (string | undefined)[] = records.map(() => undefined)
  await pool(records.filter((r) => documentOf[r.index] !== undefined), width, async (r) => {
    landed[r.index] = await resolve(documentOf[r.index]!)
  })
  for (const r of records) {
    if (landed[r.index]?.startsWith('unreadable:')) example('a document that does not read back', () => `  ${describeRecord(r)}\n  ${landed[r.index]}`)
  }

  // a lookup on the valid identifiers of one record of each expected component finds the customer
  // it landed on (the partition below checks every record; this checks the identities agree)
  const firstOfComponent = new Map<number, SyncRecord>()
  for (const r of records) if (landed[r.index] !== undefined && !firstOfComponent.has(expected[r.index]!)) firstOfComponent.set(expected[r.index]!, r)
  await pool([...firstOfComponent.values()], width, async (r) => {
    const query = new URLSearchParams()
    if (r.keys.platform) {
      query.set('component', r.keys.platform.component)
      query.set('externalId', r.keys.platform.value)
    }
    if (r.keys.email) query.set('email', r.keys.email)
    if (r.keys.phone) query.set('phone', r.keys.phone)
    const res = await send('GET', `/customer/lookup?${query}`)
    if (res.status >= 500) verdict.serverErrors++
    const found = res.status === 200 ? res.body.customer.id : `${res.status} ${res.body?.code ?? ''}`
    if (found !== landed[r.index]) {
      verdict.lookupMisses++
      example('a lookup that finds another customer', () => `  ${describeRecord(r)}\n  landed on ${landed[r.index]}, lookup ?${query} found ${found}`)
    }
  })

  // the partitions
  const byCustomer = new Map<string, SyncRecord[]>()
  for (const r of records) {
    const c = landed[r.index]
    if (c !== undefined) byCustomer.set(c, [...(byCustomer.get(c) ?? []), r])
  }
  const label = new Map<string, number>()
  for (const [c, rs] of byCustomer) label.set(c, Math.min(...rs.map((r) => r.index)))
  const hubLabels = records.map((r) => (landed[r.index] === undefined ? -1 : label.get(landed[r.index]!)!))

  const components = new Map<number, SyncRecord[]>()
  for (const r of records) components.set(expected[r.index]!, [...(components.get(expected[r.index]!) ?? []), r])
  const where = (r: SyncRecord) => `    ${describeRecord(r)} -> ${landed[r.index] ?? 'not synced'}`
  for (const rs of components.values()) {
    const on = new Set(rs.map((r) => landed[r.index] ?? `none#${r.index}`))
    if (on.size > 1) {
      verdict.splitComponents++
      example('an expected component split over several customers', () => `  ${rs.length} records of p${rs[0]!.person} landed on ${on.size} customers:\n${rs.map(where).join('\n')}`)
    }
  }
  for (const [c, rs] of byCustomer) {
    const people = new Set(rs.map((r) => r.person))
    const parts = new Set(rs.map((r) => expected[r.index]))
    if (people.size > 1) {
      verdict.falseMerges++
      example('a customer holding records of several people', () => `  ${c} holds records of ${[...people].map((p) => `p${p}`).join(', ')}:\n${rs.map(where).join('\n')}`)
    } else if (parts.size > 1) {
      verdict.overJoined++
      example('a customer joining expected components that share nothing', () => `  ${c} holds ${parts.size} expected components of p${rs[0]!.person}:\n${rs.map(where).join('\n')}`)
    }
  }

  return {
    tag,
    verdict,
    partition: digest(hubLabels),
    expectedPartition: digest(expected),
    joins,
    customers: byCustomer.size,
    examples: [...examples.values()],
  }
}

/**
 * Every run clean, every run's partition the expected one, and so the same in every order. A
 * failure names the first unclean run and shows one example of each problem it had.
 */
export function expectSameCustomersEveryTime(reports: RunReport[]): void {
  const failed = reports.find((r) => JSON.stringify(r.verdict) !== JSON.stringify(cleanVerdict))
  const explain = failed ? `run ${failed.tag}, for example:\n${failed.examples.join('\n')}` : ''
  expect(Object.fromEntries(reports.map((r) => [r.tag, r.verdict])), explain).toEqual(Object.fromEntries(reports.map((r) => [r.tag, cleanVerdict])))
  expect(reports.map((r) => r.partition), 'the partition of each order').toEqual(reports.map((r) => r.expectedPartition))
  expect(new Set(reports.map((r) => r.partition)).size, 'distinct partitions over the orders').toBe(1)
}

/**
 * The size of the order-independence runs: IDENTITY_ORDER_PEOPLE (default 2,000),
 * IDENTITY_ORDER_ORDERS (5), IDENTITY_ORDER_WIDTH (requests in flight, 32), IDENTITY_ORDER_SEED;
 * a file may give smaller defaults of its own (`defaults`), the variables still win.
 */
export function orderKnobs(env: NodeJS.ProcessEnv = process.env, defaults: { people?: number; orders?: number } = {}) {
  return {
    people: Number(env.IDENTITY_ORDER_PEOPLE ?? defaults.people ?? 2000),
    orders: Number(env.IDENTITY_ORDER_ORDERS ?? defaults.orders ?? 5),
    width: Number(env.IDENTITY_ORDER_WIDTH ?? 32),
    seed: Number(env.IDENTITY_ORDER_SEED ?? 20240611),
  }
}
