import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance } from 'fastify'
import { errorCatalogue, type ErrorBody, type ErrorCode } from '@his-her/contract'
import { HubError } from '../errors.js'
import { isPgError } from '../db/pg-errors.js'

// Unique indexes whose violation has a code of its own; any other is a plain CONFLICT.
const uniqueConstraintCodes: Record<string, ErrorCode> = {
  identities_email_key: 'EMAIL_TAKEN',
  identities_phone_key: 'PHONE_TAKEN',
  api_tokens_name_key: 'TOKEN_NAME_TAKEN',
  service_accounts_handle_key: 'SERVICE_ACCOUNT_TAKEN',
  service_accounts_email_key: 'SERVICE_ACCOUNT_TAKEN',
}

const connectionErrors = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', '57P01', '57P03', '08006', '08001', '08003'])

function body(code: ErrorCode, message?: string, details?: Record<string, unknown>): ErrorBody {
  const statusCode = errorCatalogue[code].status
  return {
    statusCode,
    code,
    error: STATUS_CODES[statusCode] ?? 'Error',
    message: message ?? errorCatalogue[code].message,
    ...(details ? { details } : {}),
  }
}

/** Maps anything thrown to the one error shape. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof HubError) return body(err.code, err.message, err.details)
  const e = err as FastifyError & { validationContext?: string }
  if (e?.validation) {
    const first = e.validation[0]
    const where = e.validationContext ?? 'request'
    const path = first ? `${where}${first.instancePath || ''}` : where
    let message = first?.message ? `${path} ${first.message}` : e.message
    if (first?.keyword === 'additionalProperties') {
      message = `${path} has an unknown field "${(first.params as { additionalProperty?: string }).additionalProperty}"`
    }
    return body('VALIDATION_FAILED', message)
  }
  if (typeof e?.code === 'string') {
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return body('BODY_TOO_LARGE')
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return body('UNSUPPORTED_MEDIA_TYPE')
    if (e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return body('INVALID_JSON', 'The body is empty; send a JSON document or no Content-Type.')
    if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (e.statusCode === 400 && e.name === 'SyntaxError')) {
      return body('INVALID_JSON', `The request body is not valid JSON: ${e.message}`)
    }
    if (e.code.startsWith('FST_ERR_CTP_')) return body('INVALID_JSON', e.message)
    if (connectionErrors.has(e.code)) return body('DATABASE_UNAVAILABLE')
  }
  if (isPgError(err)) {
    if (err.code === '23505') return body(uniqueConstraintCodes[err.constraint ?? ''] ?? 'CONFLICT')
    // a character PostgreSQL cannot store (NUL in text or JSON): the request's fault, never a 500
    if (err.code === '22021' || err.code === '22P05') return body('VALIDATION_FAILED', 'A value contains a character that cannot be stored (such as NUL, \\u0000).')
    if (err.code.startsWith('08') || err.code.startsWith('57P')) return body('DATABASE_UNAVAILABLE')
  }
  if (e instanceof SyntaxError && (e as FastifyError).statusCode === 400) return body('INVALID_JSON', e.message)
  if (e?.statusCode === 429) return body('RATE_LIMITED', e.message)
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return body('VALIDATION_FAILED', e.message)
  return body('INTERNAL_ERROR')
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const answer = toErrorBody(err)
    if (answer.statusCode >= 500) {
      // the error's message and stack, never the request body
      request.log.error({ err }, 'request failed')
    }
    const retryAfter = (answer.details as { retryAfter?: unknown } | undefined)?.retryAfter
    if (answer.statusCode === 429 && typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter))
    return reply.code(answer.statusCode).type('application/json; charset=utf-8').send(answer)
  })
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(body('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}.`))
  })
}
