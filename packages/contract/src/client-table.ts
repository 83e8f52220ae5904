import type { RouteSpec } from './define.js'

/**
 * The source text of the route table as `@his-her/connect` carries it: each operation's method
 * and path, and the patterns the client checks before it sends — plain data, so the client needs
 * no schema library at run time. `npm run generate` writes it; a test fails when the file in the
 * client is not what this gives.
 */
export function clientTableSource(table: Record<string, RouteSpec>, patterns: Record<string, string>): string {
  const rows = Object.entries(table).map(([id, r]) => `  ${id}: { method: '${r.method}', path: '${r.path}'${r.answerType ? `, answerType: '${r.answerType}'` : ''} },`)
  const pats = Object.entries(patterns).map(([name, p]) => `  ${name}: ${JSON.stringify(p)},`)
  return `// Generated from the route table of @his-her/contract by \`npm run generate\`: do not edit.
import type { OperationId, Routes } from '@his-her/contract'

/** Every route of the hub by operation id: its method and path (Fastify syntax, \`:name\` for a parameter), and the media type of an answer that is not JSON. */
export const routeTable = {
${rows.join('\n')}
} as const satisfies { readonly [K in OperationId]: { readonly method: Routes[K]['method']; readonly path: Routes[K]['path']; readonly answerType?: string } }

/** Patterns of the contract the client checks before it sends anything. */
export const contractPatterns = {
${pats.join('\n')}
} as const
`
}
