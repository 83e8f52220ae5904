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
