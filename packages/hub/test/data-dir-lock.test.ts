import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { call, copyMigratedDataDir, killAll, processTimeout, runCli, runServe, spawnHub, tempDir } from './helpers/spawn-hub.js'

let tmp: ReturnType<typeof tempDir>
let dataDir: string

beforeEach(() => {
  tmp = tempDir()
  dataDir = join(tmp.dir, 'data')
})
afterEach(async () => {
  await killAll()
  tmp.remove()
})

/** The pid recorded in the data directory's lock file. */
const lockPid = (dir: string): number => (JSON.parse(readFileSync(join(dir, 'hub.lock'), 'utf8')) as { pid: number }).pid

/** A lock record as a hub of this machine writes it (Linux: this process's pid namespace), with `fields` changed. */
function lockRecord(fields: Record<string, unknown>): string {
  return `${JSON.stringify({
    pid: process.pid,
    host: hostname(),
    pidNamespace: readlinkSync('/proc/self/ns/pid'),
    started: null,
    since: new Date().toISOString(),
    nonce: 'c0ffee',
    ...fields,
  })}\n`
}

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  const pid = child.pid!
  await new Promise((resolve) => child.once('exit', resolve))
  return pid
}

/** The built lock module, which the racing processes load. */
const lockModule = new URL('../dist/db/data-dir-lock.js', import.meta.url).href

// A process that takes the lock of DATA_DIR on "go" and lets it go on "release", saying what happened.
const racerScript = `
import { createInterface } from 'node:readline'
const { lockDataDir } = await import(process.env.LOCK_MODULE)
const say = (line) => process.stdout.write(line + '\\n')
let release
say('ready')
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'go') {
    try {
      release = lockDataDir(process.env.DATA_DIR)
      say('won')
    } catch (err) {
      say(err.name === 'DataDirLockedError' ? 'refused' : 'failed: ' + err.message)
    }
  } else if (line === 'release') {
    release()
    release = undefined
    say('released')
  }
}
`

interface Racer {
  child: ChildProcess
  /** The racer's next line of output. */
  next(): Promise<string>
  send(line: string): void
}

