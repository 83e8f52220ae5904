import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'


/** Resident set size of a process in MiB, from /proc (Linux); NaN when it cannot be read. */
export function readRssMiB(pid, field = 'VmRSS') {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

let clockTicks
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; NaN when unreadable. */
export function readCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields from the 3rd (state) on
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond() // utime, stime
  } catch {
    return NaN
  }
}

/**
 * Watches a process while a scenario runs: samples its RSS every `intervalMs` and counts the CPU
 * it uses. `stop()` returns the peak RSS seen (MiB), the CPU seconds used and that CPU in percent
 * of one core.
 * Sampling is a measurement, not a synchronisation: nothing waits on it.
 */
export function watchProcess(pid, intervalMs = 50) {
  let peak = readRssMiB(pid)
  const cpuStart = readCpuSeconds(pid)
  const started = performance.now()
  const timer = setInterval(() => {
    const v = readRssMiB(pid)
    if (!Number.isNaN(v)) peak = Number.isNaN(peak) ? v : Math.max(peak, v)
  }, intervalMs)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      const v = readRssMiB(pid)
      const seconds = (performance.now() - started) / 1000
      const cpuSeconds = readCpuSeconds(pid) - cpuStart
      return {
        peakRss: Number.isNaN(v) ? peak : Math.max(peak, v),
        cpuSeconds,
        cpuPercent: seconds > 0 ? (cpuSeconds / seconds) * 100 : NaN,
      }
    },
  }
}

/**
 * Starts `customer-hub serve` from the build as its own process on a free loopback port and
 * resolves once it prints the JSON log line that carries its `url`. Its later output is read
 * and dropped (a full pipe would stall the hub's synchronous logger).
 *
 * @param {{ hubMain: string, databaseUrl?: string, dataDir: string, adminToken: string, cwd: string, nodeArgs?: string[], startTimeoutMs?: number, env?: Record<string, string>, secret?: string }} options
 * @returns {Promise<{ url: string, pid: number, stop: () => Promise<number | null> }>}
 */
export function startHubProcess({ hubMain, databaseUrl, dataDir, adminToken, cwd, nodeArgs = [], startTimeoutMs = 60_000, env: extraEnv = {}, secret }) {
  const env = { ...process.env }
  // the hub reads these; a developer's own settings must not change what is measured
  for (const key of Object.keys(env)) if (key.startsWith('HUB_') || key === 'DATABASE_URL' || key === 'HOST' || key === 'PORT') delete env[key]
  Object.assign(env, {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info', // the listening line, which carries the url, is logged at info
    HUB_ADMIN_TOKEN: adminToken,
    HUB_SECRET: secret ?? randomBytes(32).toString('base64url'), // encrypts the hub's signing keys at rest (processes sharing a database share it)
    HUB_DATA_DIR: dataDir,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...extraEnv,
  })
  const child = spawn(process.execPath, [...nodeArgs, hubMain, 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (s) => {
    stderr = (stderr + s).slice(-8000)
  })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)

  async function stop() {
    if (child.pid === undefined) return null // never started
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    const code = await exited
    clearTimeout(timer)
    process.removeListener('exit', killOnExit)
    return typeof code === 'number' ? code : null
  }

  return new Promise((resolve, reject) => {
    let buffered = ''
    let stdoutTail = ''
    const fail = (why) => {
      clearTimeout(timer)
      child.removeListener('exit', onExit)
      child.removeListener('error', onError)
      child.stdout.removeListener('data', onData)
      stop().finally(() => reject(new Error(`${why}\n--- hub stderr ---\n${stderr}\n--- hub stdout ---\n${stdoutTail}`)))
    }
    const timer = setTimeout(() => fail(`the hub did not report listening within ${startTimeoutMs} ms`), startTimeoutMs)
    const onExit = (code) => fail(`the hub exited (${code}) before listening`)
    const onError = (err) => fail(`cannot start the hub: ${err.message}`)
    child.once('exit', onExit)
    child.once('error', onError)
    function onData(chunk) {
      const text = chunk.toString('utf8')
      stdoutTail = (stdoutTail + text).slice(-4000)
      buffered += text
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        let entry
        try {
          entry = JSON.parse(line)
        } catch {
          continue
        }
        if (entry && typeof entry.url === 'string') {
          clearTimeout(timer)
          child.removeListener('exit', onExit)
          child.removeListener('error', onError)
          child.stdout.removeListener('data', onData)
          child.stdout.resume() // drop what follows (per-request log lines)
          resolve({ url: entry.url, pid: child.pid, stop })
          return
        }
      }
    }
    child.stdout.on('data', onData)
  })
}
