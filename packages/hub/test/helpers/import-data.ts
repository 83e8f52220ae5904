import type { ImportRow } from '@his-her/contract'
import { mulberry32 } from './people.js'

export interface PlatformFile {
  component: string
  rows: ImportRow[]
}

/**
 * Customer files of `platforms` platforms about `people` people, the way exports from several
 * stores look: each platform knows a part of the people, neighbouring platforms share about
 * `overlap` of theirs; a person is known by email on one platform and by phone only on another
 * (so a later row joins two customers), some emails differ in case and spaces, some are invalid
 * (set aside, the row goes on), a few rows have no usable identifier at all (rejected), some
 * households share a phone with different emails (the phone rule), and a few people appear twice
 * in one file under two platform ids.
 */
export function platformFiles(people: number, { platforms = 3, overlap = 0.3, seed = 7, tag = 'imp' } = {}): PlatformFile[] {
  const rnd = mulberry32(seed)
  const person = Array.from({ length: people }, (_, i) => ({
    email: rnd() < 0.9 ? `${tag}.person${i}@example.com` : null,
    phone: rnd() < 0.6 ? `+1415${String(2000000 + i).padStart(7, '0')}` : null,
    firstName: `First${i}`,
    lastName: `Last${i % 997}`,
  }))
  // households: a few people take their neighbour's phone
  for (let i = 1; i < people; i++) if (rnd() < 0.03 && person[i - 1]!.phone) person[i]!.phone = person[i - 1]!.phone
  const share = people / (platforms - (platforms - 1) * overlap)
  const files: PlatformFile[] = []
  const range = (p: number) => {
    const from = Math.floor(p * share * (1 - overlap))
    return { from, to: Math.min(people, Math.floor(from + share)) }
  }
  // people to be joined: known by email alone on one platform, by phone alone on the next, which
  // later sends a row with both — the two customers become one
  const joins = (p: number, i: number) => p + 1 < platforms && i % 23 === 0 && i >= range(p + 1).from && i < range(p).to && person[i]!.email !== null && person[i]!.phone !== null
  for (let p = 0; p < platforms; p++) {
    const component = `identity.${tag}-shop-${p}`
    const { from, to } = range(p)
    const rows: ImportRow[] = []
    const late: ImportRow[] = []
    for (let i = from; i < to; i++) {
      const who = person[i]!
      const roll = rnd()
      const row: ImportRow = { externalId: `${p}-${i}`, firstName: who.firstName, lastName: who.lastName }
      if (joins(p, i)) {
        rows.push({ ...row, email: who.email })
        continue
      }
      if (p > 0 && joins(p - 1, i)) {
        rows.push({ ...row, phone: who.phone })
        late.push({ externalId: `${p}-${i}-both`, email: who.email, phone: who.phone })
        continue
      }
      if (roll < 0.1 && who.phone) row.phone = who.phone // phone only here
      else {
        if (who.email) row.email = roll < 0.2 ? `  ${who.email.toUpperCase()} ` : who.email
        if (who.phone && rnd() < 0.5) row.phone = who.phone
      }
      if (rnd() < 0.02) row.email = `not-an-email-${i}`
      if (rnd() < 0.005) {
        rows.push({ email: `broken-${p}-${i}`, firstName: who.firstName })
        continue
      }
      if (rnd() < 0.3) row.metadata = { source: component, tier: i % 3 }
      rows.push(row)
      if (rnd() < 0.01) rows.push({ ...row, externalId: `${p}-${i}-again` })
    }
    files.push({ component, rows: [...rows, ...late] })
  }
  return files
}

/** JSON Lines of the rows. */
export const jsonLines = (rows: ImportRow[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n'