function startRacer(dir: string): Racer {
  const child = spawn(process.execPath, ['--input-type=module', '-e', racerScript], {
    env: { ...process.env, LOCK_MODULE: lockModule, DATA_DIR: dir },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines: string[] = []
  const waiting: ((line: string) => void)[] = []
  const push = (line: string) => (waiting.length > 0 ? waiting.shift()!(line) : lines.push(line))
  createInterface({ input: child.stdout! }).on('line', push)
  child.once('exit', (code) => push(`exited ${code}`))
  return {
    child,
    next: () => (lines.length > 0 ? Promise.resolve(lines.shift()!) : new Promise((resolve) => waiting.push(resolve))),
    send: (line) => child.stdin!.write(`${line}\n`),
  }
}

describe('the embedded data directory lock', { timeout: processTimeout }, () => {
  it('refuses a second serve and a migrate while a hub runs, and frees the directory when the hub stops', async () => {
    await copyMigratedDataDir(dataDir)
    const first = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    const token = first.firstStartToken!
    expect(lockPid(dataDir)).toBe(first.pid)
    const created = await call(first.url, 'POST', '/customer', token, { email: 'lock@example.com' })
    expect(created.status).toBe(201)

    const second = await runServe({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(second.code).toBe(78)
    expect(second.stderr).toContain(`the data directory ${dataDir} is in use by process ${first.pid}`)
    expect(second.stdout).not.toContain('listening')
    expect(second.stdout).not.toContain('chub_')

    const migrate = await runCli(['migrate'], { cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(migrate.code).toBe(78)
    expect(migrate.stderr).toContain(`the data directory ${dataDir} is in use`)

    // the refused processes left the lock and the running hub alone
    expect(lockPid(dataDir)).toBe(first.pid)
    expect((await call(first.url, 'GET', `/customer/${created.body.id}`, token)).status).toBe(200)

    expect(await first.stop()).toEqual({ code: 0, signal: null })
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)

    const third = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(third.firstStartToken).toBeUndefined()
    expect((await call(third.url, 'GET', `/customer/${created.body.id}`, token)).body.email).toBe('lock@example.com')
    await third.stop()
  })

  it('takes over a lock file whose process is gone', async () => {
    await copyMigratedDataDir(dataDir)
    const pid = await deadPid()
    writeFileSync(join(dataDir, 'hub.lock'), String(pid))
    const hub = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(lockPid(dataDir)).toBe(hub.pid)
    expect((await call(hub.url, 'GET', '/customer', hub.firstStartToken)).status).toBe(200)
    await hub.stop()
  })

  it('takes over a lock file that holds no pid', async () => {
    await copyMigratedDataDir(dataDir)
    writeFileSync(join(dataDir, 'hub.lock'), '')
    const migrate = await runCli(['migrate'], { cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(migrate.code).toBe(0)
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)
  })

  it('after a hub is killed (SIGKILL), the next one takes over its lock and finds the committed data', async () => {
    await copyMigratedDataDir(dataDir)
    const first = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    const token = first.firstStartToken!
    const created = await call(first.url, 'POST', '/customer', token, { email: 'survivor@example.com' })
    expect(created.status).toBe(201)
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' })
    expect(lockPid(dataDir)).toBe(first.pid)

    const second = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(second.firstStartToken).toBeUndefined()
    const read = await call(second.url, 'GET', `/customer/${created.body.id}`, token)
    expect(read.status).toBe(200)
    expect(read.body.email).toBe('survivor@example.com')
    await second.stop()
  })
})

describe('taking the data directory lock', { timeout: processTimeout }, () => {
  it('when several processes find a stale lock at once, exactly one of them takes it over', async () => {
    mkdirSync(dataDir)
    const racers = Array.from({ length: 6 }, () => startRacer(dataDir))
    try {
      for (const racer of racers) expect(await racer.next()).toBe('ready')
      const dead = await deadPid()
      for (let round = 0; round < 30; round++) {
        // a lock left by a hub that is gone: an older hub's (its pid alone) or a current one's
        writeFileSync(join(dataDir, 'hub.lock'), round % 2 === 0 ? String(dead) : lockRecord({ pid: dead }))
        for (const racer of racers) racer.send('go')
        const answers = await Promise.all(racers.map((r) => r.next()))
        const winners = racers.filter((_, i) => answers[i] === 'won')
        expect({ round, answers: [...answers].sort() }).toEqual({ round, answers: ['refused', 'refused', 'refused', 'refused', 'refused', 'won'] })
        expect(lockPid(dataDir)).toBe(winners[0]!.child.pid)
        winners[0]!.send('release')
        expect(await winners[0]!.next()).toBe('released')
        expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)
      }
      // no file of a takeover is left behind
      expect(readdirSync(dataDir)).toEqual([])
    } finally {
      for (const racer of racers) racer.child.stdin!.end()
      await Promise.all(racers.map((r) => (r.child.exitCode === null ? new Promise((resolve) => r.child.once('exit', resolve)) : undefined)))
    }
  })

  it('refuses a lock of a process on another host, whatever runs here, and says how to remove it', async () => {
    mkdirSync(dataDir)
    const file = join(dataDir, 'hub.lock')
    const foreign = lockRecord({ pid: await deadPid(), host: 'other-host.example', started: 'x:1' })
    writeFileSync(file, foreign)
    const serve = await runServe({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(serve.code).toBe(78)
    expect(serve.stderr).toContain('on host other-host.example')
    expect(serve.stderr).toContain(`remove ${file}`)
    expect(serve.stdout).not.toContain('listening')
    expect(readFileSync(file, 'utf8')).toBe(foreign)
  })

  it('refuses a lock of this host name from another pid namespace (another container on a shared volume)', async () => {
    mkdirSync(dataDir)
    const file = join(dataDir, 'hub.lock')
    const foreign = lockRecord({ pid: await deadPid(), pidNamespace: 'pid:[4026000001]' })
    writeFileSync(file, foreign)
    const migrate = await runCli(['migrate'], { cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(migrate.code).toBe(78)
    expect(migrate.stderr).toContain('another container')
    expect(migrate.stderr).toContain(`remove ${file}`)
    expect(readFileSync(file, 'utf8')).toBe(foreign)
  })

  it('takes over a lock whose pid now belongs to another process (a reused pid: same pid, other start time)', async () => {
    await copyMigratedDataDir(dataDir)
    // this test's own process is alive, but it is not the process that took the lock
    writeFileSync(join(dataDir, 'hub.lock'), lockRecord({ pid: process.pid, started: 'a-boot-before:12345' }))
    const hub = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(lockPid(dataDir)).toBe(hub.pid)
    await hub.stop()
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)
  })

  it('makes the data directory readable by its owner only (0700), and tightens one that is not', async () => {
    const nested = join(dataDir, 'nested')
    expect((await runCli(['migrate'], { cwd: tmp.dir, env: { HUB_DATA_DIR: nested } })).code).toBe(0)
    expect(statSync(nested).mode & 0o777).toBe(0o700)

    chmodSync(nested, 0o755)
    expect((await runCli(['migrate'], { cwd: tmp.dir, env: { HUB_DATA_DIR: nested } })).code).toBe(0)
    expect(statSync(nested).mode & 0o777).toBe(0o700)
  })
})
