import { keyedSection } from '../config-section.js'

/** The `imports:` section. */
export interface ImportSettings {
  /**
   * `resume` (`HUB_IMPORTS_RESUME`), default true: this process takes over and finishes imports
   * staged whole whose process is gone. The `customer-hub` commands run with it off: they do
   * only what they were asked.
   */
  resume: boolean
  /** `max_upload_mib` (`HUB_IMPORTS_MAX_UPLOAD_MIB`), default 1024: the largest file `POST /imports` takes. */
  maxUploadMiB: number
  /**
   * `workers` (`HUB_IMPORTS_WORKERS`), default 4: batches of an import resolved at once on
   * PostgreSQL, each in its own transaction and connection (the embedded database takes one).
   */
  workers: number
}

export const importSection = keyedSection<ImportSettings>(
  'imports',
  'HUB_IMPORTS_',
  { resume: { field: 'resume', kind: 'boolean' }, max_upload_mib: { field: 'maxUploadMiB', kind: 'integer', min: 1, max: 1024 * 1024 }, workers: { field: 'workers', kind: 'integer', min: 1, max: 16 } },
  { resume: true, maxUploadMiB: 1024, workers: 4 },
)

/** The batches an import resolves at once on this database. */
export const importWorkers = (config: { databaseUrl?: string | undefined; imports: ImportSettings }): number => (config.databaseUrl ? config.imports.workers : 1)

declare module '../config.js' {
  interface Settings {
    imports: ImportSettings
  }
}
