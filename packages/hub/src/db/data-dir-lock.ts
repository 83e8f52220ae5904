import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, closeSync, fstatSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'

const LOCK = 'hub.lock'

/** Who holds a data directory's lock, as its `hub.lock` file records it (one line of JSON). */
export interface LockOwner {
  pid: number
  /** The host name of the owner's machine (`os.hostname()`). */
  host: string
  /** `/etc/machine-id` of the owner's machine, where it has one: tells machines of one name apart. */
  machineId?: string | null
  /** The owner's pid namespace (`/proc/self/ns/pid`, Linux): each container has its own. */
  pidNamespace?: string | null
  /** `<boot id>:<start time in clock ticks>` of the owner (Linux): a reused pid has another one. */
  started?: string | null
  /** When the lock was taken (for people reading the file). */
  since?: string
  /** Tells this lock from any other, so that only its owner removes it. */
  nonce?: string
}

export class DataDirLockedError extends Error {
  /**
   * @param foreign - set when the owner runs where this process cannot see whether it still
   * runs (another host, another container): the lock is then never taken over.
   */
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly foreign?: { host: string; file: string; container: boolean; since?: string | undefined },
  ) {
    super(
      foreign
        ? `the data directory ${dataDir} is locked by process ${pid} on host ${foreign.host}` +
            `${foreign.container ? ' in another container (another pid namespace)' : ''}${foreign.since ? ` since ${foreign.since}` : ''}, ` +
            'and this process cannot see whether that process still runs. Two processes on one embedded database corrupt it: ' +
            `if no hub runs there any more, remove ${foreign.file} and start again; otherwise use the API of the running hub, ` +
            'or set DATABASE_URL to share a PostgreSQL database.'
        : `the data directory ${dataDir} is in use by process ${pid}. ` +
            'Two processes on one embedded database corrupt it: stop the other hub, use the API of the running one, ' +
            'or set DATABASE_URL to share a PostgreSQL database.',
    )
    this.name = 'DataDirLockedError'
  }
}

function readOrNull(read: () => string): string | null {
  try {
    return read().trim() || null
  } catch {
    return null
  }
}

const bootId = readOrNull(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'))
const machineId = readOrNull(() => readFileSync('/etc/machine-id', 'utf8')) ?? readOrNull(() => readFileSync('/var/lib/dbus/machine-id', 'utf8'))
const pidNamespace = readOrNull(() => readlinkSync('/proc/self/ns/pid'))
const procReadable = readOrNull(() => readFileSync('/proc/self/stat', 'utf8')) !== null

/**
 * Whether `pid` runs in this pid namespace, and since when (`<boot id>:<start ticks>`, where
 * /proc tells it). A zombie has ended.
 */
function processState(pid: number): { running: false } | { running: true; started: string | null } {
  if (procReadable) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      // "pid (comm) state ppid …": comm may hold spaces and parentheses; the fields follow the last ")"
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (fields[0] === 'Z' || fields[0] === 'X') return { running: false }
      return { running: true, started: bootId && fields[19] ? `${bootId}:${fields[19]}` : null }
    } catch {
      // not in /proc: ended, or hidden from this user (hidepid); kill(0) tells them apart
    }
  }
  try {
    process.kill(pid, 0)
    return { running: true, started: null }
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? { running: true, started: null } : { running: false }
  }
}

/** This process as a lock records it. */
function thisProcess(): LockOwner {
  const self = processState(process.pid)
  return {
    pid: process.pid,
    host: hostname(),
    machineId,
    pidNamespace,
    started: self.running ? self.started : null,
    since: new Date().toISOString(),
    nonce: randomBytes(16).toString('hex'),
  }
}

/** The owner a lock file's text names: the JSON record, or a bare pid (written by older hubs). */
function parseOwner(text: string): LockOwner | undefined {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed), host: hostname(), machineId: null, pidNamespace }
  try {
    const owner = JSON.parse(trimmed) as LockOwner
    if (typeof owner === 'object' && owner !== null && Number.isInteger(owner.pid) && owner.pid > 0 && typeof owner.host === 'string') return owner
  } catch {
    // not a lock any hub wrote whole: nobody owns it
  }
  return undefined
}

type Verdict = { kind: 'held'; owner: LockOwner } | { kind: 'foreign'; owner: LockOwner; container: boolean } | { kind: 'stale' }

/**
 * Whether a lock's owner still holds it. An owner on another host, or in another pid namespace
 * of this one (a container sharing the volume), cannot be checked from here: its lock is
 * foreign and never stale. Here, an owner holds the lock while its pid runs with the start time
 * the lock recorded; a pid that runs with another start time is a reused one.
 */
function judge(text: string): Verdict {
  const owner = parseOwner(text)
  if (!owner) return { kind: 'stale' }
  if (owner.host !== hostname() || (owner.machineId && machineId && owner.machineId !== machineId)) return { kind: 'foreign', owner, container: false }
  if ((owner.pidNamespace ?? null) !== pidNamespace) return { kind: 'foreign', owner, container: true }
  const state = processState(owner.pid)
  if (!state.running) return { kind: 'stale' }
  if (owner.started && state.started && owner.started !== state.started) return { kind: 'stale' }
  return { kind: 'held', owner }
}

interface Seen {
  text: string
  ino: number
}

