import { describe, expect, it } from 'vitest'
import { createRedaction } from './redaction.js'

const person = 'cus_01JDA9Q3C7M2ZK8V4T6N1R5XWE'
const someoneElse = 'cus_01JDA9Q3C7M2ZK8V4T6N1R5XWF'
const make = () => createRedaction([person], { identifiers: ['ada@example.com', '+14155550123'], values: ['Ada', 'Lovelace'] })

describe('createRedaction', () => {
  it('clears every personal key of a document about the person, empties its metadata and groups, and keeps ids and amounts', () => {
    const r = make()
    const doc = { customer: { id: person, email: 'ada@example.com', firstName: 'Ada', lastName: 'Byron', metadata: { note: 'x' }, groups: ['vip'], orderCount: 2 }, changed: ['lastName'] }
    expect(r.redact(doc, true)).toEqual({ customer: { id: person, email: null, firstName: null, lastName: null, metadata: {}, groups: [], orderCount: 2 }, changed: ['lastName'] })
  })

  it('learns from the documents about the person: an older name is found in other documents that mention it afterwards', () => {
    const r = make()
    r.redact({ customer: { id: person, lastName: 'Byron', email: 'old@example.com' } }, true)
    expect(r.redact({ conflict: { value: 'old@example.com', note: 'Byron' } }, false)).toEqual({ conflict: { value: null, note: null } })
  })

  it("in another customer's document, takes out an object about the person and strings holding its identifiers, nothing else", () => {
    const r = make()
    const doc = {
      customerId: someoneElse,
      conflict: { kind: 'email', value: 'Ada@Example.com', heldBy: person },
      customer: { id: someoneElse, firstName: 'Grace', email: 'grace@example.com' },
      source: { id: person, firstName: 'Ada', email: 'ada@example.com' },
      message: 'sent to ada@example.com',
    }
    expect(r.redact(doc, false)).toEqual({
      customerId: someoneElse,
      conflict: { kind: 'email', value: null, heldBy: person },
      customer: { id: someoneElse, firstName: 'Grace', email: 'grace@example.com' },
      source: { id: person, firstName: null, email: null },
      message: null,
    })
  })

  it("leaves a document that does not mention the person alone, even when a name is the same: another customer's Ada is not this one", () => {
    expect(make().redact({ customer: { id: someoneElse, firstName: 'Ada', lastName: 'Lovelace' } }, false)).toBeUndefined()
  })

  it("clears what a merge naming the person moved (the fields it filled), and keeps the merge's ids", () => {
    const merge = { id: 'mrg_1', targetId: someoneElse, sourceId: person, moved: { identities: ['idn_1'], filled: { firstName: 'Ada', phone: '+14155550123' } } }
    expect(make().redact({ merge }, false)).toEqual({ merge: { ...merge, moved: { identities: ['idn_1'], filled: { firstName: null, phone: null } } } })
  })

  it('finds a candidate row by its ids and identifiers as JSON writes them, wildcards escaped', () => {
    const r = createRedaction([person], { identifiers: ['a_b%c@example.com'], values: [] })
    const compiled = r.mayHold(({ toOperationNode: () => ({ kind: 'RawNode', sqlFragments: ['payload'], parameters: [] }) }) as never)
    const node = compiled.toOperationNode() as unknown as { parameters: { value?: unknown }[] }
    const patterns = node.parameters.find((p) => Array.isArray(p.value))!.value
    expect(patterns).toEqual([String.raw`%cus\_01JDA9Q3C7M2ZK8V4T6N1R5XWE%`, String.raw`%a\_b\%c@example.com%`])
  })
})
