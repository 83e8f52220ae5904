// A second store for the plugin's tests: a Medusa application of its own (its own database, its
// own HTTP port) with the plugin configured as a second store configures it, started in this
// process by Medusa's test runner as the test's own store is. Run with `fork`: it sends
// { url, publishableKey } when the store answers, and stops — its database dropped — when the
// parent disconnects.
const { resolve } = require('node:path')
const { medusaIntegrationTestRunner } = require('@medusajs/test-utils')
const { createApiKeysWorkflow } = require('@medusajs/core-flows')

// the runner declares its set-up and tear-down with a test framework's hooks: here they are run in turn
const hooks = { beforeAll: [], beforeEach: [], afterEach: [], afterAll: [] }
Object.assign(globalThis, {
  describe: (_name, body) => body(),
  it: () => {},
  beforeAll: (f) => hooks.beforeAll.push(f),
  beforeEach: (f) => hooks.beforeEach.push(f),
  afterEach: (f) => hooks.afterEach.push(f),
  afterAll: (f) => hooks.afterAll.push(f),
})

let store
medusaIntegrationTestRunner({ cwd: resolve(__dirname, 'second-app'), testSuite: (options) => void (store = options) })

async function main() {
  for (const f of hooks.beforeAll) await f()
  const { result } = await createApiKeysWorkflow(store.getContainer()).run({ input: { api_keys: [{ title: 'second store', type: 'publishable', created_by: 'test' }] } })
  process.send({ url: store.api.defaults.baseURL, publishableKey: result[0].token })
  await new Promise((done) => process.once('disconnect', done))
  for (const f of hooks.afterAll) await f()
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
