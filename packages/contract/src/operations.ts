import Type from 'typebox'
import { defineDomain } from './define.js'

/** Health and the API's own description. */
export const operations = defineDomain({
  errors: {},
  events: {},
  routes: {
    health: {
      method: 'GET', path: '/health', tags: ['operations'], access: 'public',
      summary: 'Is the hub up and its database reachable?',
      responses: { 200: Type.Object({ status: Type.Literal('ok'), database: Type.Literal('up') }) },
      errors: [],
    },
    openapi: {
      method: 'GET', path: '/openapi.json', tags: ['operations'], access: 'public',
      summary: 'This API, described in OpenAPI 3.1',
      responses: { 200: Type.Object({}, { additionalProperties: true }) },
      errors: [],
    },
  },
})
