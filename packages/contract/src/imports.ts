import Type, { type Static } from 'typebox'
import { Currency, List, Metadata, Nullable, PathId, Timestamp } from './common.js'
import { AddressInput, Group } from './customers.js'
import { Component, ExternalId, FieldName } from './identity.js'
import { defineDomain } from './define.js'

const Opt = Type.Optional

/**
 * One row of a bulk import (a line of JSON Lines, or a CSV record with these column names and the
 * nested fields as JSON): what a sync of that platform sends, and what the platform knows beyond it.
 */
export const ImportRow = Type.Object(
  {
    externalId: Opt(Nullable(ExternalId)),
    email: Opt(Nullable(Type.String({ maxLength: 254 }))),
    phone: Opt(Nullable(Type.String({ maxLength: 40 }))),
    firstName: Opt(Nullable(Type.String({ maxLength: 200 }))),
    lastName: Opt(Nullable(Type.String({ maxLength: 200 }))),
    metadata: Opt(Metadata),
    addresses: Opt(Type.Array(AddressInput, { maxItems: 20 })),
    groups: Opt(Type.Array(Group, { maxItems: 50 })),
    orderCount: Opt(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    totalSpent: Opt(Type.Integer({ minimum: 0, maximum: 9_007_199_254_740_991, description: 'minor units, e.g. cents' })),
    currency: Opt(Nullable(Currency)),
    points: Opt(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: "the platform's points balance: posted once as an `import` transaction" })),
  },
  { additionalProperties: false },
)
export type ImportRow = Static<typeof ImportRow>

export const importStatuses = ['staging', 'running', 'done', 'failed'] as const

/** An import: where it is, and what it did so far. */
export const ImportSummary = Type.Object(
  {
    id: Type.String(),
    component: Type.String(),
    source: Type.String({ description: 'the file name it was given' }),
    status: Type.Union([Type.Literal('staging'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
    totalRows: Nullable(Type.Integer({ description: 'null while the file is still being read' })),
    processedRows: Type.Integer(),
    created: Type.Integer({ description: 'rows that made a new customer' }),
    matched: Type.Integer({ description: 'rows that found their customer' }),
    joined: Type.Integer({ description: 'customers joined into another by the rows (merges with reason sync)' }),
    conflicts: Type.Integer({ description: 'identifiers left with another customer' }),
    rejected: Type.Integer({ description: 'rows refused whole (no valid identifier, invalid fields)' }),
    partial: Type.Integer({ description: 'rows imported whose groups, addresses, order history or points could not all be applied (the reason is listed with the rejected rows)' }),
    rejectedIdentifiers: Type.Integer({ description: 'invalid emails or phones set aside while the row went on' }),
    error: Nullable(Type.String()),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    finishedAt: Nullable(Timestamp),
  },
  { $id: 'ImportSummary' },
)
export type ImportSummary = Static<typeof ImportSummary>

export const ImportQuery = Type.Object(
  {
    platform: Component,
    format: Opt(Type.Union([Type.Literal('csv'), Type.Literal('jsonl')], { description: 'what the body is; by default its Content-Type says' })),
    idField: Opt(FieldName),
  },
  { additionalProperties: false },
)
export type ImportQuery = Static<typeof ImportQuery>

/** A row refused whole, or imported with a part it could not apply: its line and why. */
export const ImportRejection = Type.Object({ line: Type.Integer(), reason: Type.String() })
export const ImportRejections = Type.Object({ data: Type.Array(ImportRejection), nextAfter: Nullable(Type.Integer({ description: 'pass as `after` for the next page; null on the last' })) })
export type ImportRejections = Static<typeof ImportRejections>

const tags = ['imports']
const IdParams = Type.Object({ id: PathId })

export const imports = defineDomain({
  errors: {
    IMPORT_RUNNING: { status: 409, message: 'An import of this platform is not finished, or another process is working on it: finish that one first.' },
    IMPORT_NOT_FOUND: { status: 404, message: 'No import has this id.' },
    IMPORT_TOO_LARGE: { status: 413, message: 'The file is larger than an upload may be (imports.max_upload_mib); import it with customer-hub import.' },
  },
  events: {},
  routes: {
    createImport: {
      method: 'POST', path: '/imports', tags, access: ['admin'],
      summary: "Import a platform's customers in bulk: the file is the body",
      description:
        'The body is the file: JSON Lines (`application/x-ndjson`) or CSV (`text/csv`) rows of `ImportRow`. The hub stores it, answers 202 with the import ' +
        '(`GET /imports/:id` shows its progress) and resolves the rows with the sync\'s rules in batches, as `customer-hub import` does (docs/imports.md). ' +
        'The same file again answers 200 with the import it made (nothing changes; an unfinished one goes on).',
      query: ImportQuery,
      upload: ['application/x-ndjson', 'text/csv'],
      responses: { 202: ImportSummary, 200: ImportSummary },
      errors: ['IMPORT_RUNNING', 'IMPORT_TOO_LARGE'],
    },
    listImports: {
      method: 'GET', path: '/imports', tags, access: ['admin', 'support'],
      summary: 'The imports, newest first (the last 100)',
      responses: { 200: List(ImportSummary) },
      errors: [],
    },
    getImport: {
      method: 'GET', path: '/imports/:id', tags, access: ['admin', 'support'],
      summary: 'An import: where it is and what it did so far',
      params: IdParams,
      responses: { 200: ImportSummary },
      errors: ['IMPORT_NOT_FOUND'],
    },
    listImportRejections: {
      method: 'GET', path: '/imports/:id/rejected', tags, access: ['admin', 'support'],
      summary: "An import's rows refused whole or in part: line and reason",
      params: IdParams,
      query: Type.Object({ after: Opt(Type.Integer({ minimum: 0 })), limit: Opt(Type.Integer({ minimum: 1, maximum: 1000 })) }, { additionalProperties: false }),
      responses: { 200: ImportRejections },
      errors: ['IMPORT_NOT_FOUND'],
    },
  },
})
