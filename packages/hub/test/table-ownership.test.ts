import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { hubModules } from '../src/modules.js'

const srcDir = fileURLToPath(new URL('../src/', import.meta.url))

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : []
  })
}

/** Every table a file names where a query would: Kysely's table methods and the SQL keywords before a table. */
function tablesNamed(text: string, tables: Set<string>): Set<string> {
  const found = new Set<string>()
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1') // comments say what they like
  for (const m of code.matchAll(/\b(?:selectFrom|insertInto|updateTable|deleteFrom|innerJoin|leftJoin|rightJoin|fullJoin|mergeInto)\(\s*['"`]([a-z_]+)/g)) found.add(m[1]!)
  for (const m of code.matchAll(/\b(?:FROM|INTO|UPDATE|JOIN|TABLE|EXISTS)\s+([a-z_]+)\b/g)) if (tables.has(m[1]!)) found.add(m[1]!)
  return found
}

describe('each domain owns its tables', () => {
  const owner = new Map<string, string>([['hub_migrations', 'db']])
  for (const m of hubModules) for (const t of m.tables) owner.set(t, m.folder)
  const tables = new Set(owner.keys())
  const files = sourceFiles(srcDir).map((path) => ({ path, folder: relative(srcDir, path).split(sep)[0]!, text: readFileSync(path, 'utf8') }))

  it('every table has exactly one owning module', () => {
    const declared = hubModules.flatMap((m) => m.tables)
    expect(new Set(declared).size).toBe(declared.length)
    expect(declared.length).toBeGreaterThanOrEqual(14)
  })

  it('no file outside the owning folder reads or writes a table; flows/ composes the domains and names none', () => {
    const offences: string[] = []
    for (const f of files) {
      for (const table of tablesNamed(f.text, tables)) {
        if (owner.get(table) !== f.folder) offences.push(`${relative(srcDir, f.path)} names ${table} (owned by ${owner.get(table)}/)`)
      }
    }
    expect(offences).toEqual([])
  })

  it('finds the tables where they are used (the check sees Kysely calls and SQL alike)', () => {
    for (const [table, folder] of owner) {
      const users = files.filter((f) => f.folder === folder && tablesNamed(f.text, tables).has(table))
      expect(users.length, `${table} in ${folder}/`).toBeGreaterThan(0)
    }
    // a planted offence is caught, in either form
    expect(tablesNamed("db.selectFrom('customers').selectAll()", tables)).toEqual(new Set(['customers']))
    expect(tablesNamed('sql`UPDATE reward_accounts SET customer_id = ${x}`', tables)).toEqual(new Set(['reward_accounts']))
    expect(tablesNamed('// reads FROM customers', tables)).toEqual(new Set())
  })

  it('write functions take the transaction they run on: only the unit of work and withTransaction open one', () => {
    const opening = files.filter((f) => /\.transaction\(\)/.test(f.text)).map((f) => relative(srcDir, f.path))
    expect(opening.sort()).toEqual([join('db', 'executor.ts'), join('db', 'migrate.ts')].sort())
  })
})
