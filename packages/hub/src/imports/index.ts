import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Transform, type Readable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import { defineModule, type Services } from '../module.js'
import type { Executor } from '../db/executor.js'
import type { HubConfig } from '../config.js'
import { HubError } from '../errors.js'
import { createImportService, importOwner, type ImportService } from './import-service.js'
import { ImportStopped, processStaged, startImport } from './run-import.js'
import { importSection, importWorkers } from './settings.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    imports: ImportService
  }
}

/** How often a hub looks for staged imports whose process is gone, to finish them. */
const RESUME_INTERVAL_MS = 10_000

type Runs = Map<string, { done: Promise<unknown>; stop: AbortController }>

/**
 * Imports a hub runs in the background (`POST /imports`, or taken over), and how to stop them
 * between batches: one list per hub (its services), so that closing one hub of a process stops
 * only its own.
 */
const runsOf = new WeakMap<Services, Runs>()
const runs = (services: Services): Runs => {
  let list = runsOf.get(services)
  if (!list) runsOf.set(services, (list = new Map()))
  return list
}

function background(running: Runs, id: string, log: FastifyBaseLogger, work: (signal: AbortSignal) => Promise<unknown>, cleanup?: () => Promise<void>): void {
  const stop = new AbortController()
  const done = work(stop.signal)
    .then(() => log.info({ importId: id }, 'import finished'))
    .catch((err: unknown) => log.warn({ err, importId: id }, 'import stopped; it resumes where it stopped'))
    .finally(async () => {
      running.delete(id)
      await cleanup?.().catch(() => {})
    })
  running.set(id, { done, stop })
}

/** Stops the background imports between batches (they stay unfinished, to be resumed) and waits for them. */
async function stopRuns(running: Runs): Promise<void> {
  for (const { stop } of running.values()) stop.abort()
  await Promise.all([...running.values()].map((r) => r.done))
}

/** Saves an upload to a file of its own, refusing one larger than `maxBytes`. */
async function saveUpload(body: Readable, maxBytes: number): Promise<{ path: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'customer-hub-import-'))
  const remove = () => rm(dir, { recursive: true, force: true })
  const path = join(dir, 'upload')
  let bytes = 0
  const limit = new Transform({
    transform(chunk: Buffer, _enc, next) {
      bytes += chunk.length
      next(bytes > maxBytes ? new HubError('IMPORT_TOO_LARGE') : null, chunk)
    },
  })
  try {
    await pipeline(body, limit, createWriteStream(path))
  } catch (err) {
    await remove()
    throw err
  }
  return { path, remove }
}

/** Takes over and finishes staged imports whose process is gone (every 10 s in a serving hub). */
export async function resumeAbandoned(db: Executor, services: Services, config: HubConfig, log: FastifyBaseLogger): Promise<void> {
  const running = runs(services)
  for (const { id } of await services.imports.abandoned(db)) {
    if (running.has(id)) continue
    const owner = importOwner()
    try {
      await services.imports.claim(db, id, owner)
    } catch (err) {
      if (err instanceof HubError && err.code === 'IMPORT_RUNNING') continue // someone else works on it
      throw err
    }
    log.info({ importId: id }, 'taking over an import whose process is gone')
    background(running, id, log, (signal) =>
      processStaged({ db, services, settings: config.customer, identity: config.identity, id, owner, signal, workers: importWorkers(config) }).catch(async (err: unknown) => {
        if (err instanceof ImportStopped) await services.imports.release(db, id, owner)
        else await services.imports.fail(db, id, owner, (err as Error).message)
        throw err
      }))
  }
}

/** Bulk imports of a platform's customers: staged rows, resolved in batches with the sync's rules (see `run-import.ts`). */
export const importsModule = defineModule({
  name: 'imports',
  folder: 'imports',
  tables: ['imports', 'import_rows', 'import_chunks'],
  migrations: new URL('./migrations/', import.meta.url),
  config: importSection,
  services: () => ({ imports: createImportService() }),
  handlers: (services, config) => ({
    createImport: async ({ db, query, request }) => {
      // a body another parser read (JSON) is not the file
      if (typeof (request.body as Readable | undefined)?.pipe !== 'function') throw new HubError('UNSUPPORTED_MEDIA_TYPE', 'Send the file as application/x-ndjson (JSON Lines) or text/csv.')
      const upload = await saveUpload(request.body as Readable, config.imports.maxUploadMiB * 1024 * 1024)
      const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
      const format = query.format ?? (type === 'text/csv' ? 'csv' : 'jsonl')
      let started
      try {
        started = await startImport({
          db, services, settings: config.customer, identity: config.identity, path: upload.path, component: query.platform, externalIdField: query.idField, format,
          source: `upload ${new Date().toISOString()}`, workers: importWorkers(config),
        })
      } catch (err) {
        await upload.remove()
        throw err
      }
      if (started.alreadyDone) {
        await upload.remove()
        return { status: 200 as const, body: started.summary }
      }
      const run = started.run
      background(runs(services), started.summary.id, request.log, (signal) => run(signal), upload.remove)
      return { status: 202 as const, body: started.summary }
    },
    listImports: async ({ db }) => ({ data: await services.imports.list(db) }),
    getImport: async ({ db, params }) => services.imports.get(db, params.id),
    listImportRejections: async ({ db, params, query }) => services.imports.rejections(db, params.id, query.after ?? 0, query.limit ?? 100),
  }),
  async start({ db, services, config, log, background }) {
    if (!background) return
    if (!config.imports.resume) return async () => stopRuns(runs(services))
    const look = () => resumeAbandoned(db, services, config, log).catch((err: unknown) => log.warn({ err }, 'could not look for imports to take over'))
    void look()
    const timer = setInterval(look, RESUME_INTERVAL_MS)
    timer.unref()
    return async () => {
      clearInterval(timer)
      await stopRuns(runs(services))
    }
  },
})
