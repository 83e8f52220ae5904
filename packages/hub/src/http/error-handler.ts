import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { FastifyError, FastifyInstance } from 'fastify'
import { errorCatalogue, type ErrorBody, type ErrorCode } from '@his-her/contract'
import { HubError } from '../errors.js'
import { isDatabaseUnavailable, isPgError } from '../db/pg-errors.js'

// Unique indexes whose violation has a code of its own; any other is a plain CONFLICT.
const uniqueConstraintCodes: Record<string, ErrorCode> = {
  identities_email_key: 'EMAIL_TAKEN',
  identities_phone_key: 'PHONE_TAKEN',
  api_tokens_name_key: 'TOKEN_NAME_TAKEN',
  service_accounts_handle_key: 'SERVICE_ACCOUNT_TAKEN',
  service_accounts_email_key: 'SERVICE_ACCOUNT_TAKEN',
}

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
  // the database went away (or never answered): retry shortly, never a 500
  if (isDatabaseUnavailable(err)) return body('DATABASE_UNAVAILABLE')
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
  }
  if (isPgError(err)) {
    if (err.code === '23505') return body(uniqueConstraintCodes[err.constraint ?? ''] ?? 'CONFLICT')
    // a character PostgreSQL cannot store (NUL in text or JSON): the request's fault, never a 500
    if (err.code === '22021' || err.code === '22P05') return body('VALIDATION_FAILED', 'A value contains a character that cannot be stored (such as NUL, \\u0000).')
  }
  if (e instanceof SyntaxError && (e as FastifyError).statusCode === 400) return body('INVALID_JSON', e.message)
  if (e?.statusCode === 429) return body('RATE_LIMITED', e.message)
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return body('VALIDATION_FAILED', e.message)
  return body('INTERNAL_ERROR')
}

/**
 * How much of a body refused as too large (413 `BODY_TOO_LARGE`) the hub reads and drops before
 * it answers. A client that sends the whole body before it reads the answer then gets the 413
 * instead of a connection closed under it (`EPIPE`, `ECONNRESET`). A body declared longer than
 * this is answered and the connection closed at once; one that goes on past it is answered then.
 */
export const MAX_DRAINED_BYTES = 32 * 1024 * 1024

/** Requests with `Expect: 100-continue` refused before their body was asked for. */
const refusedBeforeBody = new WeakSet<IncomingMessage>()

/**
 * Reads the rest of a refused body into nothing, up to {@link MAX_DRAINED_BYTES}; resolves when
 * it has all come (or the client went away, or the limit was passed). The answer goes after it:
 * the connection closes once the answer is sent, and closing it while the client still sends
 * would reset it before it read the answer.
 */
function drainRefusedBody(raw: IncomingMessage): Promise<void> | undefined {
  if (raw.complete || refusedBeforeBody.has(raw)) return undefined // nothing more comes
  if (Number(raw.headers['content-length']) > MAX_DRAINED_BYTES) return undefined // not worth reading: answered, then closed
  return new Promise((resolve) => {
    let drained = 0
    const done = () => {
      raw.off('data', onData)
      raw.off('end', done)
      raw.off('close', done)
      raw.off('error', done)
      resolve()
    }
    const onData = (chunk: Buffer) => {
      drained += chunk.length
      if (drained > MAX_DRAINED_BYTES) done()
    }
    raw.on('data', onData)
    raw.once('end', done)
    raw.once('close', done)
    raw.once('error', done)
    raw.resume()
  })
}

export function registerErrorHandling(app: FastifyInstance): void {
  const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024
  // Expect: 100-continue: a body declared over the limit is refused before the client sends it
  // (Node would otherwise ask for every body, and the 413 would come while it is being sent)
  app.server.on('checkContinue', (req: IncomingMessage, res) => {
    if (Number(req.headers['content-length']) > bodyLimit) refusedBeforeBody.add(req)
    else res.writeContinue()
    app.server.emit('request', req, res)
  })
  app.setErrorHandler(async (err, request, reply) => {
    const answer = toErrorBody(err)
    if (answer.code === 'BODY_TOO_LARGE') await drainRefusedBody(request.raw)
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
