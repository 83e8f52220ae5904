import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline'
import { staffRoles, type StaffRole, type StaffUser, type StaffUserInput } from '@his-her/contract'
import { databaseOptions, loadConfig, type HubConfig } from '../config.js'
import { createDatabase } from '../db/create-database.js'
import { dataDirOwner } from '../db/data-dir-lock.js'
import { migrate } from '../db/migrate.js'
import { createStaffService } from '../auth/staff-service.js'
import { withTransaction } from '../db/executor.js'
import { HubError } from '../errors.js'
import { CommandError, runningHubApi } from './running-hub.js'

interface StaffOps {
  create(input: StaffUserInput): Promise<StaffUser>
  list(): Promise<StaffUser[]>
  disable(id: string): Promise<void>
  close(): Promise<void>
}

/** Through the API of the hub that holds the embedded database. */
function viaApi(config: HubConfig): StaffOps {
  const call = runningHubApi(config)
  return {
    create: async (input) => (await call('POST', '/staff', input)) as unknown as StaffUser,
    list: async () => (await call('GET', '/staff')).data as StaffUser[],
    disable: async (id) => void (await call('DELETE', `/staff/${encodeURIComponent(id)}`)),
    close: async () => {},
  }
}

async function direct(config: HubConfig): Promise<StaffOps> {
  const database = await createDatabase(databaseOptions(config, 1))
  await migrate(database.db)
  const service = createStaffService({ passwordMinLength: config.customer.passwordMinLength })
  const { db } = database
  return {
    create: (input) => withTransaction(db, (tx) => service.create(tx, input)),
    list: () => service.list(db),
    disable: (id) => withTransaction(db, (tx) => service.disable(tx, id)),
    close: () => database.close(),
  }
}

const usage = `usage:
  customer-hub staff create --email EMAIL --role admin|support [--name NAME]
                        the password is asked for (twice, not shown), or read from the first line of stdin
  customer-hub staff list
  customer-hub staff disable ID`

/** A line typed at the terminal without showing it. */
function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
    const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput.bind(rl)
    ;(rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => write(s.startsWith(prompt) ? prompt : '')
    rl.question(prompt, (answer) => {
      rl.close()
      process.stderr.write('\n')
      resolve(answer)
    })
    rl.on('SIGINT', () => {
      rl.close()
      reject(new CommandError('cancelled'))
    })
  })
}

/** The first line of stdin (a password piped in: `printf '%s\n' "$PW" | customer-hub staff create …`). */
async function firstLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false })
  for await (const line of rl) {
    rl.close()
    return line
  }
  throw new CommandError('no password on stdin')
}

async function password(): Promise<string> {
  if (!process.stdin.isTTY) return firstLine()
  const first = await askHidden('password: ')
  const again = await askHidden('password again: ')
  if (first !== again) throw new CommandError('the two passwords differ')
  return first
}

/** `customer-hub staff create|list|disable`: the people who sign in to the console. */
export async function staffCommand(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { email: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' } } })
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`)
    return 2
  }
  const { positionals, values } = parsed
  const [action, arg] = positionals
  if (!action || !['create', 'list', 'disable'].includes(action) || positionals.length > (action === 'disable' ? 2 : 1) || (action === 'disable' && !arg)) {
    console.error(usage)
    return 2
  }
  if (action === 'create' && (!values.email || !staffRoles.includes(values.role as StaffRole))) {
    console.error(`staff create needs --email and --role (${staffRoles.join(' or ')})\n${usage}`)
    return 2
  }
  const config = loadConfig()
  const embeddedBusy = !config.databaseUrl && dataDirOwner(config.dataDir) !== undefined
  let ops: StaffOps | undefined
  try {
    const secret = action === 'create' ? await password() : undefined
    ops = embeddedBusy ? viaApi(config) : await direct(config)
    if (action === 'create') {
      const user = await ops.create({ email: values.email!, password: secret!, role: values.role as StaffRole, ...(values.name ? { name: values.name } : {}) })
      console.log(user.id)
      console.error(`created ${user.role} staff user ${user.email}`)
    } else if (action === 'list') {
      const users = await ops.list()
      for (const u of users) console.log(`${u.id}\t${u.email}\t${u.role}\t${u.name ?? ''}\tcreated ${u.createdAt}`)
      if (users.length === 0) console.error('no active staff users')
    } else {
      await ops.disable(arg!)
      console.error(`disabled ${arg}; its sessions have ended`)
    }
    return 0
  } catch (err) {
    if (err instanceof CommandError || err instanceof HubError) console.error(`customer-hub: ${err.message}`)
    else throw err
    return 1
  } finally {
    await ops?.close()
  }
}
