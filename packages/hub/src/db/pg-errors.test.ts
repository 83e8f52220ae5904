import { describe, expect, it } from 'vitest'
import { toErrorBody } from '../http/error-handler.js'
import { isDatabaseUnavailable } from './pg-errors.js'

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code })

describe('a database that cannot be reached is told from other errors', () => {
  it('knows the errors of a server gone, restarting or refusing — with a code or, from pg, only a message', () => {
    const unavailable = [
      new Error('Connection terminated unexpectedly'), // a query running when the server went (no code)
      new Error('Connection terminated due to connection timeout'),
      new Error('Client has encountered a connection error and is not queryable'),
      new Error('timeout exceeded when trying to connect'),
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('could not connect', '08006'),
      withCode('sorry, too many clients already', '53300'),
      // localhost: one failure per address
      Object.assign(new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED'), withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')]), { code: 'ECONNREFUSED' }),
      new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED'), withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')]),
    ]
    for (const err of unavailable) {
      expect(isDatabaseUnavailable(err), err.message).toBe(true)
      expect(toErrorBody(err)).toMatchObject({ statusCode: 503, code: 'DATABASE_UNAVAILABLE' })
    }
  })

  it('leaves every other error to its own answer', () => {
    expect(isDatabaseUnavailable(withCode('duplicate key value', '23505'))).toBe(false)
    expect(isDatabaseUnavailable(withCode('canceling statement due to statement timeout', '57014'))).toBe(false)
    expect(isDatabaseUnavailable(new Error('Cannot read properties of undefined'))).toBe(false)
    expect(isDatabaseUnavailable(new AggregateError([]))).toBe(false)
    expect(isDatabaseUnavailable(new AggregateError([withCode('connect ECONNREFUSED', 'ECONNREFUSED'), new Error('something else')]))).toBe(false)
    expect(isDatabaseUnavailable(undefined)).toBe(false)
    expect(toErrorBody(new Error('Cannot read properties of undefined'))).toMatchObject({ statusCode: 500, code: 'INTERNAL_ERROR' })
  })
})
