import { sql, type RawBuilder } from 'kysely'
import type { Tx } from './db/executor.js'
import { fingerprint } from './secrets.js'

/**
 * What an erase writes in place of an idempotency key that held a person's data: a keyed hash of
 * it. Every lookup of a key looks for both forms ({@link keyForms}), so a retry that comes after
 * the erase with the original key still finds what the first request did and posts nothing twice.
 */
export function erasedKey(secret: string, key: string): string {
  return `erased:${fingerprint(secret, 'erased idempotency key', key)}`
}

/** A key as a caller sends it, and as an erase may have rewritten it: look for either. */
export function keyForms(secret: string, key: string): [string, string] {
  return [key, erasedKey(secret, key)]
}

/** Keys whose string value is personal in an object about the person: contact, names, address lines, identity values. */
const personalKeys = new Set([
  'email', 'phone', 'firstName', 'lastName', 'first_name', 'last_name', 'value', 'rawValue', 'raw_value', 'newValue',
  'label', 'line1', 'line2', 'city', 'state', 'postalCode', 'postal_code', 'country', 'group',
])
/** Of those, the ones that identify (an email, a phone, a platform's id): found anywhere, they name the person. */
const identifyingKeys = new Set(['email', 'phone', 'value', 'rawValue', 'raw_value'])
/** A caller's free text in an object about the person (a points transaction's reason, an order reference): gone when it holds any personal value. */
const freeTextKeys = new Set(['reference', 'reason', 'orderRef', 'idempotencyKey', 'note', 'description'])
/** Free-form parts of an object about the person, emptied whole. */
const emptied: Record<string, () => unknown> = { metadata: () => ({}), groups: () => [] }

/** Shorter strings are left alone outside objects about the person: "GB" or "Al" name no one. */
const MIN_LENGTH = 3

/**
 * The personal data of one person (a customer and the records merged into it) and the rewrite
 * that takes it out of a stored JSON document — an event payload, a merge record, a kept answer.
 *
 * A document is *about* the person when it is one of the person's events; an object inside any
 * document is about the person when its `id` or `customerId` is one of the person's ids, and a
 * merge's `moved` when the merge names the person. In those, every personal key's string becomes
 * `null`, metadata `{}` and groups `[]`, and a caller's free text (a reason, a reference) `null`
 * when it holds any personal value of the person. A document that mentions the person elsewhere (one of its
 * ids, or a string holding one of its emails, phones or platform ids) loses every string that
 * holds an identifier of the person or equals another personal value of it (a name, an address
 * line). A document that does neither is left alone: another customer's "Ada" is not this one's.
 *
 * The values grow while the person's own documents are rewritten ({@link Redaction.redact} with
 * `about`): an email it had before is found in the others too.
 *
 * @example
 * ```ts
 * const r = createRedaction(['cus_01J…'], { identifiers: ['ada@example.com'], values: ['Ada'] })
 * r.redact({ customer: { id: 'cus_01J…', firstName: 'Ada' } }, false) // { customer: { id: 'cus_01J…', firstName: null } }
 * ```
 */
