/** The fields of a PostgreSQL error that the hub reads (pg and PGlite both set them). */
export interface PgError {
  code: string
  constraint?: string
}

export function isPgError(err: unknown): err is PgError {
  return typeof err === 'object' && err !== null && typeof (err as PgError).code === 'string' && /^[0-9A-Z]{5}$/.test((err as PgError).code)
}

/** True for a unique violation (23505), of `constraint` when given. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  return isPgError(err) && err.code === '23505' && (constraint === undefined || err.constraint === constraint)
}

/** True for errors a retry of the whole transaction may cure (serialization, deadlock). */
export function isRetryable(err: unknown): boolean {
  return isPgError(err) && (err.code === '40001' || err.code === '40P01')
}

// The database is gone or not there: its own codes (connection exception, shutdown, cannot
// connect now, too many connections) and the network's.
const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', '53300'])
// pg's own errors for a connection lost, closed or never made carry no code: their message tells
const lostConnection = /^(Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect|Query read timeout)/

/**
 * True when an error says the database cannot be reached (it went away, is restarting, refuses
 * connections, or did not connect in time) — the request may succeed once it is back (503
 * `DATABASE_UNAVAILABLE`), as opposed to an error of the request or of the hub.
 *
 * @example isDatabaseUnavailable(new Error('Connection terminated unexpectedly')) // true: the server went mid-query
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const { code, message, errors } = err as { code?: unknown; message?: unknown; errors?: unknown }
  if (typeof code === 'string' && (unavailableCodes.has(code) || (isPgError(err) && (code.startsWith('08') || code.startsWith('57P'))))) return true
  if (typeof message === 'string' && lostConnection.test(message)) return true
  // a connection to a name with several addresses fails with each of them (AggregateError)
  return Array.isArray(errors) && errors.length > 0 && errors.every(isDatabaseUnavailable)
}
