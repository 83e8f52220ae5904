import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import pg from 'pg'
import { readCpuSeconds } from './hub-process.js'

/** Inodes of the sockets a process holds open. */
function socketInodes(pid) {
  const inodes = new Set()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m) inodes.add(m[1])
    } catch {
      // closed meanwhile
    }
  }
  return inodes
}

/** Local ports of the process's TCP connections to `remotePort`. */
function localPortsTo(pid, remotePort) {
  const inodes = socketInodes(pid)
  const ports = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length < 10) continue
      const local = parseInt(cols[1].split(':')[1], 16)
      const remote = parseInt(cols[2].split(':')[1], 16)
      if (remote === remotePort && inodes.has(cols[9])) ports.push(local)
    }
  }
  return ports
}

/**
 * Counts the CPU used by the PostgreSQL backends that serve one hub process (found through the
 * hub's own TCP connections and `pg_stat_activity.client_port`), so a scenario can tell the
 * database's share of the work from the hub's. Needs PostgreSQL on this machine (reads /proc).
 *
 * @param {string} url connection string of the database
 * @param {number} hubPid
 */
export function createBackendCpuMeter(url, hubPid) {
  const port = Number(new URL(url).port || 5432)
  const client = new pg.Client({ connectionString: url })
  const connected = client.connect()

  async function backends() {
    await connected
    const ports = localPortsTo(hubPid, port)
    if (ports.length === 0) return []
    const { rows } = await client.query('SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])', [ports])
    return rows.map((r) => r.pid)
  }

  return {
    /** Starts a measurement; the returned function ends it and gives CPU seconds (NaN if unknown). */
    async start() {
      const before = new Map()
      for (const pid of await backends()) before.set(pid, readCpuSeconds(pid))
      return async () => {
        const seen = new Set([...before.keys(), ...(await backends())])
        let total = 0
        for (const pid of seen) {
          const now = readCpuSeconds(pid)
          if (Number.isNaN(now)) continue // ended meanwhile: its share is lost
          total += now - (before.get(pid) ?? 0)
        }
        return seen.size > 0 ? total : NaN
      }
    },
    close: () => client.end(),
  }
}
