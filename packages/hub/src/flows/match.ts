import { sql } from 'kysely'
import type { Services } from '../module.js'
import type { Executor } from '../db/executor.js'
import type { Candidate, JoinFacts, MatchKeys } from '../identity/match.js'

/**
 * The live customers holding any of the keys, with their records: first the identities' unique
 * indexes (one small query — all a new person costs), then, only for the holders found, their
 * records in one query, with whether each has an account in `ledger`.
 */
export async function findCandidates(exec: Executor, { identities, customers, loyalty }: Services, keys: MatchKeys, ledger?: string): Promise<Candidate[]> {
  const held = await identities.holders(exec, keys)
  if (held.length === 0) return []
  const ids = [...new Set(held.map((h) => h.customer_id))]
  const rows = await customers.readForMatch(exec, ids, { has_reward_account: ledger ? loyalty.hasAccountSql(sql`c.id`, ledger) : sql`false` })
  const byId = new Map(rows.map((r) => [r.id, r]))
  return held.flatMap((h) => {
    const customer = byId.get(h.customer_id)
    return customer ? [{ kind: h.kind, customer, version: customer.version, hasRewardAccount: customer.has_reward_account === true }] : []
  })
}

/** What joining needs beyond the candidates' records: their platform namespaces and the pairs an admin separated. */
export async function joinFacts(exec: Executor, { identities }: Services, ids: string[]): Promise<JoinFacts> {
  const namespaces = await identities.platformNamespaces(exec, ids)
  const separated = await identities.separatedPairs(exec, ids)
  const key = (a: string, b: string) => (a < b ? `${a} ${b}` : `${b} ${a}`)
  const pairs = new Set(separated.map(([a, b]) => key(a, b)))
  return { namespaces, separated: (a, b) => pairs.has(key(a, b)) }
}
