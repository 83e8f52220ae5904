import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { eventPayloads, eventTypes, HubEventEnvelope } from '@his-her/contract'

const docPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'docs', 'events.md')

/** The text of docs/events.md from `## <title>` to the next `## ` heading. */
function section(doc: string, title: string): string {
  const start = doc.indexOf(`\n## ${title}\n`)
  expect(start, `docs/events.md has a section "${title}"`).toBeGreaterThan(-1)
  const next = doc.indexOf('\n## ', start + 1)
  return doc.slice(start, next === -1 ? undefined : next)
}

/** The field names in the first column of the tables of a piece of markdown. */
function tableFields(text: string): string[] {
  return [...text.matchAll(/^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`\s*\|/gm)].map((m) => m[1]!)
}

/**
 * The documented event types, each with the fields of its table: a `#### ` heading names one or
 * more types (in backticks) that share the table below it.
 */
function documentedTypes(doc: string): Map<string, string[]> {
  const types = new Map<string, string[]>()
  const blocks = section(doc, 'Event types').split(/^(?=#{3,4} )/m)
  for (const block of blocks) {
    const heading = /^#### (.*)$/m.exec(block)
    if (!heading || heading.index !== 0) continue
    const named = [...heading[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)
    expect(named.length, `"${heading[1]}" names event types in backticks`).toBeGreaterThan(0)
    const fields = tableFields(block)
    for (const type of named) {
      expect(types.has(type), `${type} documented once`).toBe(false)
      types.set(type, fields)
    }
  }
  return types
}

/** The top-level payload fields of a schema; a union's are those of every member. */
function payloadFields(schema: unknown): string[] {
  const s = schema as { properties?: Record<string, unknown>; anyOf?: unknown[] }
  if (s.anyOf) return [...new Set(s.anyOf.flatMap(payloadFields))]
  expect(s.properties, 'an event payload is an object schema').toBeDefined()
  return Object.keys(s.properties!)
}

describe('docs/events.md', () => {
  const doc = readFileSync(docPath, 'utf8')

  test('the parser reads the catalogue: a shared heading, a union payload', () => {
    const documented = documentedTypes(doc)
    expect(documented.get('points.spent')).toEqual(['transaction', 'balances'])
    expect(documented.get('points.adjusted')).toEqual(['transaction', 'balances'])
    expect(payloadFields(eventPayloads['customer.merged'])).toEqual(expect.arrayContaining(['merge', 'reason', 'targetId', 'sourceId', 'customer']))
  })

  test('every event type of the contract is documented, and the document names no other', () => {
    const documented = documentedTypes(doc)
    const missing = eventTypes.filter((type) => !documented.has(type))
    expect.soft(missing, 'event types missing from docs/events.md').toEqual([])
    const unknown = [...documented.keys()].filter((type) => !(eventTypes as string[]).includes(type))
    expect.soft(unknown, 'event types in docs/events.md that the contract does not have').toEqual([])
  })

  test("every documented type's table has each top-level field of its payload, and no other", () => {
    const documented = documentedTypes(doc)
    for (const type of eventTypes) {
      const fields = documented.get(type)
      if (!fields) continue // reported by the test above
      const contract = payloadFields(eventPayloads[type])
      expect(fields.filter((f) => !contract.includes(f)), `fields documented for ${type} that its payload does not have`).toEqual([])
      expect(contract.filter((f) => !fields.includes(f)), `payload fields of ${type} missing from its table`).toEqual([])
    }
  })

  test('the envelope is described with every field of HubEventEnvelope, and no other', () => {
    const fields = tableFields(section(doc, 'The event'))
    expect([...fields].sort()).toEqual(Object.keys(HubEventEnvelope.properties).sort())
  })

  test('the README points to the catalogue', () => {
    const readme = readFileSync(join(docPath, '..', '..', 'README.md'), 'utf8')
    expect(readme).toContain('docs/events.md#event-types')
  })
})
