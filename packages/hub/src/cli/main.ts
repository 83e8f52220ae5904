#!/usr/bin/env node
import { ConfigError } from '../errors.js'
import { DataDirLockedError } from '../db/data-dir-lock.js'

const help = `customer-hub — one record per real person across every store and platform

commands:
  serve                 run the hub (default); PORT, HOST, DATABASE_URL, HUB_DATA_DIR, HUB_CONFIG
  migrate               apply database migrations
  token create --role admin|platform|events:read|metrics:read --name NAME [--component C]... [--platform P]...
                        a platform token acts only in these identity components and platform names;
                        an events:read token reads GET /events only, a metrics:read token GET /metrics only
  token list
  token revoke NAME
  staff create --email EMAIL --role admin|support [--name NAME]
                        a person who signs in with POST /auth/staff/login; the password is asked for, or read from stdin
  staff list
  staff disable ID
  keys rotate           sign access tokens with a new key (old tokens stay valid until they expire)
  ledger verify [--ledger HANDLE]
                        recompute every balance from the entries, check every hash chain; exits 1 on any drift
  ledger expire [--ledger HANDLE]
                        settle every account that fell due: expired lots and holds, ended return windows
  export-person ID [--out FILE]
                        everything held about a customer as one JSON document (docs/privacy.md)
  erase-person ID       erase a customer's personal data; ids, order totals and the ledger stay (docs/privacy.md)
  import FILE --platform COMPONENT [--format csv|jsonl] [--id-field NAME]
                        import a platform's customers in bulk with the sync's rules; resumes when run again (docs/imports.md)`

// each command's modules are loaded when it runs: `help` or `token list` does not load the server
async function main(argv: string[]): Promise<number | undefined> {
  const [command = 'serve', ...rest] = argv
  switch (command) {
    case 'serve':
      await (await import('./serve.js')).serveCommand()
      return undefined // runs until a signal
    case 'migrate':
      await (await import('./migrate.js')).migrateCommand()
      return 0
    case 'token':
      return (await import('./token.js')).tokenCommand(rest)
    case 'staff':
      return (await import('./staff.js')).staffCommand(rest)
    case 'keys':
      return (await import('./keys.js')).keysCommand(rest)
    case 'ledger':
      return (await import('./ledger.js')).ledgerCommand(rest)
    case 'export-person':
      return (await import('./export-person.js')).exportPersonCommand(rest)
    case 'erase-person':
      return (await import('./erase-person.js')).erasePersonCommand(rest)
    case 'import':
      return (await import('./import.js')).importCommand(rest)
    case 'help':
    case '--help':
    case '-h':
      console.log(help)
      return 0
    default:
      console.error(`unknown command "${command}"\n\n${help}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code)
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof DataDirLockedError) {
      console.error(`customer-hub: ${err.message}`)
      process.exit(78) // EX_CONFIG
    }
    console.error('customer-hub: failed:', err)
    process.exit(1)
  },
)
