import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

/**
 * A build of the hub to measure: where its `customer-hub` command is, and the functions of its
 * storage the seeding uses (each build seeds with its own migrations).
 *
 * @param {string} root the repository checkout the build lives in
 * @param {string} label how the results name it
 */
export async function loadBuild(root, label) {
  const dist = join(root, 'packages', 'hub', 'dist')
  if (!existsSync(join(dist, 'cli', 'main.js'))) throw new Error(`${dist} has no build: run npm run build there`)
  const url = (path) => new URL(`file://${join(dist, path)}`).href
  const [{ createDatabase }, { migrate }, { listCustomers }] = await Promise.all([
    import(url('db/create-database.js')),
    import(url('db/migrate.js')),
    import(url('customers/customer-list.js')),
  ])
  return { label, hubMain: join(dist, 'cli', 'main.js'), createDatabase, migrate, listCustomers }
}

/** This checkout's build. */
export const currentBuild = () => loadBuild(repoRoot, 'this build')

/**
 * Checks out `ref` beside this checkout (a git worktree), installs and builds it there, and
 * loads it: the baseline measured in the same run. `cleanup()` removes the worktree.
 *
 * @param {string} ref a commit, branch or tag
 * @param {(line: string) => void} log
 */
export async function baselineBuild(ref, log) {
  const dir = mkdtempSync(join(tmpdir(), 'hub-baseline-'))
  const commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: repoRoot, encoding: 'utf8' }).trim()
  log(`  baseline ${ref} (${commit}): checking out and building in ${dir} ...`)
  execFileSync('git', ['worktree', 'add', '--detach', dir, commit], { cwd: repoRoot, stdio: 'ignore' })
  const cleanup = () => {
    try {
      execFileSync('git', ['worktree', 'remove', '--force', dir], { cwd: repoRoot, stdio: 'ignore' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  try {
    execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' })
    const build = await loadBuild(dir, `baseline ${commit}`)
    return { ...build, cleanup }
  } catch (err) {
    cleanup()
    throw err
  }
}
