// Copies every module's migrations (src/<module>/migrations/*.sql) beside the compiled code, replacing what is there.
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
for (const entry of readdirSync(join(root, 'src'), { withFileTypes: true })) {
  const from = join(root, 'src', entry.name, 'migrations')
  if (!entry.isDirectory() || !existsSync(from)) continue
  const to = join(root, 'dist', entry.name, 'migrations')
  rmSync(to, { recursive: true, force: true }) // a migration removed or renamed in src goes from dist too
  cpSync(from, to, { recursive: true })
}
