// Before the tests: the tools beyond Node that some tests run — python3 and Go (1.19 or later), for
// the signature examples of docs/events.md, which the tests run as they are written there. Go is
// installed from the system's packages (Debian's golang-go) when it is missing and this user may;
// otherwise this stops with what to install.
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

const missing = []
if (!version('python3', ['--version'])) missing.push('python3')
if (!goOk()) {
  const root = process.getuid?.() === 0
  if (root && version('apt-get', ['--version'])) {
    console.log('Go is missing: installing golang-go from the system packages (once)')
    const install = () => spawnSync('apt-get', ['install', '-y', '-q', 'golang-go'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0
    if (!install()) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' })
      install()
    }
  }
  if (!goOk()) missing.push('Go 1.19 or later (e.g. apt-get install golang-go)')
}
if (missing.length > 0) {
  console.error(`The tests need: ${missing.join(', ')}.`)
  process.exit(1)
}
