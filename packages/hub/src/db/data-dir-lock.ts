import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the data directory ${dataDir} is in use by process ${pid}. ` +
        'Two processes on one embedded database corrupt it: stop the other hub, use the API of the running one, ' +
        'or set DATABASE_URL to share a PostgreSQL database.',
    )
    this.name = 'DataDirLockedError'
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes the lock of an embedded data directory: a `hub.lock` file created exclusively
 * (`O_EXCL`) holding the owner's pid. A lock left by a process that no longer runs is taken
 * over. Returns the function that releases it.
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true })
  const file = join(dataDir, 'hub.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return () => rmSync(file, { force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const pid = Number(readFileSync(file, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new DataDirLockedError(dataDir, pid)
      if (pid === process.pid) throw new DataDirLockedError(dataDir, pid)
      rmSync(file, { force: true }) // stale: its owner is gone
    }
  }
  throw new DataDirLockedError(dataDir, Number(readFileSync(file, 'utf8').trim()))
}

/** The pid holding the data directory's lock, or undefined when it is free. */
export function dataDirOwner(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'hub.lock'), 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}