export function createRedaction(ids: readonly string[], known: { identifiers: readonly string[]; values: readonly string[] }) {
  const idSet = new Set(ids)
  const identifiers = new Set<string>()
  const values = new Set<string>()
  const learn = (value: string, identifying: boolean) => {
    const v = value.trim().toLowerCase()
    if (v.length < MIN_LENGTH) return
    values.add(v)
    if (identifying) identifiers.add(v)
  }
  for (const v of known.identifiers) learn(v, true)
  for (const v of known.values) learn(v, false)

  const holdsIdentifier = (lower: string) => {
    for (const i of identifiers) if (lower.includes(i)) return true
    return false
  }
  const personal = (s: string) => {
    const lower = s.trim().toLowerCase()
    return idSet.has(s) ? false : values.has(lower) || holdsIdentifier(lower)
  }

  function freeText(s: string, about: boolean): string | null {
    const lower = s.trim().toLowerCase()
    if (values.has(lower) || holdsIdentifier(lower)) return null
    if (about) for (const v of values) if (lower.includes(v)) return null
    return s
  }

  function mentions(node: unknown): boolean {
    if (typeof node === 'string') return idSet.has(node) || holdsIdentifier(node.toLowerCase())
    if (Array.isArray(node)) return node.some(mentions)
    if (node !== null && typeof node === 'object') return Object.values(node).some(mentions)
    return false
  }

  /** The node rewritten; `changed` says whether anything was. */
  function walk(node: unknown, about: boolean, changed: { any: boolean }): unknown {
    if (typeof node === 'string') {
      if (!personal(node)) return node
      changed.any = true
      return null
    }
    if (Array.isArray(node)) return node.map((n) => walk(n, about, changed))
    if (node === null || typeof node !== 'object') return node
    const obj = node as Record<string, unknown>
    const self = about || idSet.has(obj.id as string) || idSet.has(obj.customerId as string)
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(obj)) {
      if (self && personalKeys.has(key) && typeof value === 'string') {
        learn(value, identifyingKeys.has(key))
        out[key] = null
        changed.any = true
      } else if (self && freeTextKeys.has(key) && typeof value === 'string') {
        const text = freeText(value, true)
        if (text !== value) changed.any = true
        out[key] = text
      } else if (self && key in emptied && value !== null && typeof value === 'object') {
        for (const leaf of stringsIn(value)) learn(leaf, false)
        const empty = emptied[key]!()
        if (JSON.stringify(value) !== JSON.stringify(empty)) changed.any = true
        out[key] = empty
      } else {
        const mergeOfPerson = key === 'moved' && (idSet.has(obj.targetId as string) || idSet.has(obj.sourceId as string))
        out[key] = walk(value, self || mergeOfPerson, changed)
      }
    }
    return out
  }

  return {
    /** The person's customer ids. */
    ids: [...idSet],
    /**
     * `doc` without the person's data, or undefined when it holds none to take out. With
     * `about`, the whole document is about the person (one of its events, a merge it took part in).
     */
    redact(doc: unknown, about: boolean): unknown {
      if (!about && !mentions(doc)) return undefined
      const changed = { any: false }
      const out = walk(doc, about, changed)
      return changed.any ? out : undefined
    },
    /**
     * A free-form string — a reference, a reason, a key a caller chose — without the person's
     * data: `null` when it holds one of the person's identifiers or equals another personal value
     * of it, and, in a record about the person (`about`), when it holds any personal value of it
     * at all ("refund for Ada Lovelace" on Ada's own points); otherwise the string unchanged.
     */
    text: freeText,
    /**
     * A condition true for a row whose `column` (text, or jsonb read as text) may hold the person's
     * data: it contains one of the person's ids or identifiers, as JSON writes them. A cheap
     * filter before {@link redact} decides; it scans, so an erase reads every such row once.
     */
    mayHold(column: RawBuilder<unknown>): RawBuilder<boolean> {
      const needles = [...idSet, ...identifiers]
      const patterns = needles.map((n) => `%${JSON.stringify(n).slice(1, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
      return sql<boolean>`(${column})::text ILIKE ANY (${patterns}::text[])`
    },
  }
}
export type Redaction = ReturnType<typeof createRedaction>

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(stringsIn)
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringsIn)
  return []
}

/** Inside the erase's transaction only: lets the ledger's insert-only triggers take the free-form columns' rewrite (ledger_refuse_change_but_erasure, migration 0027). */
export async function allowErasure(tx: Tx, on: boolean): Promise<void> {
  await sql`SELECT set_config('hub.erasing', ${on ? 'on' : 'off'}, true)`.execute(tx)
}

/** A caller's free-form fields without the person's data; `key` is rewritten to its erased form (see `erasedKey`) when it held any. */
export function scrubFields<T extends Record<string, string | null>>(redaction: Redaction, secret: string, fields: T, key: string, about: boolean) {
  const out: Record<string, string | null> = {}
  let changed = false
  for (const [name, value] of Object.entries(fields)) {
    const next = value === null ? null : redaction.text(value, about)
    if (next !== value) changed = true
    out[name] = next
  }
  const newKey = key.startsWith('erased:') || redaction.text(key, about) !== null ? key : erasedKey(secret, key)
  if (newKey !== key) changed = true
  return { fields: out as { [K in keyof T]: string | null }, key: newKey, changed }
}
