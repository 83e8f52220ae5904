import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { parse } from 'csv-parse'
import { ImportRow } from '@his-her/contract'
import type { StagedRow } from './import-service.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const ajv = new Ajv({ allErrors: false, strict: false })
addFormats(ajv)
const validRow = ajv.compile<ImportRow>(ImportRow)

/** Columns of a CSV row that hold JSON (objects, lists) or numbers. */
const jsonColumns = new Set(['metadata', 'addresses', 'groups'])
const numberColumns = new Set(['orderCount', 'totalSpent', 'points'])

/** A CSV record as an import row: empty cells are absent, nested fields JSON, counts numbers. */
function fromCsv(record: Record<string, string>): Record<string, unknown> {
  const row: Record<string, unknown> = {}
  for (const [column, cell] of Object.entries(record)) {
    if (cell === '') continue
    if (jsonColumns.has(column)) row[column] = JSON.parse(cell)
    else if (numberColumns.has(column)) row[column] = /^-?\d+$/.test(cell.trim()) ? Number(cell) : cell
    else row[column] = cell
  }
  return row
}

/** The row checked against {@link ImportRow}, or why it is refused (`VALIDATION_FAILED: …`). */
function check(line: number, value: unknown): StagedRow {
  if (validRow(value)) return { line, row: value }
  const e = validRow.errors?.[0]
  const where = e?.instancePath ? `${e.instancePath.slice(1).replace(/\//g, '.')} ` : ''
  const what = e?.keyword === 'additionalProperties' ? `has an unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"` : (e?.message ?? 'is not valid')
  return { line, invalid: `VALIDATION_FAILED: ${where}${what}` }
}

/**
 * The rows of an import file, in order, each with its line (JSON Lines: the line number; CSV: the
 * record's number, 1 for the first after the header). A row that cannot be read or is not an
 * {@link ImportRow} is yielded with why (`invalid`): it is reported, and the others go on.
 * Blank lines of JSON Lines are skipped.
 *
 * @example
 * ```ts
 * for await (const r of readRows(createReadStream('shop.jsonl'), 'jsonl')) console.log(r.line)
 * ```
 */
export async function* readRows(input: Readable, format: 'csv' | 'jsonl'): AsyncGenerator<StagedRow> {
  if (format === 'jsonl') {
    let line = 0
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      line++
      if (text.trim() === '') continue
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        yield { line, invalid: 'INVALID_JSON: the line is not JSON' }
        continue
      }
      yield check(line, value)
    }
    return
  }
  const parser = input.pipe(parse({ columns: true, bom: true, skip_empty_lines: true, relax_column_count: false, trim: true }))
  let line = 0
  try {
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      line++
      let value: Record<string, unknown>
      try {
        value = fromCsv(record)
      } catch {
        yield { line, invalid: 'INVALID_JSON: a metadata, addresses or groups cell is not JSON' }
        continue
      }
      yield check(line, value)
    }
  } catch (err) {
    // a malformed CSV (an unclosed quote, a record with another number of cells) stops the reading
    throw new CsvError(`line ${line + 1}: ${(err as Error).message}`)
  }
}

/** The CSV could not be read past a point. */
export class CsvError extends Error {
  override name = 'CsvError'
}

/** The format a file name says (`.csv`, else JSON Lines). */
export function formatOf(path: string): 'csv' | 'jsonl' {
  return /\.csv$/i.test(path) ? 'csv' : 'jsonl'
}

/** SHA-256 of a file, hex: an import is found again by it. */
export async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
