import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inject } from 'vitest'

/** The built `customer-hub` command (`npm run build` makes it). */
export const cliPath = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
/** The migrations the built command applies (`<module>/<file>`, in the order they run). */
export const builtMigrations = (): string[] => {
  const dist = fileURLToPath(new URL('../../dist/', import.meta.url))
  return readdirSync(dist, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dist, e.name, 'migrations')))
    .flatMap((e) => readdirSync(join(dist, e.name, 'migrations')).filter((f) => f.endsWith('.sql')).map((f) => ({ folder: e.name, f })))
    .sort((a, b) => a.f.localeCompare(b.f))
    .map(({ folder, f }) => `${moduleOfFolder[folder] ?? folder}/${f}`)
}
// the module that keeps its migrations in each folder (the HTTP layer's is "requests")
const moduleOfFolder: Record<string, string> = { http: 'requests' }

function assertBuilt(): void {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run \`npm run build\` before these tests`)
}

/** The caller's environment without anything that configures a hub, so each test says what it sets. */
function cleanEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(HUB_|DATABASE_URL$|TEST_DATABASE_URL$|PORT$|HOST$|LOG_LEVEL$)/.test(k)) continue
    out[k] = v
  }
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k]
    else out[k] = v
  }
  return out
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface HubProcess {
  child: ChildProcess
  pid: number
  /** `http://127.0.0.1:NNNN`, from the hub's "customer hub listening" log line. */
  url: string
  port: number
  /** Every stdout line so far. */
  stdout: string[]
  /** Everything written to stderr so far. */
  stderr(): string
  /** The admin token printed on a first start, if this process printed one. */
  firstStartToken: string | undefined
  /** Resolves with the first stdout line that `match` accepts (lines already seen count). */
  waitForLine(match: (line: string, json: Record<string, unknown> | undefined) => boolean): Promise<string>
  exited: Promise<Exit>
  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>
}

/** Test time limit for files that start hub processes: each start is a new Node process and database. */
export const processTimeout = 180_000

const running = new Set<ChildProcess>()

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
}

function launch(args: string[], options: { env?: Record<string, string | undefined>; cwd: string; input?: string }) {
  assertBuilt()
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: options.cwd, env: cleanEnv(options.env ?? {}), stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
  if (options.input !== undefined) child.stdin!.end(options.input)
  running.add(child)
  const stdout: string[] = []
  let stderr = ''
  let partial = ''
  const waiters: Array<{ match: (line: string, json: Record<string, unknown> | undefined) => boolean; resolve: (l: string) => void }> = []
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child)
      resolve({ code, signal })
    })
  })
  const onLine = (line: string) => {
    stdout.push(line)
    const json = parseJson(line)
    for (const w of [...waiters]) {
      if (w.match(line, json)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  }
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n')
    partial = parts.pop()!
    for (const line of parts) onLine(line)
  })
  child.stdout!.on('end', () => {
    if (partial) onLine(partial)
    partial = ''
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  // 'close' fires once the process has exited and its pipes are drained
  const closed = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
  const waitForLine = (match: (line: string, json: Record<string, unknown> | undefined) => boolean) => {
    const seen = stdout.find((l) => match(l, parseJson(l)))
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<string>((resolve, reject) => {
      waiters.push({ match, resolve })
      void closed.then((exit) => reject(new Error(`the hub exited (${exit.code ?? exit.signal}) before the expected line\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr}`)))
    })
  }
  return { child, stdout, stderr: () => stderr, exited, closed, waitForLine }
}

/**
 * Starts `customer-hub serve` (from dist/) on a free port and resolves once it logs that it
 * listens. Rejects with its output when it exits first.
 *
 * @example
 * ```ts
 * const hub = await spawnHub({ cwd: dir, env: { HUB_DATA_DIR: join(dir, 'data') } })
 * await fetch(`${hub.url}/health`)
 * await hub.stop()
 * ```
 */
export async function spawnHub(options: { env?: Record<string, string | undefined>; cwd: string }): Promise<HubProcess> {
  const p = launch(['serve'], { cwd: options.cwd, env: { PORT: '0', ...options.env } })
  const line = await p.waitForLine((_l, json) => json?.msg === 'customer hub listening')
  const url = String(parseJson(line)!.url)
  const tokenLine = p.stdout.find((l) => /^ {2}chub_\S+$/.test(l))
  return {
    child: p.child,
    pid: p.child.pid!,
    url,
    port: Number(new URL(url).port),
    stdout: p.stdout,
    stderr: p.stderr,
    firstStartToken: tokenLine?.trim(),
    waitForLine: p.waitForLine,
    exited: p.closed,
    async stop(signal = 'SIGTERM') {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal)
      return p.closed
    },
  }
}

