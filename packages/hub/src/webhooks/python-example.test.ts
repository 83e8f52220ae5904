import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { newWebhookSecret, sign } from './signature.js'

const docPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'docs', 'events.md')
const marker = '<!-- example: verify-webhook-python -->'

/** The Python block of docs/events.md that follows the marker, exactly as it is written there. */
function pythonExample(): string {
  const doc = readFileSync(docPath, 'utf8')
  const at = doc.indexOf(marker)
  expect(at, `docs/events.md has ${marker}`).toBeGreaterThan(-1)
  const block = /^\s*```python\n([\s\S]*?)\n```/.exec(doc.slice(at + marker.length))
  expect(block, 'a ```python block follows the marker').not.toBeNull()
  return block![1]!
}

type Case = { secret: string; headers: Record<string, string>; body: string }
type Outcome = { ok: true; event: unknown } | { ok: false; error: string; kind: string }

/** Runs the documented verify_webhook on each case in one python3 process; bodies travel as base64 so their bytes stay exact. */
function runPython(cases: Case[]): Outcome[] {
  const harness = `${pythonExample()}


import base64 as _b64, json as _json, sys as _sys
_out = []
for _case in _json.load(_sys.stdin):
    try:
        _event = verify_webhook(_case["secret"], _case["headers"], _b64.b64decode(_case["body"]))
        _out.append({"ok": True, "event": _event})
    except Exception as _err:
        _out.append({"ok": False, "error": str(_err), "kind": type(_err).__name__})
print(_json.dumps(_out))
`
  const input = JSON.stringify(cases.map((c) => ({ ...c, body: Buffer.from(c.body, 'utf8').toString('base64') })))
  const run = spawnSync('python3', ['-c', harness], { input, encoding: 'utf8' })
  expect(run.error, 'python3 runs').toBeUndefined()
  expect(run.stderr).toBe('')
  expect(run.status).toBe(0)
  return JSON.parse(run.stdout) as Outcome[]
}

/** A message as the hub sends it: the event as its body, signed by the hub's signing function. */
function message(secrets: string[], options: { id?: string; timestamp?: number } = {}): { headers: Record<string, string>; body: string } {
  const id = options.id ?? 'evt_01JPYTHONEXAMPLE'
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000)
  const body = JSON.stringify({
    id,
    sequence: '42',
    type: 'customer.updated',
    customerId: 'cus_01JPYTHONEXAMPLE',
    // non-ASCII text: the signature covers the body's UTF-8 bytes
    payload: { customer: { id: 'cus_01JPYTHONEXAMPLE', firstName: 'Zoë', lastName: 'Ångström' }, changed: ['firstName'] },
    createdAt: new Date(timestamp * 1000).toISOString(),
  })
  return { headers: { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': sign(secrets, id, timestamp, body) }, body }
}

describe("docs/events.md's Python example verifies the hub's signatures", () => {
  test('a message signed by the hub is accepted and its event answered', () => {
    const secret = newWebhookSecret()
    const signed = message([secret])
    const [outcome] = runPython([{ secret, ...signed }])
    expect(outcome).toEqual({ ok: true, event: JSON.parse(signed.body) })
  })

  test('while a rotated secret is valid, either secret verifies the two-entry header; another does not', () => {
    const current = newWebhookSecret()
    const previous = newWebhookSecret()
    const signed = message([current, previous])
    expect(signed.headers['webhook-signature']!.split(' ')).toHaveLength(2)
    const outcomes = runPython([
      { secret: current, ...signed },
      { secret: previous, ...signed },
      { secret: newWebhookSecret(), ...signed },
    ])
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, false])
  })

  test('a changed body, id or timestamp, a wrong secret or an old message is refused with ValueError', () => {
    const secret = newWebhookSecret()
    const signed = message([secret])
    const now = Math.floor(Date.now() / 1000)
    const old = message([secret], { timestamp: now - 301 })
    const outcomes = runPython([
      { secret, headers: signed.headers, body: signed.body.replace('Zoë', 'Zoe') },
      { secret, headers: { ...signed.headers, 'webhook-id': 'evt_01JOTHER' }, body: signed.body },
      { secret, headers: { ...signed.headers, 'webhook-timestamp': String(Number(signed.headers['webhook-timestamp']) + 1) }, body: signed.body },
      { secret: newWebhookSecret(), ...signed },
      { secret, ...old },
      { secret, headers: { ...signed.headers, 'webhook-timestamp': 'soon' }, body: signed.body },
      { secret, headers: { 'webhook-id': signed.headers['webhook-id']!, 'webhook-timestamp': signed.headers['webhook-timestamp']! }, body: signed.body },
      { secret, headers: { ...signed.headers, 'webhook-signature': signed.headers['webhook-signature']!.replace('v1,', 'v2,') }, body: signed.body },
    ])
    for (const [i, outcome] of outcomes.entries()) {
      expect(outcome, `case ${i}`).toMatchObject({ ok: false, kind: 'ValueError' })
    }
  })

  test('the signature the specification gives as its example verifies (same secret, id, timestamp and body)', () => {
    // the Standard Webhooks example, with the tolerance widened since its timestamp is from 2021
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
    const header = sign([secret], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')
    expect(header).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
    const code = `${pythonExample()}

print(verify_webhook(${JSON.stringify(secret)}, {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330", "webhook-signature": ${JSON.stringify(header)}}, b'{"test": 2432232314}', tolerance=10**10))
`
    const run = spawnSync('python3', ['-c', code], { encoding: 'utf8' })
    expect(run.stderr).toBe('')
    expect(run.stdout.trim()).toBe("{'test': 2432232314}")
  })
})
