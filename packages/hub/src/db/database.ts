import type { ColumnType } from 'kysely'

/**
 * The hub's tables, as Kysely sees them. Each domain adds its own tables from its `tables.ts`
 * (`declare module '../db/database.js' { interface Database { … } }`), so this interface is the
 * union of them all while each table is declared once, beside the code that owns it.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Database {}

/** A timestamp column with a default: read as a Date, written as a Date or an ISO string. */
export type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>
/** A timestamp column without a default. */
export type RequiredTimestamp = ColumnType<Date, Date | string, Date | string>
/** A jsonb column: read parsed, written as JSON text. */
export type Json<T> = ColumnType<T, string, string>
