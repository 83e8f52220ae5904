// `npm test`: the suite on the embedded PGlite database, and — with TEST_DATABASE_URL — on that
// PostgreSQL too. The two runs go side by side, each one file at a time: the PGlite files never
// touch the PostgreSQL server, and one PostgreSQL file at a time keeps a transaction of one file
// from holding back what the event feed shows another (the feed reads below the server's oldest
// running transaction). The PostgreSQL run also takes the project `embedded` (the slowest file of
// embedded hub processes), so that both end at about the same time. Arguments are passed to vitest (`npm test -- packages/hub/test/x.test.ts`);
// with `--project`, only that run is made.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const vitest = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs')
const args = process.argv.slice(2)
const both = Boolean(process.env.TEST_DATABASE_URL) && !args.some((a) => a === '--project' || a.startsWith('--project='))

/** Runs vitest with `extra` arguments; with `label`, every line it prints starts with it. */
function run(extra, label, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vitest, 'run', ...extra, ...args], { stdio: label ? ['ignore', 'pipe', 'pipe'] : 'inherit', env })
    if (label) {
      for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
        let rest = ''
        from.setEncoding('utf8')
        from.on('data', (chunk) => {
          const lines = (rest + chunk).split('\n')
          rest = lines.pop()
          if (lines.length) to.write(lines.map((l) => `[${label}] ${l}\n`).join(''))
        })
        from.on('end', () => rest && to.write(`[${label}] ${rest}\n`))
      }
    }
    const stop = (signal) => child.kill(signal)
    process.once('SIGINT', stop).once('SIGTERM', stop)
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)))
  })
}

const started = Date.now()
const codes = both ? await Promise.all([run(['--project', 'pglite'], 'pglite', { ...process.env, TEST_DATABASE_URL: '', HUB_TESTS_POSTGRES_BESIDE: '1' }), run(['--project', 'postgres', '--project', 'embedded'], 'postgres')]) : [await run([])]
if (both) {
  const seconds = Math.round((Date.now() - started) / 1000)
  console.log(`\nPGlite run: ${codes[0] === 0 ? 'passed' : 'FAILED'}; PostgreSQL run: ${codes[1] === 0 ? 'passed' : 'FAILED'} (${seconds} s side by side)`)
}
process.exit(codes.some((c) => c !== 0) ? 1 : 0)
