import { useMutation, useQuery, useQueryClient, type UseQueryOptions } from '@tanstack/react-query'
import { callRoute, type RouteInput } from '@his-her/connect'
import type { OperationId, ResultOf, Routes } from '@his-her/contract'
import { http } from './session'

type Result<K extends OperationId> = ResultOf<Routes[K]>

/** Reads one operation of the hub's API; cached under the operation and what it was sent. */
export function useRoute<K extends OperationId>(operation: K, input: RouteInput<K>, options: Partial<UseQueryOptions<Result<K>>> = {}) {
  return useQuery<Result<K>>({
    queryKey: [operation, input],
    queryFn: async ({ signal }) => (await callRoute(http, operation, input, { signal })).body,
    ...options,
  })
}

/**
 * Calls one operation that changes something; on success the cached reads named by
 * `invalidates` (operation ids) are read again.
 */
export function useChange<K extends OperationId>(operation: K, invalidates: OperationId[] = []) {
  const client = useQueryClient()
  return useMutation<Result<K>, Error, RouteInput<K>>({
    mutationFn: async (input) => (await callRoute(http, operation, input)).body,
    onSuccess: async () => {
      await Promise.all(invalidates.map((op) => client.invalidateQueries({ queryKey: [op] })))
    },
  })
}

/** Calls one operation outside a component (a preview, a one-off read). */
export const call = async <K extends OperationId>(operation: K, input: RouteInput<K>): Promise<Result<K>> => (await callRoute(http, operation, input)).body
