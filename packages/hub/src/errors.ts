import { errorCatalogue, type ErrorCode } from '@his-her/contract'

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

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? errorCatalogue[code].message)
    this.name = 'HubError'
    this.code = code
    this.statusCode = errorCatalogue[code].status
    this.details = details
  }
}

/** A configuration problem found at start-up; the message names the bad key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}
