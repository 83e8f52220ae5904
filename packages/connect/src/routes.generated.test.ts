import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { clientPatterns, clientTableSource, routes } from '@his-her/contract'
import { routeTable } from './routes.generated.js'

describe('the route table the client carries', () => {
  it('is what the contract gives (run `npm run generate` after changing a route)', () => {
    const committed = readFileSync(new URL('./routes.generated.ts', import.meta.url), 'utf8')
    expect(committed).toBe(clientTableSource(routes, clientPatterns))
  })

  it('has every operation of the contract with its method, path and any answer type other than JSON, and no other', () => {
    expect(Object.keys(routeTable).sort()).toEqual(Object.keys(routes).sort())
    for (const [id, route] of Object.entries(routes)) {
      const answerType = (route as { answerType?: string }).answerType
      expect(routeTable[id as keyof typeof routeTable]).toEqual({ method: route.method, path: route.path, ...(answerType ? { answerType } : {}) })
    }
  })
})
