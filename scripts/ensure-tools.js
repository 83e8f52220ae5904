// Before the tests: the tools beyond Node that some tests run — python3 and Go (1.19 or later), for
// the signature examples of docs/events.md, which the tests run as they are written there;
// Chromium, which the console's browser tests drive; and,
// when the suite runs on PostgreSQL too (TEST_DATABASE_URL), pgbouncer, which some of those tests
// start in front of the database in transaction mode (they run it themselves: no service needed).
// Go and pgbouncer are installed from the system's packages (Debian's golang-go, pgbouncer) when
// they are missing and this user may; otherwise this stops with what to install.
import { spawnSync } from 'node:child_process'

const version = (cmd, args) => {
  const run = spawnSync(cmd, args, { encoding: 'utf8' })
  return run.status === 0 ? `${run.stdout}${run.stderr}`.trim() : undefined
}
const goOk = () => {
  const v = version('go', ['version'])
  const m = v && /go(\d+)\.(\d+)/.exec(v)
  return m ? Number(m[1]) > 1 || Number(m[2]) >= 19 : false
}

// Debian's package puts it in /usr/sbin, which is not on every user's PATH
const pgbouncerOk = () => spawnSync('sh', ['-c', 'command -v pgbouncer || test -x /usr/sbin/pgbouncer']).status === 0

/** Installs a Debian package when this is root on a system with apt-get (an `apt-get update` first if the first try fails). */
function aptInstall(pkg, why) {
  if (process.getuid?.() !== 0 || !version('apt-get', ['--version'])) return
  console.log(`${why}: installing ${pkg} from the system packages (once)`)
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', pkg], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0
  if (!install()) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' })
    install()
  }
}

const missing = []
if (!version('python3', ['--version'])) missing.push('python3')
if (!goOk()) {
  aptInstall('golang-go', 'Go is missing')
  if (!goOk()) missing.push('Go 1.19 or later (e.g. apt-get install golang-go)')
}
if (process.env.TEST_DATABASE_URL && !pgbouncerOk()) {
  aptInstall('pgbouncer', 'pgbouncer is missing')
  if (!pgbouncerOk()) missing.push('pgbouncer (e.g. apt-get install pgbouncer)')
}
// the console's browser tests drive Debian's Chromium (CHROMIUM_PATH, default /usr/bin/chromium)
const chromiumOk = () => Boolean(version(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', ['--version']))
if (!chromiumOk()) {
  aptInstall('chromium', 'Chromium is missing')
  if (!chromiumOk()) missing.push('Chromium (e.g. apt-get install chromium), or CHROMIUM_PATH naming one')
}
if (missing.length > 0) {
  console.error(`The tests need: ${missing.join(', ')}.`)
  process.exit(1)
}
