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
    metrics: {
      method: 'GET', path: '/metrics', tags: ['operations'], access: ['admin', 'metrics:read'],
      summary: "The hub process's metrics, in the Prometheus text format",
      description: 'Requests by route pattern, method and status, and their latency; syncs by outcome and matching rule; the PostgreSQL pool in use; the process (CPU, memory, event loop). Counters start at zero when the process starts; each process answers for itself.',
      answerType: 'text/plain; version=0.0.4; charset=utf-8',
      responses: { 200: Type.String({ description: 'Prometheus text exposition format 0.0.4' }) },
      errors: [],
    },
  },
})
