// Copies every module's migrations (src/<module>/migrations/*.sql) beside the compiled code.
import { cpSync, existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
for (const entry of readdirSync(join(root, 'src'), { withFileTypes: true })) {
  const from = join(root, 'src', entry.name, 'migrations')
  if (entry.isDirectory() && existsSync(from)) cpSync(from, join(root, 'dist', entry.name, 'migrations'), { recursive: true })
}
