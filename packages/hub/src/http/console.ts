import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifyStatic from '@fastify/static'

/** Where the console's build is: the hub's dist/console (the same path from src/http and dist/http). */
export const consoleDir = fileURLToPath(new URL('../../dist/console/', import.meta.url))

// The page runs only the console's own scripts and styles and talks only to this hub; it may not be framed.
const pageHeaders = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/**
 * The admin console at `/console`: the static files of its build (`npm run build` makes them),
 * public like the documentation pages — what it shows it reads through the API with the signed-in
 * staff user's token. Its assets have hashed names and are cached for good; every other path
 * under `/console` is the page itself, whose router shows the view (a reload keeps the view).
 */
export async function registerConsole(app: FastifyInstance): Promise<boolean> {
  if (!existsSync(`${consoleDir}index.html`)) {
    app.log.warn(`the console is not built (${consoleDir} has no index.html): /console answers 404 until npm run build makes it`)
    return false
  }
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...(route.config ?? {}), access: 'public' }
    })
    // only reply.sendFile: the routes below decide what each path is
    await scope.register(fastifyStatic, { root: consoleDir, serve: false })
    const page = async (request: FastifyRequest<{ Params: { '*'?: string } }>, reply: FastifyReply) => {
      const rest = request.params['*'] ?? ''
      if (rest.startsWith('assets/')) {
        // hashed names: a file never changes, and one that is not there is a 404 (not the page)
        reply.header('x-content-type-options', 'nosniff')
        return reply.sendFile(rest, consoleDir, { immutable: true, maxAge: '365d' })
      }
      reply.headers({ ...pageHeaders, 'cache-control': 'no-cache' })
      return reply.sendFile('index.html', consoleDir, { cacheControl: false })
    }
    scope.get('/console', page)
    scope.get('/console/', page)
    scope.get('/console/*', page)
  })
  return true
}
