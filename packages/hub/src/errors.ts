import { errorCatalogue, type ErrorCode } from '@his-her/contract'
import type { Executor } from './db/executor.js'

/**
 * The only error services throw on purpose. The HTTP error handler turns it into
 * `{statusCode, code, error, message}` with the status from the catalogue.
 *
 * @example
 * ```ts
 * throw new HubError('CUSTOMER_NOT_FOUND')
 * throw new HubError('EMAIL_TAKEN', undefined, { customerId })
 * ```
 */
export class HubError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details: Record<string, unknown> | undefined
  /**
   * Work for the database once the request's transaction has rolled back, so that it stays when
   * the request fails (a counted failed attempt). The unit of work runs it; its own failure is
   * not the request's.
   */
  afterRollback: ((db: Executor) => Promise<void>) | undefined

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? errorCatalogue[code].message)
    this.name = 'HubError'
    this.code = code
    this.statusCode = errorCatalogue[code].status
    this.details = details
    this.afterRollback = undefined
  }

  /** The same error, with work to do after the rollback (see `afterRollback`). */
  withAfterRollback(work: (db: Executor) => Promise<void>): this {
    this.afterRollback = work
    return this
  }
}

/** A configuration problem found at start-up; the message names the bad key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}
