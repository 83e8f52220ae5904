import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { call, killAll, processTimeout, runCli, runServe, spawnHub, tempDir } from './helpers/spawn-hub.js'

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

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  const pid = child.pid!
  await new Promise((resolve) => child.once('exit', resolve))
  return pid
}

describe('the embedded data directory lock', { timeout: processTimeout }, () => {
  it('refuses a second serve and a migrate while a hub runs, and frees the directory when the hub stops', async () => {
    const first = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    const token = first.firstStartToken!
    expect(readFileSync(join(dataDir, 'hub.lock'), 'utf8').trim()).toBe(String(first.pid))
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
    expect(readFileSync(join(dataDir, 'hub.lock'), 'utf8').trim()).toBe(String(first.pid))
    expect((await call(first.url, 'GET', `/customer/${created.body.id}`, token)).status).toBe(200)

    expect(await first.stop()).toEqual({ code: 0, signal: null })
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)

    const third = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(third.firstStartToken).toBeUndefined()
    expect((await call(third.url, 'GET', `/customer/${created.body.id}`, token)).body.email).toBe('lock@example.com')
    await third.stop()
  })

  it('takes over a lock file whose process is gone', async () => {
    mkdirSync(dataDir)
    const pid = await deadPid()
    writeFileSync(join(dataDir, 'hub.lock'), String(pid))
    const hub = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(readFileSync(join(dataDir, 'hub.lock'), 'utf8').trim()).toBe(String(hub.pid))
    expect((await call(hub.url, 'GET', '/customer', hub.firstStartToken)).status).toBe(200)
    await hub.stop()
  })

  it('takes over a lock file that holds no pid', async () => {
    mkdirSync(dataDir)
    writeFileSync(join(dataDir, 'hub.lock'), '')
    const migrate = await runCli(['migrate'], { cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(migrate.code).toBe(0)
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)
  })

  it('after a hub is killed (SIGKILL), the next one takes over its lock and finds the committed data', async () => {
    const first = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    const token = first.firstStartToken!
    const created = await call(first.url, 'POST', '/customer', token, { email: 'survivor@example.com' })
    expect(created.status).toBe(201)
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' })
    expect(readFileSync(join(dataDir, 'hub.lock'), 'utf8').trim()).toBe(String(first.pid))

    const second = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(second.firstStartToken).toBeUndefined()
    const read = await call(second.url, 'GET', `/customer/${created.body.id}`, token)
    expect(read.status).toBe(200)
    expect(read.body.email).toBe('survivor@example.com')
    await second.stop()
  })
})
