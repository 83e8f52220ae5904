// `npm run soak`: the failure tests of several hub processes on one PostgreSQL, longer and harder
// than `npm test` runs them — more people, more orders, more kills, more restarts. Not part of
// `npm test`. Builds first (the tests spawn the built hub), then runs each file on its own (one
// vitest run per file, so that one file's transactions never hold back another's event feed),
// SOAK_ROUNDS times (default 1), prints a summary — each file passed or failed, and how long it
// took — and exits 1 on any failure.
//
//   npm run soak
//   SOAK_ROUNDS=3 npm run soak
//   SOAK_FILES=sync,restart npm run soak                  # only the files whose names contain one of these
//   SYNC_SCALE_PEOPLE=5000 POINTS_KILL_ROUNDS=2 npm run soak   # any knob set in the environment wins
//
// TEST_DATABASE_URL names the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test);
// each file works in schemas of its own and drops them. postgres-restart runs a private server of
// its own (initdb, pg_ctl) and never stops this one. pgbouncer is needed (installed from the system
// packages when it is missing and this is root, as `npm test` does).
import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const vitest = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs')
const databaseUrl = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
const rounds = Number(process.env.SOAK_ROUNDS ?? 1)
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`SOAK_ROUNDS=${process.env.SOAK_ROUNDS}: a whole number, 1 or more`)

/**
 * The files and their soak settings; `npm test` runs each with the file's own, smaller defaults.
 * A knob already set in the environment is left as it is. `perRound` knobs change with the round
 * (another seed: other people, another order), unless set.
 */
const files = [
  {
    // 10,000 people of three platforms (about 26,000 syncs), 64 clients over three processes,
    // directly and through pgbouncer, against one process syncing one record at a time
    file: 'packages/hub/test/sync-three-processes.pg.test.ts',
    knobs: { SYNC_SCALE_PEOPLE: '10000' },
    perRound: (round) => ({ SYNC_SCALE_SEED: String(20261204 + round) }),
  },
  {
    // 3,000 concurrent spends over three processes, both ways; a fourth process SIGKILLed in five streams
    file: 'packages/hub/test/points-three-processes.pg.test.ts',
    knobs: { POINTS_SPENDS: '3000', POINTS_KILL_ROUNDS: '5' },
  },
  {
    // a file of about 11,700 rows, the import SIGKILLed five times before it is let finish
    file: 'packages/hub/test/import-kill.pg.test.ts',
    knobs: { IMPORT_KILL_PEOPLE: '20000', IMPORT_KILL_ROUNDS: '5' },
  },
  {
    // the server crashed and started again five times under one load
    file: 'packages/hub/test/postgres-restart.pg.test.ts',
    knobs: { PG_RESTART_ROUNDS: '5' },
  },
  {
    // 5,000 people in ten orders over two processes
    file: 'packages/hub/test/identity-order.pg.test.ts',
    knobs: { IDENTITY_ORDER_PEOPLE: '5000', IDENTITY_ORDER_ORDERS: '10' },
    perRound: (round) => ({ IDENTITY_ORDER_SEED: String(20240611 + round) }),
  },
]

const only = (process.env.SOAK_FILES ?? '').split(',').map((s) => s.trim()).filter(Boolean)
const chosen = only.length ? files.filter((f) => only.some((o) => f.file.includes(o))) : files
if (chosen.length === 0) throw new Error(`SOAK_FILES=${process.env.SOAK_FILES}: no file matches (${files.map((f) => f.file).join(', ')})`)

/** pgbouncer, which the sync and points files start in front of the database. */
function ensurePgbouncer() {
  const present = () => spawnSync('sh', ['-c', 'command -v pgbouncer || test -x /usr/sbin/pgbouncer']).status === 0
  if (present()) return
  if (process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0) {
    console.log('pgbouncer is missing: installing it from the system packages (once)')
    const install = () => spawnSync('apt-get', ['install', '-y', '-q', 'pgbouncer'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0
    if (!install()) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' })
      install()
    }
  }
  if (!present()) {
    console.error('The soak needs pgbouncer (e.g. apt-get install pgbouncer).')
    process.exit(1)
  }
}

/** Runs a command with inherited output; resolves with its exit code. */
function run(command, args, env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env })
    const stop = (signal) => child.kill(signal)
    process.once('SIGINT', stop).once('SIGTERM', stop)
    child.on('exit', (code, signal) => {
      process.off('SIGINT', stop).off('SIGTERM', stop)
      resolve(code ?? (signal ? 1 : 0))
    })
  })
}

ensurePgbouncer()
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
if ((await run(npm, ['run', 'build', '--silent'], process.env)) !== 0) {
  console.error('soak: the build failed')
  process.exit(1)
}

const results = []
const started = Date.now()
for (let round = 1; round <= rounds; round++) {
  for (const f of chosen) {
    const settings = { ...f.knobs, ...(f.perRound?.(round - 1) ?? {}) }
    // what the environment sets wins
    for (const k of Object.keys(settings)) if (process.env[k] !== undefined) settings[k] = process.env[k]
    const shown = Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' ')
    console.log(`\n=== soak round ${round}/${rounds}: ${f.file} (${shown})\n`)
    const fileStarted = Date.now()
    const code = await run(process.execPath, [vitest, 'run', '--project', 'postgres', f.file], { ...process.env, ...settings, TEST_DATABASE_URL: databaseUrl })
    results.push({ round, file: f.file, settings: shown, passed: code === 0, seconds: (Date.now() - fileStarted) / 1000 })
  }
}

const failed = results.filter((r) => !r.passed)
const width = Math.max(...results.map((r) => r.file.length))
console.log(`\nsoak against ${databaseUrl.replace(/(\/\/[^:@/]*):[^@/]*@/, '$1:…@')}, ${rounds} round${rounds === 1 ? '' : 's'}:`)
for (const r of results) {
  const duration = r.seconds >= 60 ? `${Math.floor(r.seconds / 60)} min ${Math.round(r.seconds % 60)} s` : `${r.seconds.toFixed(1)} s`
  console.log(`  ${rounds > 1 ? `round ${r.round}  ` : ''}${r.file.padEnd(width)}  ${r.passed ? 'passed' : 'FAILED'}  ${duration.padStart(12)}  ${r.settings}`)
}
console.log(`${results.length - failed.length} passed, ${failed.length} failed, ${Math.round((Date.now() - started) / 1000)} s in all`)
process.exit(failed.length ? 1 : 0)
