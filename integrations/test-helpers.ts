// What the integrations' tests share: the vitest settings of a suite run by Medusa's test runner,
// a read of the hub, and a wait for what a subscriber does after the request that caused it.

/** The `test` settings of an integration's vitest config. */
export const integrationTestSettings = {
  include: ['test/**/*.test.ts'],
  globals: true, // Medusa's test runner declares its suite with the global describe/beforeAll/it
  pool: 'forks' as const,
  globalSetup: ['../hub-setup.ts'],
  // Medusa's test runner makes a database for the run on this server (trust or DB_PASSWORD)
  env: { DB_HOST: process.env.DB_HOST ?? 'localhost', DB_USERNAME: process.env.DB_USERNAME ?? 'postgres', MEDUSA_DISABLE_TELEMETRY: 'true' },
  testTimeout: 60_000,
  hookTimeout: 180_000,
}

/** A read of the hub with its admin token (the platforms' tokens may not read everything); answers the parsed body. */
export function hubReader(hub: { url: string; token: string }) {
  return async (path: string): Promise<any> => {
    const res = await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${hub.token}` } })
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`)
    return res.json()
  }
}

/** Waits until `read()` answers something `done` accepts (subscribers run after the request or workflow that caused them). */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; last ${JSON.stringify(value)}`)
    await new Promise((r) => setTimeout(r, 50)) // the interval between two reads, not a wait for the effect
  }
}