/** A file's text and inode, read through one descriptor; undefined when there is none. */
function readSeen(path: string): Seen | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const { ino, size } = fstatSync(fd)
    const buffer = Buffer.alloc(Math.min(size, 64 * 1024))
    const length = readSync(fd, buffer, 0, buffer.length, 0)
    return { text: buffer.subarray(0, length).toString('utf8'), ino }
  } finally {
    closeSync(fd)
  }
}

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code

/** How many abandoned takeovers (a process that died in the middle of one) are stepped over. */
const MAX_TAKEOVER_DEPTH = 8

/**
 * Makes `dir/name` a link to `mine` (this process's lock record): created when the name is
 * free — `link()` fails when it exists, so of processes that find it free one gets it — or
 * replaced when its owner is gone. Throws {@link DataDirLockedError} when a live or foreign
 * owner holds it.
 *
 * Replacing a stale lock is where two processes could both win (each removes "the stale lock",
 * the second removing the first's fresh one). So only the process that creates
 * `<name>.takeover.<fingerprint of that stale file>` — the same way, by `link()` — may replace
 * it; it checks that the name still holds that very file (same text, same inode: nobody else may
 * change it meanwhile) and renames its own record over it, atomically. A takeover marker whose
 * owner died is itself stale and taken over the same way, one level deeper.
 */
function take(dir: string, name: string, mine: string, dataDir: string, depth: number): void {
  const path = join(dir, name)
  for (;;) {
    try {
      linkSync(mine, path)
      return
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err
    }
    const seen = readSeen(path)
    if (!seen) continue // its owner let it go meanwhile
    const verdict = judge(seen.text)
    if (verdict.kind === 'held') throw new DataDirLockedError(dataDir, verdict.owner.pid)
    if (verdict.kind === 'foreign') {
      const { owner, container } = verdict
      throw new DataDirLockedError(dataDir, owner.pid, { host: owner.host, file: join(dir, LOCK), container, since: owner.since })
    }
    if (depth >= MAX_TAKEOVER_DEPTH) {
      throw new Error(`the lock of the data directory ${dataDir} was left by ${MAX_TAKEOVER_DEPTH} processes that died while taking it over: stop every hub on it and remove ${join(dir, LOCK)}*`)
    }
    const fingerprint = createHash('sha256').update(`${seen.ino}\n${seen.text}`).digest('hex').slice(0, 16)
    const marker = `${name}.takeover.${fingerprint}`
    take(dir, marker, mine, dataDir, depth + 1)
    try {
      const now = readSeen(path)
      if (now && now.ino === seen.ino && now.text === seen.text) {
        const replacement = `${mine}.${depth}`
        linkSync(mine, replacement)
        renameSync(replacement, path)
        return
      }
      // another process replaced it before this one got the marker: look again
    } finally {
      rmSync(join(dir, marker), { force: true })
    }
  }
}

/**
 * Creates the data directory readable by its owner only (0700) and tightens an existing one that
 * is looser, as it holds the secret and the admin token. A directory this user does not own
 * (a volume whose mode the platform sets) is left as it is.
 */
function ensureDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const { mode } = statSync(dataDir)
  if ((mode & 0o777) === 0o700) return
  try {
    chmodSync(dataDir, 0o700)
  } catch (err) {
    if (errno(err) !== 'EPERM') throw err
  }
}

/** Removes what processes that died while taking the lock left: their records and takeover markers. */
function sweepLeftovers(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(`${LOCK}.`)) continue
    const seen = readSeen(join(dir, name))
    // a record another process is still writing reads empty: only a whole one of an ended process goes
    if (seen && parseOwner(seen.text) && judge(seen.text).kind === 'stale') rmSync(join(dir, name), { force: true })
  }
}

/**
 * Takes the lock of an embedded data directory, `hub.lock`, creating the directory (mode 0700)
 * when it is missing. The lock records this process — pid, host name, machine id, pid namespace
 * and start time — in one line of JSON. A lock whose process has ended, or whose pid now belongs
 * to a process started later (a reused pid), is taken over; a lock from another host or another
 * container is refused ({@link DataDirLockedError} says which file to remove once that hub is
 * gone). Every step is an atomic `link()` or `rename()`, so of processes that start together
 * exactly one gets the lock. Returns the function that releases it.
 *
 * @example
 * ```ts
 * const unlock = lockDataDir('.hub-data') // throws DataDirLockedError while another hub runs
 * try { … } finally { unlock() }
 * ```
 */
export function lockDataDir(dataDir: string): () => void {
  ensureDataDir(dataDir)
  const owner = thisProcess()
  const text = `${JSON.stringify(owner)}\n`
  const mine = join(dataDir, `${LOCK}.${owner.nonce}.tmp`)
  writeFileSync(mine, text, { flag: 'wx', mode: 0o600 })
  try {
    take(dataDir, LOCK, mine, dataDir, 0)
  } finally {
    rmSync(mine, { force: true })
  }
  sweepLeftovers(dataDir)
  const file = join(dataDir, LOCK)
  return () => {
    // the lock is removed only while it is this process's own
    if (readSeen(file)?.text === text) rmSync(file, { force: true })
  }
}

/** The pid of the process of this host holding the data directory's lock, or undefined when none does here. */
export function dataDirOwner(dataDir: string): number | undefined {
  const seen = readSeen(join(dataDir, LOCK))
  if (!seen) return undefined
  const verdict = judge(seen.text)
  return verdict.kind === 'held' ? verdict.owner.pid : undefined
}
