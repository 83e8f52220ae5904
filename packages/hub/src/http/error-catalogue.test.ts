import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { errorCatalogue } from '@his-her/contract'
import { HubError } from '../errors.js'
import { toErrorBody } from './error-handler.js'

const srcDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const docPath = join(srcDir, '..', '..', '..', 'docs', 'errors.md')
const catalogueCodes = Object.keys(errorCatalogue)

/** The rows of the catalogue table in docs/errors.md: code → status. */
function documentedCodes(): Map<string, number> {
  const rows = new Map<string, number>()
  for (const line of readFileSync(docPath, 'utf8').split('\n')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*(\d{3})\s*\|(.*)\|\s*$/.exec(line)
    if (!m) continue
    const cells = m[3]!.split('|').map((c) => c.trim())
    expect(cells.length, `${m[1]} has "when" and "what to do" cells`).toBe(2)
    for (const cell of cells) expect(cell.length, `${m[1]} cell filled`).toBeGreaterThan(10)
    expect(rows.has(m[1]!), `${m[1]} documented once`).toBe(false)
    rows.set(m[1]!, Number(m[2]))
  }
  return rows
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : []
  })
}

/** Every error code the hub's source produces, with the files that produce it. */
function codesInSource(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>()
  const add = (code: string, file: string) => {
    if (!found.has(code)) found.set(code, new Set())
    found.get(code)!.add(relative(srcDir, file))
  }
  for (const file of sourceFiles(srcDir)) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/new HubError\(\s*'([A-Z][A-Z0-9_]*)'/g)) add(m[1]!, file)
    // error bodies written by hand, e.g. the 503 of /health
    for (const m of text.matchAll(/\bcode:\s*'([A-Z][A-Z0-9_]*)'/g)) add(m[1]!, file)
    if (file.endsWith(join('http', 'error-handler.ts'))) {
      for (const m of text.matchAll(/\bbody\(\s*'([A-Z][A-Z0-9_]*)'/g)) add(m[1]!, file)
      for (const m of text.matchAll(/\?\?\s*'([A-Z][A-Z0-9_]*)'/g)) add(m[1]!, file)
      const constraints = /uniqueConstraintCodes[^=]*=\s*\{([^}]*)\}/.exec(text)
      expect(constraints, 'the unique constraint mapping is found').not.toBeNull()
      for (const m of constraints![1]!.matchAll(/:\s*'([A-Z][A-Z0-9_]*)'/g)) add(m[1]!, file)
    }
  }
  return found
}

describe('the error catalogue', () => {
  test('every code is in docs/errors.md with its status, and the document lists no other', () => {
    const documented = documentedCodes()
    const missing = catalogueCodes.filter((code) => !documented.has(code))
    expect(missing, 'codes missing from docs/errors.md').toEqual([])
    for (const [code, status] of documented) {
      expect(catalogueCodes, `docs/errors.md lists ${code}, which is not in the catalogue`).toContain(code)
      expect(status, `status of ${code}`).toBe(errorCatalogue[code as keyof typeof errorCatalogue].status)
    }
  })

  test('docs/errors.md describes the error shape', () => {
    const doc = readFileSync(docPath, 'utf8')
    for (const field of ['statusCode', 'code', 'error', 'message', 'details', 'x-request-id']) expect(doc).toContain(`\`${field}\``)
  })

  test('every code the hub produces is in the catalogue', () => {
    const found = codesInSource()
    // the scan does see the codes thrown by services, mapped by the error handler and written by hand
    for (const known of ['CUSTOMER_NOT_FOUND', 'ORDER_CUSTOMER_MISMATCH', 'EMAIL_TAKEN', 'TOKEN_NAME_TAKEN', 'BODY_TOO_LARGE', 'CONFLICT', 'INTERNAL_ERROR', 'DATABASE_UNAVAILABLE']) {
      expect(found.has(known), `the scan finds ${known}`).toBe(true)
    }
    const unknown = [...found].filter(([code]) => !catalogueCodes.includes(code)).map(([code, files]) => `${code} (${[...files].join(', ')})`)
    expect(unknown, 'codes produced by the source but missing from the catalogue').toEqual([])
  })

  test('every catalogue entry has an error status and a message; HubError and the handler follow it', () => {
    for (const [code, entry] of Object.entries(errorCatalogue)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]*$/)
      expect(entry.status).toBeGreaterThanOrEqual(400)
      expect(entry.status).toBeLessThan(600)
      expect(entry.message.length).toBeGreaterThan(10)
      const error = new HubError(code as keyof typeof errorCatalogue)
      expect(error.statusCode).toBe(entry.status)
      const body = toErrorBody(error)
      expect(body).toMatchObject({ statusCode: entry.status, code, message: entry.message })
      expect(body.error).toMatch(/^[A-Z]/)
    }
  })
})
