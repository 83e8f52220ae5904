import { expect } from 'vitest'
import { HubApiError } from '../../src/hub-error.js'

/** The rejection of `promise`, which must be a HubApiError. */
export async function failure(promise: Promise<unknown>): Promise<HubApiError> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail')
    },
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(HubApiError)
  return err as HubApiError
}
