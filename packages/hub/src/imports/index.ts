import { defineModule } from '../module.js'
import { createImportService, type ImportService } from './import-service.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    imports: ImportService
  }
}

/** Bulk imports of a platform's customers: staged rows, resolved in batches with the sync's rules (see `run-import.ts`). */
export const importsModule = defineModule({
  name: 'imports',
  folder: 'imports',
  tables: ['imports', 'import_rows'],
  migrations: new URL('./migrations/', import.meta.url),
  services: () => ({ imports: createImportService() }),
})
