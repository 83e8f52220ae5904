import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { newWebhookSecret, sign } from './signature.js'

const docPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'docs', 'events.md')
const marker = '<!-- example: verify-webhook-go -->'

/** The Go block of docs/events.md that follows the marker, exactly as it is written there. */
function goExample(): string {
  const doc = readFileSync(docPath, 'utf8')
  const at = doc.indexOf(marker)
  expect(at, `docs/events.md has ${marker}`).toBeGreaterThan(-1)
  const block = /^\s*```go\n([\s\S]*?)\n```/.exec(doc.slice(at + marker.length))
  expect(block, 'a ```go block follows the marker').not.toBeNull()
  return block![1]!
}

// A program around the documented package: it reads cases from stdin (bodies as base64, so their
// bytes stay exact) and prints each outcome.
const harness = `package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"time"

	"example.com/check/hubwebhook"
)

type verifyCase struct {
	Secret  string            \`json:"secret"\`
	Headers map[string]string \`json:"headers"\`
	Body    string            \`json:"body"\`
}

func main() {
	var cases []verifyCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := []map[string]any{}
	for _, c := range cases {
		headers := http.Header{}
		for k, v := range c.Headers {
			headers.Set(k, v)
		}
		body, _ := base64.StdEncoding.DecodeString(c.Body)
		event, err := hubwebhook.Verify(c.Secret, headers, body, 5*time.Minute)
		if err != nil {
			out = append(out, map[string]any{"ok": false, "error": err.Error()})
		} else {
			out = append(out, map[string]any{"ok": true, "event": event})
		}
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
`

type Case = { secret: string; headers: Record<string, string>; body: string }
type Outcome = { ok: true; event: unknown } | { ok: false; error: string }

let dir: string
let binary: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hub-go-example-'))
  mkdirSync(join(dir, 'hubwebhook'))
  writeFileSync(join(dir, 'go.mod'), 'module example.com/check\n\ngo 1.19\n')
  writeFileSync(join(dir, 'hubwebhook', 'verify.go'), goExample())
  writeFileSync(join(dir, 'main.go'), harness)
  binary = join(dir, 'check')
  const env = { ...process.env, GOCACHE: join(dir, '.cache'), GOPATH: join(dir, '.gopath'), GOFLAGS: '-mod=mod', GO111MODULE: 'on' }
  const build = spawnSync('go', ['build', '-o', binary, '.'], { cwd: dir, env, encoding: 'utf8' })
  expect(build.error, 'go runs (Go 1.19 or later is needed for these tests)').toBeUndefined()
  expect(build.stderr).toBe('')
  expect(build.status).toBe(0)
}, 120_000)
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function runGo(cases: Case[]): Outcome[] {
  const input = JSON.stringify(cases.map((c) => ({ ...c, body: Buffer.from(c.body, 'utf8').toString('base64') })))
  const run = spawnSync(binary, [], { input, encoding: 'utf8' })
  expect(run.stderr).toBe('')
  expect(run.status).toBe(0)
  return JSON.parse(run.stdout) as Outcome[]
}

/** A message as the hub sends it: the event as its body, signed by the hub's signing function. */
function message(secrets: string[], options: { timestamp?: number } = {}): { headers: Record<string, string>; body: string } {
  const id = 'evt_01JGOEXAMPLE00000000000000'
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000)
  const body = JSON.stringify({
    id,
    sequence: '42',
    type: 'customer.updated',
    customerId: 'cus_01JGOEXAMPLE00000000000000',
    // non-ASCII text: the signature covers the body's UTF-8 bytes
    payload: { customer: { id: 'cus_01JGOEXAMPLE00000000000000', firstName: 'Zoë', lastName: 'Ångström' }, changed: ['firstName'] },
    createdAt: new Date(timestamp * 1000).toISOString(),
  })
  return { headers: { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': sign(secrets, id, timestamp, body) }, body }
}

describe("docs/events.md's Go example verifies the hub's signatures", () => {
  test('a message signed by the hub is accepted and its event returned; while a rotated secret is valid, either verifies', () => {
    const current = newWebhookSecret()
    const previous = newWebhookSecret()
    const one = message([current])
    const two = message([current, previous])
    const outcomes = runGo([
      { secret: current, ...one },
      { secret: current, ...two },
      { secret: previous, ...two },
    ])
    expect(outcomes).toEqual([
      { ok: true, event: JSON.parse(one.body) },
      { ok: true, event: JSON.parse(two.body) },
      { ok: true, event: JSON.parse(two.body) },
    ])
  })

  test('another secret, a changed body or id, an old timestamp and a missing header are refused', () => {
    const secret = newWebhookSecret()
    const signed = message([secret])
    const outcomes = runGo([
      { secret: newWebhookSecret(), ...signed },
      { secret, headers: signed.headers, body: signed.body.replace('Zoë', 'Zoe') },
      { secret, headers: { ...signed.headers, 'webhook-id': 'evt_01JGOEXAMPLE00000000000001' }, body: signed.body },
      { secret, ...message([secret], { timestamp: Math.floor(Date.now() / 1000) - 3600 }) },
      { secret, headers: { 'webhook-id': signed.headers['webhook-id']!, 'webhook-timestamp': signed.headers['webhook-timestamp']! }, body: signed.body },
    ])
    expect(outcomes.map((o) => (o.ok ? 'accepted' : o.error))).toEqual([
      'no webhook-signature entry matches',
      'no webhook-signature entry matches',
      'no webhook-signature entry matches',
      'webhook-timestamp is malformed or too far from now',
      'a webhook header is missing',
    ])
  })
})