export interface CliResult extends Exit {
  stdout: string
  stderr: string
}

/** Runs `customer-hub <args>` to its end (with `input` on its stdin, if given). */
export async function runCli(args: string[], options: { env?: Record<string, string | undefined>; cwd: string; input?: string }): Promise<CliResult> {
  const p = launch(args, options)
  const exit = await p.closed
  return { ...exit, stdout: p.stdout.join('\n'), stderr: p.stderr() }
}

/** Starts `customer-hub <args>` and returns at once: the process, its output so far, and its end (`closed`). */
export const startCli = (args: string[], options: { env?: Record<string, string | undefined>; cwd: string }) => launch(args, options)

/** Starts `customer-hub serve` expecting it to fail at start-up; resolves with how it ended. */
export const runServe = (options: { env?: Record<string, string | undefined>; cwd: string }) =>
  runCli(['serve'], { cwd: options.cwd, env: { PORT: '0', ...options.env } })

/** Kills every process these helpers started that still runs, and waits for them to end. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('exit', () => resolve())
          child.kill('SIGKILL')
        }),
    ),
  )
}

// the migrated data directory copyMigratedDataDir copies, made by the first call of this test file
let template: Promise<string> | undefined

/**
 * Fills `dataDir` (which must not exist) with a copy of a data directory on which
 * `customer-hub migrate` ran: every migration applied, and nothing else yet (no admin token,
 * secret or signing key), so a hub started on it still makes its first-start admin token. A test
 * that is not about migrating a fresh directory starts from this copy instead of running every
 * migration again. The directory copied is made once per run, in the directory the global setup
 * provides (`hubTemplateDir`), or once per file without it.
 */
export async function copyMigratedDataDir(dataDir: string): Promise<void> {
  template ??= makeTemplate()
  cpSync(await template, dataDir, { recursive: true })
}

async function makeTemplate(): Promise<string> {
  let root = inject('hubTemplateDir')
  if (!root) {
    root = mkdtempSync(join(tmpdir(), 'customer-hub-template-'))
    const made = root
    process.once('exit', () => rmSync(made, { recursive: true, force: true }))
  }
  const data = join(root, 'data')
  if (existsSync(data)) return data
  const build = mkdtempSync(join(root, 'build-'))
  const result = await runCli(['migrate'], { cwd: build, env: { HUB_DATA_DIR: join(build, 'data') } })
  if (result.code !== 0) throw new Error(`customer-hub migrate failed (${result.code ?? result.signal}) making the migrated data directory\n${result.stderr}`)
  try {
    renameSync(join(build, 'data'), data)
  } catch (err) {
    // another test file made it meanwhile
    if (!existsSync(data)) throw err
  }
  rmSync(build, { recursive: true, force: true })
  return data
}

/** A fresh temporary directory and its removal. */
export function tempDir(prefix = 'customer-hub-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** fetch against a hub with a bearer token; the parsed JSON body comes back as `body`. */
export async function call(base: string, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

/**
 * Sends `planned` to `doomed` from `width` workers and SIGKILLs it once `killAfter` requests were
 * answered. A request that gets no answer after the kill is one the process died with in flight;
 * a failure before the kill fails the test. Resolves once the process is gone, with the answers
 * got before the kill and how many requests were running when it came.
 */
export async function streamUntilKilled<T, A>(
  doomed: HubProcess,
  planned: T[],
  options: { width: number; killAfter: number; send: (req: T) => Promise<A> },
): Promise<{ answers: Map<T, A>; inFlightAtKill: number }> {
  const answers = new Map<T, A>()
  let inFlight = 0
  let inFlightAtKill = -1
  let killed = false
  await pool(planned, options.width, async (req) => {
    if (killed) return
    inFlight++
    try {
      answers.set(req, await options.send(req))
    } catch (err) {
      if (!killed) throw err
    } finally {
      inFlight--
    }
    if (!killed && answers.size >= options.killAfter) {
      killed = true
      inFlightAtKill = inFlight
      doomed.child.kill('SIGKILL')
    }
  })
  await doomed.exited
  return { answers, inFlightAtKill }
}

/** Runs `task` over `items` with `width` workers. */
export async function pool<T>(items: T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await task(items[next++]!)
  }))
}
