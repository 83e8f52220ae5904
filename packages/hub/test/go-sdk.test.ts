import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { openApiDocument } from '../src/http/operations-module.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))

// The Go SDK (sdk/go) is generated from the OpenAPI document by scripts/generate-go.js; its own
// tests run against a listening hub with `npm run test:go` (CI runs them after this suite).
describe('the Go SDK', () => {
  it('is generated from the document the hub serves', () => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', "process.stdout.write(JSON.stringify((await import('./scripts/generate-go.js')).openApiDocument()))"], {
      cwd: root,
      encoding: 'utf8',
    })
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout)).toEqual(openApiDocument())
  })

  it('is as committed: a fresh generation gives the files of sdk/go (run `npm run generate` after changing a route)', () => {
    const run = spawnSync(process.execPath, ['scripts/generate-go.js', '--check'], { cwd: root, encoding: 'utf8' })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
  })
})
