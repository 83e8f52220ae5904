// The Go SDK's tests against a listening hub (`npm run test:go`, and CI after `npm test`): starts
// `customer-hub serve` (from dist/, so `npm run build` first) on a free port with the embedded
// database in a temporary directory, then runs, with HUB_URL and the admin token it printed as
// HUB_TOKEN:
//   1. `go vet ./...` and `go test ./...` in sdk/go;
//   2. the program of docs/integrations.md's "A Go service" as it is written there (the ```go block
//      after `<!-- example: go-service -->`), which must end with 0 and print what the doc says.
// Exits non-zero when any of them fails. Needs Go 1.19 or later.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const sdkDir = join(root, 'sdk', 'go')
const cli = join(root, 'packages', 'hub', 'dist', 'cli', 'main.js')
const marker = '<!-- example: go-service -->'

/** The environment without anything that configures a hub, so the hub started here says what it runs with. */
function cleanEnv(extra) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^(HUB_|DATABASE_URL$|TEST_DATABASE_URL$|PORT$|HOST$|LOG_LEVEL$)/.test(k)) env[k] = v
  return { ...env, ...extra }
}

/** Starts a hub and resolves with its URL, its first-start admin token and a way to stop it. */
function startHub(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'serve'], { cwd: dataDir, env: cleanEnv({ PORT: '0', HOST: '127.0.0.1', HUB_DATA_DIR: join(dataDir, 'data') }), stdio: ['ignore', 'pipe', 'pipe'] })
    let token
    let rest = ''
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk))
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop()
      for (const line of lines) {
        const printed = /^ {2}(chub_\S+)$/.exec(line)
        if (printed) token = printed[1]
        let json
        try {
          json = line.startsWith('{') ? JSON.parse(line) : undefined
        } catch {
          json = undefined
        }
        if (json?.msg === 'customer hub listening') {
          if (!token) return reject(new Error('the hub printed no admin token on its first start'))
          const stopped = new Promise((done) => child.once('close', done))
          resolve({ url: String(json.url), token, stop: () => (child.kill('SIGTERM'), stopped) })
        }
      }
    })
    child.once('close', (code, signal) => reject(new Error(`the hub exited (${code ?? signal}) before it listened\n${stderr}`)))
  })
}

/** Runs a command to its end with its output shown; resolves with its exit code. */
function run(cmd, args, options) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options })
    child.once('error', (err) => {
      console.error(`${cmd}: ${err.message}`)
      resolve(1)
    })
    child.once('close', (code) => resolve(code ?? 1))
  })
}

/** The Go block of docs/integrations.md that follows the marker, and the output the doc says it prints. */
function docExample() {
  const doc = readFileSync(join(root, 'docs', 'integrations.md'), 'utf8')
  const at = doc.indexOf(marker)
  if (at < 0) throw new Error(`docs/integrations.md has no ${marker}`)
  const after = doc.slice(at + marker.length)
  const block = /^\s*```go\n([\s\S]*?)\n```/.exec(after)
  if (!block) throw new Error('no ```go block follows the marker in docs/integrations.md')
  const printed = /```text\n([\s\S]*?)\n```/.exec(after.slice(block[0].length))
  if (!printed) throw new Error('no ```text block (what the program prints) follows the Go block in docs/integrations.md')
  return { program: block[1], output: printed[1] }
}

/** Runs the doc's program as a module of its own that takes the SDK from sdk/go; true when it prints what the doc says. */
async function runDocExample(env) {
  const { program, output } = docExample()
  const dir = mkdtempSync(join(tmpdir(), 'hub-go-service-'))
  try {
    mkdirSync(join(dir, 'service'))
    writeFileSync(
      join(dir, 'service', 'go.mod'),
      `module example.com/service\n\ngo 1.19\n\nrequire github.com/his-her/customer-hub/sdk/go v0.0.0\n\nreplace github.com/his-her/customer-hub/sdk/go => ${sdkDir}\n`,
    )
    writeFileSync(join(dir, 'service', 'main.go'), program)
    const result = spawnSync('go', ['run', '.'], { cwd: join(dir, 'service'), env: { ...env, GOFLAGS: '-mod=mod' }, encoding: 'utf8' })
    if (result.error) throw result.error
    process.stdout.write(result.stdout)
    process.stderr.write(result.stderr)
    if (result.status !== 0) {
      console.error(`docs/integrations.md's Go program ended with ${result.status}`)
      return false
    }
    // ids differ from run to run: the doc writes them as cus_…
    const seen = result.stdout.trim().replace(/cus_[0-9A-Za-z]+/g, 'cus_…')
    if (seen !== output.trim()) {
      console.error(`docs/integrations.md's Go program printed\n${seen}\ninstead of\n${output.trim()}`)
      return false
    }
    return true
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const version = spawnSync('go', ['version'], { encoding: 'utf8' })
if (version.error || version.status !== 0) {
  console.error('go is not installed: Go 1.19 or later is needed for the Go SDK (e.g. apt-get install golang-go)')
  process.exit(1)
}
const dir = mkdtempSync(join(tmpdir(), 'hub-go-sdk-'))
let hub
let ok = false
try {
  hub = await startHub(dir)
  const env = { ...process.env, HUB_URL: hub.url, HUB_TOKEN: hub.token }
  // go keeps its build cache under $HOME; a CI user may have none
  if (!env.GOCACHE && !env.XDG_CACHE_HOME && !env.HOME) env.GOCACHE = join(dir, 'go-cache')
  ok =
    (await run('go', ['vet', './...'], { cwd: sdkDir, env })) === 0 &&
    (await run('go', ['test', '-count=1', ...(process.env.GO_TEST_VERBOSE ? ['-v'] : []), './...'], { cwd: sdkDir, env })) === 0 &&
    (await runDocExample(env))
} catch (err) {
  console.error(err instanceof Error ? err.message : err)
} finally {
  await hub?.stop()
  rmSync(dir, { recursive: true, force: true })
}
console.log(ok ? 'the Go SDK passed against a listening hub' : 'the Go SDK FAILED')
process.exit(ok ? 0 : 1)
