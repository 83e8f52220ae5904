import { parseArgs } from 'node:util'
import { apiRoles, type ApiRole, type ApiTokenInfo, type CreatedToken } from '@his-her/contract'
import { databaseOptions, loadConfig, type HubConfig } from '../config.js'
import { createDatabase } from '../db/create-database.js'
import { dataDirOwner } from '../db/data-dir-lock.js'
import { migrate } from '../db/migrate.js'
import { createApiTokenService, type TokenScope } from '../auth/api-token-service.js'
import { withTransaction } from '../db/executor.js'
import { HubError } from '../errors.js'
import { CommandError, runningHubApi } from './running-hub.js'

interface TokenOps {
  create(name: string, role: ApiRole, scope: TokenScope): Promise<CreatedToken>
  list(): Promise<ApiTokenInfo[]>
  revoke(name: string): Promise<void>
  close(): Promise<void>
}

/** Through the API of the hub that holds the embedded database. */
function viaApi(config: HubConfig): TokenOps {
  const call = runningHubApi(config)
  return {
    create: async (name, role, scope) => (await call('POST', '/tokens', { name, role, ...scope })) as unknown as CreatedToken,
    list: async () => (await call('GET', '/tokens')).data as ApiTokenInfo[],
    revoke: async (name) => void (await call('DELETE', `/tokens/${encodeURIComponent(name)}`)),
    close: async () => {},
  }
}

async function direct(config: HubConfig): Promise<TokenOps> {
  const database = await createDatabase(databaseOptions(config, 1))
  await migrate(database.db)
  const service = createApiTokenService()
  const { db } = database
  return {
    create: (name, role, scope) => withTransaction(db, (tx) => service.create(tx, name, role, scope)),
    list: () => service.list(db),
    revoke: (name) => withTransaction(db, (tx) => service.revoke(tx, name)),
    close: () => database.close(),
  }
}

const usage = `usage:
  customer-hub token create --role admin|platform|events:read|metrics:read --name NAME [--component COMPONENT]... [--platform PLATFORM]...
  customer-hub token list
  customer-hub token revoke NAME
a platform token acts only in the identity components (--component, e.g. identity.shopify-eu) and
under the platform names of orders (--platform, e.g. shopify-eu) it is made with; none when left out;
an events:read token reads GET /events and nothing else, a metrics:read token GET /metrics`

/** How `token list` and `token create` show what a token acts for. */
function scopeText(t: Pick<ApiTokenInfo, 'role' | 'components' | 'platforms'>): string {
  if (t.role === 'events:read') return 'GET /events only'
  if (t.role === 'metrics:read') return 'GET /metrics only'
  if (t.components === null || t.platforms === null) return 'every component and platform'
  const list = (l: string[]) => (l.length ? l.join(',') : 'none')
  return `components ${list(t.components)}; platforms ${list(t.platforms)}`
}

/** `customer-hub token create|list|revoke`. */
export async function tokenCommand(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { role: { type: 'string' }, name: { type: 'string' }, component: { type: 'string', multiple: true }, platform: { type: 'string', multiple: true } },
    })
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`)
    return 2
  }
  const { positionals, values } = parsed
  const [action, arg] = positionals
  const config = loadConfig()
  const embeddedBusy = !config.databaseUrl && dataDirOwner(config.dataDir) !== undefined
  if (!action || !['create', 'list', 'revoke'].includes(action) || positionals.length > (action === 'revoke' ? 2 : 1)) {
    console.error(usage)
    return 2
  }
  if (action === 'create' && (!values.name || !apiRoles.includes(values.role as ApiRole))) {
    console.error(`token create needs --name and --role (${apiRoles.join(' or ')})\n${usage}`)
    return 2
  }
  if (action === 'revoke' && !arg) {
    console.error(usage)
    return 2
  }
  let ops: TokenOps
  try {
    ops = embeddedBusy ? viaApi(config) : await direct(config)
  } catch (err) {
    if (!(err instanceof CommandError)) throw err
    console.error(`customer-hub: ${err.message}`)
    return 1
  }
  try {
    if (action === 'create') {
      const scope: TokenScope = values.component || values.platform ? { components: values.component, platforms: values.platform } : {}
      const created = await ops.create(values.name!, values.role as ApiRole, scope)
      console.log(created.token)
      console.error(`created ${created.role} token "${created.name}" for ${scopeText(created)}; it is shown this once`)
    } else if (action === 'list') {
      const tokens = await ops.list()
      for (const t of tokens) console.log(`${t.name}\t${t.role}\t${scopeText(t)}\tcreated ${t.createdAt}\tlast used ${t.lastUsedAt ?? 'never'}`)
      if (tokens.length === 0) console.error('no active tokens')
    } else {
      await ops.revoke(arg!)
      console.error(`revoked "${arg}"`)
    }
    return 0
  } catch (err) {
    if (err instanceof HubError && err.code === 'TOKEN_NAME_TAKEN') console.error(`customer-hub: an active token is already named "${values.name}"`)
    else if (err instanceof CommandError || err instanceof HubError) console.error(`customer-hub: ${err.message}`)
    else throw err
    return 1
  } finally {
    await ops.close()
  }
}
