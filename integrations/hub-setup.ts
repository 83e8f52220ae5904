// Starts a real Customer Hub for the integrations' tests (integrations/medusa, integrations/mercur): `customer-hub serve` from the repository's
// build, on the embedded database in a temporary directory, with orders in EUR earning one point
// per whole euro. Its URL and first-start admin token go to the tests (inject('hub')).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { TestProject } from 'vitest/node'

const cli = resolve(__dirname, '../packages/hub/dist/cli/main.js')

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'medusa-plugin-hub-'))
  writeFileSync(join(dir, 'customer-hub.yaml'), 'ledgers:\n  - handle: reward-points\n    earn: { per: 100, points: 1, currency: EUR }\n')
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(HUB_|DATABASE_URL$|PORT$|HOST$)/.test(k)) env[k] = v
  const child = spawn(process.execPath, [cli, 'serve'], { cwd: dir, env: { ...env, PORT: '0', HOST: '127.0.0.1', HUB_DATA_DIR: join(dir, 'data') }, stdio: ['ignore', 'pipe', 'pipe'] })
  const hub = await new Promise<{ url: string; token: string }>((done, fail) => {
    let token: string | undefined
    let rest = ''
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop()!
      for (const line of lines) {
        const printed = /^ {2}(chub_\S+)$/.exec(line)
        if (printed) token = printed[1]
        if (line.startsWith('{') && line.includes('customer hub listening')) {
          const url = String(JSON.parse(line).url)
          if (!token) return fail(new Error('the hub printed no admin token on its first start'))
          done({ url, token })
        }
      }
    })
    child.once('close', (code) => fail(new Error(`the hub exited (${code}) before it listened\n${stderr}`)))
  })
  // each store speaks with a platform token bound to its own component and order platform, as a store is set up
  const platformToken = async (name: string, component?: string, platform?: string) => {
    const res = await fetch(`${hub.url}/tokens`, {
      method: 'POST', headers: { authorization: `Bearer ${hub.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, role: 'platform', ...(component ? { components: [component] } : {}), ...(platform ? { platforms: [platform] } : {}) }),
    })
    if (res.status !== 201) throw new Error(`POST /tokens: ${res.status} ${await res.text()}`)
    return ((await res.json()) as { token: string }).token
  }
  project.provide('hub', {
    ...hub,
    storeToken: await platformToken('medusa-store', 'identity.his-and-her-store', 'medusa'),
    secondStoreToken: await platformToken('medusa-second-store', 'identity.second-store', 'medusa-second'),
    marketplaceToken: await platformToken('mercur-marketplace'),
  })
  return async () => {
    const closed = new Promise((done) => child.once('close', done))
    child.kill('SIGTERM')
    await closed
    rmSync(dir, { recursive: true, force: true })
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The hub; `token` is its admin token (for the tests' reads), the others platform tokens of two stores and of a marketplace. */
    hub: { url: string; token: string; storeToken: string; secondStoreToken: string; marketplaceToken: string }
  }
}
