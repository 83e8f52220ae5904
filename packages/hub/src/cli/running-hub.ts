import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { HubConfig } from '../config.js'
import { hubUrlFile } from '../http/server.js'

/** A failure to report in one line, without a stack. */
export class CommandError extends Error {}

/**
 * Calls the API of the hub that holds the embedded database (the database itself cannot be
 * opened a second time), as admin: with HUB_ADMIN_TOKEN or the token of `<data dir>/admin-token`.
 */
export function runningHubApi(config: HubConfig) {
  const tokenFile = join(config.dataDir, 'admin-token')
  const admin = config.adminToken ?? (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined)
  if (!admin) throw new CommandError(`the hub is running and holds ${config.dataDir}; set HUB_ADMIN_TOKEN to an admin token to do this through its API`)
  // the running hub says where it listens; PORT and HOST of this shell need not match its own
  const urlFile = hubUrlFile(config.dataDir)
  const base = existsSync(urlFile)
    ? readFileSync(urlFile, 'utf8').trim()
    : `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`
  return async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }).catch((err: Error) => {
      throw new CommandError(`the hub holding ${config.dataDir} does not answer at ${base}: ${err.message}`)
    })
    const json = (await res.json()) as Record<string, unknown>
    if (!res.ok) throw new CommandError(`${json.code}: ${json.message}`)
    return json
  }
}
