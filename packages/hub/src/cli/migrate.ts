import { databaseOptions, loadConfig } from '../config.js'
import { createDatabase } from '../db/create-database.js'
import { migrate } from '../db/migrate.js'

/** `customer-hub migrate`: applies pending migrations and says which. */
export async function migrateCommand(): Promise<void> {
  const config = loadConfig()
  const database = await createDatabase(databaseOptions(config, 1))
  try {
    const applied = await migrate(database.db)
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'the database is up to date')
  } finally {
    await database.close()
  }
}
