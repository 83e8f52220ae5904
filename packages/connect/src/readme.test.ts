import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCustomerSyncClient, type SyncLogger } from '@his-her/connect'
import { createCommerceClient } from '@his-her/connect'
import { isHubApiError } from '@his-her/connect'
import { createHisHerCustomerConfigFromEnv, createServiceJwtAuth, serviceAccountEmail } from '@his-her/connect'
import { createHisHerConnectClient } from '@his-her/connect'
import { deriveServiceAccountPassword, type HisHerConnectClient } from './index.js'
import { createCommerceClient as adminCommerce, type Customer, type CustomerSyncClient, type CustomerSyncConfig, type Identity, type RewardAccount, type ServiceAccount, type Session } from './index.js'
import { startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { verifyWebhook, WebhookVerificationError } from '@his-her/connect'
import { Webhook as ReferenceWebhook } from 'standardwebhooks'

// Every ```ts block of the README is copied below verbatim, inside a function. What differs is
// only what the functions get: the hub's address and token (through CDP_HOST, CDP_API_TOKEN and
// HUB_TOKEN, or a createCustomerSyncClient that puts them in), and a console that records.

const readmePath = new URL('../README.md', import.meta.url)
const envNames = [
  'CDP_HOST',
  'CDP_API_TOKEN',
  'HUB_TOKEN',
  'HIS_HER_CUSTOMER_STRAPI_URL',
  'HIS_HER_CUSTOMER_STRAPI_API_TOKEN',
  'HIS_HER_CUSTOMER_AUTH_MODE',
  'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD',
  'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN',
  'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID',
  'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID',
  'HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE',
  'LOYALTY_CHANNEL_HANDLE',
  'CDP_SERVICE_ACCOUNT_ROLE_ID',
  'CDP_SERVICE_ACCOUNT_EMAIL_DOMAIN',
  'CDP_MAIN_ORGANIZATION',
  'HUB_WEBHOOK_SECRET',
]
const savedEnv = Object.fromEntries(envNames.map((k) => [k, process.env[k]]))

function restoreEnv() {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
}

/** A console whose `log` keeps what the block prints. */
function recordingConsole() {
  const printed: unknown[][] = []
  return { printed, log: (...args: unknown[]) => void printed.push(args) }
}

/** A logger in the shape of a typical application logger, keeping every line. */
function appLogger() {
  const lines: { level: 'info' | 'warn' | 'error'; msg: string; err?: unknown }[] = []
  return {
    lines,
    info: (msg: string) => void lines.push({ level: 'info', msg }),
    warn: (msg: string) => void lines.push({ level: 'warn', msg }),
    error: (msg: string, err?: unknown) => void lines.push({ level: 'error', msg, err }),
  }
}

/** The README's quick start. */
async function quickStart(console: { log: (...args: unknown[]) => void }) {
  const sync = createCustomerSyncClient({
    cdpHost: process.env.CDP_HOST || 'http://localhost:1337',
    cdpApiToken: process.env.CDP_API_TOKEN,
    platformIdentity: {
      component: 'identity.his-and-her-store',
      externalIdField: 'medusaCustomerId',
    },
    rewardLedger: 'reward-points',
  })

  // One-call sync (find-or-create + reward account)
  const result = await sync.syncCustomer({
    externalId: 'cus_abc123',
    email: 'jane@example.com',
    phone: '+66812345678',
    firstName: 'Jane',
    lastName: 'Doe',
  })

  console.log(result.documentId) // hub customer id (cus_…)
  console.log(result.created) // true if new contact
  console.log(result.rewardAccountCreated) // true if reward account was created
  return { sync, result }
}

/** The README's "Using from another platform"; `createCustomerSyncClient` puts in the test hub's address and token. */
function anotherPlatform(createCustomerSyncClient: (config: CustomerSyncConfig) => CustomerSyncClient) {
  const sync = createCustomerSyncClient({
    cdpHost: 'https://cdp.example.com',
    cdpApiToken: 'token',
    platformIdentity: {
      component: 'identity.shopify-store',
      externalIdField: 'shopifyCustomerId',
    },
    rewardLedger: 'reward-points',
  })
  return sync
}

/** The README's local phone numbers of a Thai store; `createCustomerSyncClient` puts in the test hub's address and token. */
async function thaiPhones(createCustomerSyncClient: (config: CustomerSyncConfig) => CustomerSyncClient) {
  const thaiStore = createCustomerSyncClient({
    cdpHost: process.env.CDP_HOST || 'http://localhost:1337',
    cdpApiToken: process.env.CDP_API_TOKEN,
    platformIdentity: { component: 'identity.thai-store', externalIdField: 'storeCustomerId', defaultCountry: 'TH' },
  })
  const { contact } = await thaiStore.syncCustomer({ externalId: 'th_1001', phone: '081-234-5678' })
  console.log(contact.phone) // +66812345678
  return contact
}

/** The README's "Lower-level API". */
async function lowerLevel(sync: CustomerSyncClient) {
  // Find only
  const found = await sync.findContact('cus_abc123', 'jane@example.com')

  // Create
  const { contact, documentId } = await sync.createContact({
    firstName: 'Jane',
    identities: sync.buildIdentities({ externalId: 'cus_abc123', email: 'jane@example.com' }),
  })

  // Update
  await sync.updateContact(documentId, { lastName: 'Smith' })

  // Reward account
  await sync.ensureRewardAccount(documentId)

  // Raw hub client
  const strapi = sync.getStrapiClient()
  return { found, contact, documentId, strapi }
}

/** The README's "Custom logger", with the application's `myLogger` and `config` around it. */
function customLogger(myLogger: ReturnType<typeof appLogger>, config: CustomerSyncConfig) {
  const logger: SyncLogger = {
    info: (msg) => myLogger.info(msg),
    warn: (msg) => myLogger.warn(msg),
    error: (msg, err) => myLogger.error(msg, err),
  }

  const sync = createCustomerSyncClient(config, logger)
  return sync
}

/** The README's commerce SDK example. */
async function commerceStart() {
  const commerce = createCommerceClient({ baseUrl: process.env.CDP_HOST || 'http://localhost:1337', token: process.env.HUB_TOKEN })

  const customer = await commerce.customers.create({
    email: 'jane@example.com',
    firstName: 'Jane',
    lastName: 'Doe',
    password: 'securePassword123',
  })

  await commerce.customers.addAddress(customer.id, {
    label: 'Office', line1: '456 Market St', city: 'San Francisco', state: 'CA', postalCode: '94105', country: 'US',
  })
  await commerce.customers.addToGroup(customer.id, 'vip')
  return { commerce, customer }
}

/** The README's setToken example. */
function setTokenExample(commerce: ReturnType<typeof createCommerceClient>) {
  commerce.setToken(process.env.HUB_TOKEN)
}

/** The README's error example. */
async function errorExample(commerce: ReturnType<typeof createCommerceClient>, console: { log: (...args: unknown[]) => void }) {
  try {
    await commerce.customers.create({ email: 'jane@example.com', password: 'securePassword123' })
  } catch (err) {
    if (isHubApiError(err, 'EMAIL_TAKEN')) {
      console.log('already registered', err.status, err.requestId)
    } else throw err
  }
}

/** The README's webhook receiver; the test listens with it. */
function webhookReceiver(console: { log: (...args: unknown[]) => void }) {
  const receiver = createServer(async (request, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    try {
      // the body exactly as received: parse it only once it is verified
      const event = await verifyWebhook(process.env.HUB_WEBHOOK_SECRET!, request.headers, Buffer.concat(chunks))
      console.log('received', event.type, event.id)
      response.writeHead(204).end()
    } catch (err) {
      if (!(err instanceof WebhookVerificationError)) throw err
      response.writeHead(400).end(err.code)
    }
  })
  return receiver
}

/** The README's listAll example. */
async function listAllExample(commerce: ReturnType<typeof createCommerceClient>, console: { log: (...args: unknown[]) => void }) {
  for await (const vip of commerce.customers.listAll({ group: 'vip', minOrders: 5, sort: 'totalSpent:desc' })) {
    console.log(vip.email, vip.totalSpent)
  }
}

/** The README's storefront login, with the storefront's `commerce` client. */
async function storefrontLogin(commerce: ReturnType<typeof createCommerceClient>) {
  // Storefront login
  const session = await commerce.auth.login({
    email: 'jane@example.com',
    password: 'securePassword123',
  })
  // Use the session token for subsequent requests
  commerce.setToken(session.accessToken)
  return session
}

/** The README's calls of a logged-in customer. */
async function loggedInExample(commerce: ReturnType<typeof createCommerceClient>, session: Session) {
  const me = await commerce.customers.me()
  await commerce.customers.updateMe({ firstName: 'Janet' })
  // a new phone needs the password, and waits for the token sent to it (me.pending.phone until then)
  await commerce.customers.updateMe({ phone: '+14155551234', currentPassword: 'securePassword123' })

  // a new session before the access token expires; the old refresh token is used up
  const next = await commerce.auth.refresh(session.refreshToken)
  commerce.setToken(next.accessToken)

  // the refresh token no longer works; the access token until it expires
  await commerce.auth.logout(next.refreshToken)
  commerce.setToken(undefined)
  return { me, next }
}

/** The README's seller sync environment example. */
async function sellerExample(console: { log: (...args: unknown[]) => void }) {
  const config = createHisHerCustomerConfigFromEnv()
  const seller = createCommerceClient({
    baseUrl: config.baseUrl,
    auth: createServiceJwtAuth({
      baseUrl: config.baseUrl,
      email: serviceAccountEmail('brand_handle', config.serviceAccount.emailDomain),
      password: config.serviceAccount.password!,
    }),
  })

  console.log(await seller.auth.session()) // { kind: 'service', role: 'service', serviceAccountId: 'svc_…', … }
  return seller
}

/** The README's loyalty points example, with the `commerce` client and a customer. */
async function loyaltyExample(commerce: ReturnType<typeof createCommerceClient>, customer: Customer, console: { log: (...args: unknown[]) => void }) {
  // 500 points for an order; its key makes a repeat of this call harmless
  const { balances } = await commerce.loyalty.earn({ customerId: customer.id, amount: 500, reference: 'order-1001', idempotencyKey: 'order-1001-earn' })
  const accountId = balances.find((b) => b.customerId === customer.id)!.accountId

  // checkout: reserve 300 points, then spend 250 of them (the rest is released)
  const { hold } = await commerce.loyalty.hold({ customerId: customer.id, amount: 300, ttlSeconds: 900, reference: 'checkout-77' })
  await commerce.loyalty.capture(hold.id, { amount: 250 })
  console.log((await commerce.loyalty.balance(accountId)).balance) // 250

  try {
    await commerce.loyalty.spend({ customerId: customer.id, amount: 1000 })
  } catch (err) {
    if (isHubApiError(err, 'INSUFFICIENT_POINTS')) console.log('not enough points')
    else throw err
  }
  return { accountId, hold }
}

/** The README's Mercur seller onboarding sync. */
async function sellerOnboarding(console: { log: (...args: unknown[]) => void }) {
  const hisHer = createHisHerConnectClient(createHisHerCustomerConfigFromEnv())

  const result = await hisHer.features.mercurSeller.syncOnboarding({
    seller: {
      id: 'sel_123',
      handle: 'brand_handle',
      name: 'Brand Name',
      email: 'brand@example.com',
      phone: '+66123456789',
      description: 'Marketplace seller',
    },
    ownerMember: {
      id: 'mem_123',
      email: 'owner@example.com',
    },
  })

  console.log(result.metadata) // safe to store in Mercur seller metadata
  return { hisHer, result }
}

/** The README's gift-card coupon sync, with the client of the onboarding and a platform's gift card. */
async function giftCardSync(hisHer: HisHerConnectClient, giftCard: { code: string; expires_at?: Date | null }) {
  await hisHer.loyaltyCoupons.syncGiftCardCoupon({
    code: giftCard.code,
    channelHandle: process.env.LOYALTY_CHANNEL_HANDLE,
    expiresAt: giftCard.expires_at ?? null,
  })
}

/** The README's per-seller form. */
async function perSeller(hisHer: HisHerConnectClient) {
  const seller = hisHer.forSeller('brand_handle')
  await seller.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-1234-ABCD', balance: 5000, currency: 'USD', expiresAt: null })
  return seller
}

/** The README's environment block of the seller sync (```sh, `NAME=value` lines), as written. */
function readmeEnvironment(): [string, string][] {
  const readme = readFileSync(readmePath, 'utf8')
  const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith('HIS_HER_CUSTOMER_STRAPI_URL='))
  if (!block) throw new Error('the README has no environment block of the seller sync')
  return block
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const at = line.indexOf('=')
      return [line.slice(0, at), line.slice(at + 1)]
    })
}

/** The names this file imports from `from`, e.g. `type SyncLogger`. */
function imported(source: string, from: string): string[] {
  return [...source.matchAll(/^import\s*\{([^}]*)\}\s*from\s+'([^']+)'$/gm)]
    .filter((m) => m[2] === from)
    .flatMap((m) => m[1]!.split(',').map((n) => n.trim()))
}

/** Each line trimmed, blank lines and `import` statements left out. */
function normalize(code: string): string {
  return code
    .replace(/^import\s[^;]*?from\s+'[^']+'\s*$/gm, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join('\n')
}

describe('the README', () => {
  it('has every TypeScript block copied in this file verbatim, its imports at the top', () => {
    const readme = readFileSync(readmePath, 'utf8')
    const self = readFileSync(new URL(import.meta.url), 'utf8')
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    expect(blocks.length).toBe(17)
    const body = normalize(self)
    for (const block of blocks) {
      expect(body, `README block not copied here:\n${block}`).toContain(normalize(block))
      for (const [, names, from] of block.matchAll(/^import\s*\{([^}]*)\}\s*from\s+'([^']+)'$/gm)) {
        for (const name of names!.split(',').map((n) => n.trim()).filter(Boolean)) expect(imported(self, from!), `${name} from ${from}`).toContain(name)
      }
    }
  })

  it('says nothing of parts still to come', () => {
    const readme = readFileSync(readmePath, 'utf8')
    expect(readme).not.toMatch(/not (part of|in) this version|arrives (in a later|with)/i)
  })
})

describe('README customer sync against a listening hub', () => {
  let hub: ListeningHub
  let token: string
  const admin = () => adminCommerce({ baseUrl: hub.baseUrl, token: hub.adminToken })
  const identities = async (id: string) => (await hubGet<{ data: Identity[] }>(`/customer/${id}/identities`)).data
  const rewardAccounts = async (id: string) => (await hubGet<{ data: RewardAccount[] }>(`/customer/${id}/reward-accounts`)).data
  async function hubGet<T>(path: string): Promise<T> {
    const res = await fetch(hub.baseUrl + path, { headers: { authorization: `Bearer ${hub.adminToken}` } })
    expect(res.status).toBe(200)
    return (await res.json()) as T
  }

  beforeAll(async () => {
    hub = await startListeningHub()
    token = await hub.platformToken()
    process.env.CDP_HOST = hub.baseUrl
    process.env.CDP_API_TOKEN = token
  })
  afterAll(async () => {
    restoreEnv()
    await hub?.close()
  })

  let janeId: string

  it('quick start: creates Jane with her identities and reward account, and prints it', async () => {
    const out = recordingConsole()
    const { result } = await quickStart(out)
    janeId = result.documentId
    expect(out.printed).toEqual([[janeId], [true], [true]])
    expect(janeId).toMatch(/^cus_/)
    expect(result).toMatchObject({ matchedBy: null, conflicts: [] })
    expect(result.contact).toMatchObject({ id: janeId, email: 'jane@example.com', phone: '+66812345678', firstName: 'Jane', lastName: 'Doe' })

    const ids = await identities(janeId)
    expect(ids.map((i) => [i.kind, i.namespace, i.value, i.externalIdField]).sort()).toEqual(
      [
        ['email', '', 'jane@example.com', null],
        ['phone', '', '+66812345678', null],
        ['platform', 'identity.his-and-her-store', 'cus_abc123', 'medusaCustomerId'],
      ].sort(),
    )
    expect((await rewardAccounts(janeId)).map((a) => a.ledger)).toEqual(['reward-points'])
  })

  it('quick start again: finds Jane by her store id, creates nothing', async () => {
    const out = recordingConsole()
    const { result } = await quickStart(out)
    expect(out.printed).toEqual([[janeId], [false], [false]])
    expect(result.matchedBy).toBe('platform')
    expect(result.linked).toEqual([])
    expect((await admin().customers.list({ email: 'jane@example.com' })).data.map((c) => c.id)).toEqual([janeId])
    expect(await rewardAccounts(janeId)).toHaveLength(1)
  })

  it('another platform: its sync of the same email lands on the same customer', async () => {
    const seen: CustomerSyncConfig[] = []
    const sync = anotherPlatform((config) => {
      seen.push(config)
      return createCustomerSyncClient({ ...config, cdpHost: hub.baseUrl, cdpApiToken: token })
    })
    expect(seen[0]).toMatchObject({ cdpHost: 'https://cdp.example.com', platformIdentity: { component: 'identity.shopify-store', externalIdField: 'shopifyCustomerId' } })

    const byEmail = await sync.syncCustomer({ externalId: '7001', email: 'Jane@Example.com', firstName: 'Jane' })
    expect(byEmail).toMatchObject({ documentId: janeId, created: false, matchedBy: 'email', rewardAccountCreated: false, conflicts: [] })
    expect(byEmail.linked).toEqual([expect.objectContaining({ kind: 'platform', namespace: 'identity.shopify-store', value: '7001', externalIdField: 'shopifyCustomerId' })])

    const byShopifyId = await sync.syncCustomer({ externalId: '7001' })
    expect(byShopifyId).toMatchObject({ documentId: janeId, matchedBy: 'platform', created: false })
    expect((await sync.findContact('7001'))?.id).toBe(janeId)
    expect(await sync.buildIdentities({ externalId: '7001' })).toEqual([{ component: 'identity.shopify-store', shopifyCustomerId: '7001' }])
    expect((await identities(janeId)).filter((i) => i.kind === 'platform').map((i) => i.namespace).sort()).toEqual(['identity.his-and-her-store', 'identity.shopify-store'])
  })

  it('a Thai store names its country: its local phone numbers are read as Thai', async () => {
    const contact = await thaiPhones((config) => createCustomerSyncClient({ ...config, cdpHost: hub.baseUrl, cdpApiToken: token }))
    expect(contact.phone).toBe('+66812345678')
  })

  it('custom logger: the application logger gets one info line per sync and a warn per conflict, never the token', async () => {
    const myLogger = appLogger()
    const config = {
      cdpHost: hub.baseUrl,
      cdpApiToken: token,
      platformIdentity: { component: 'identity.his-and-her-store', externalIdField: 'medusaCustomerId' },
      rewardLedger: 'reward-points',
    }
    const sync = customLogger(myLogger, config)

    const bob = await sync.syncCustomer({ externalId: 'cus_bob', email: 'bob@example.com' })
    expect(myLogger.lines).toEqual([{ level: 'info', msg: expect.stringMatching(new RegExp(`^created customer ${bob.documentId}\\b`)) }])

    // Jane's store id with Bob's email: Jane is found, Bob's email stays Bob's
    const mixed = await sync.syncCustomer({ externalId: 'cus_abc123', email: 'bob@example.com' })
    expect(mixed).toMatchObject({ documentId: janeId, matchedBy: 'platform', conflicts: [{ kind: 'email', value: 'bob@example.com', customerId: bob.documentId, reason: 'different_email' }] })
    expect(myLogger.lines.slice(1)).toEqual([
      { level: 'info', msg: expect.stringMatching(new RegExp(`^matched customer ${janeId} by platform\\b`)) },
      { level: 'warn', msg: expect.stringContaining(`held by customer ${bob.documentId}`) },
    ])
    for (const line of myLogger.lines) {
      expect(line.msg).not.toContain(token)
      expect(line.msg).not.toContain('bob@example.com')
    }
  })
})

describe('README lower-level API against a listening hub', () => {
  let hub: ListeningHub

  beforeAll(async () => {
    hub = await startListeningHub()
  })
  afterAll(async () => {
    await hub?.close()
  })

  it('finds nobody, creates Jane with her store id, updates her, opens her reward account', async () => {
    const sync = createCustomerSyncClient({
      cdpHost: hub.baseUrl,
      cdpApiToken: await hub.platformToken(),
      platformIdentity: { component: 'identity.his-and-her-store', externalIdField: 'medusaCustomerId' },
      rewardLedger: 'reward-points',
    })
    const { found, contact, documentId, strapi } = await lowerLevel(sync)

    expect(found).toBeNull()
    expect(contact).toMatchObject({ id: documentId, email: 'jane@example.com', firstName: 'Jane', lastName: null, hasAccount: false })
    expect(strapi).toBe(sync.getStrapiClient())
    expect(strapi.baseUrl).toBe(hub.baseUrl)

    // the raw client carries the token
    const now = await strapi.get<{ lastName: string | null }>(`/customer/${documentId}`)
    expect(now.lastName).toBe('Smith')
    const { data: ids } = await strapi.get<{ data: Identity[] }>(`/customer/${documentId}/identities`)
    expect(ids.map((i) => [i.kind, i.namespace, i.value, i.externalIdField]).sort()).toEqual(
      [
        ['email', '', 'jane@example.com', null],
        ['platform', 'identity.his-and-her-store', 'cus_abc123', 'medusaCustomerId'],
      ].sort(),
    )
    const { data: accounts } = await strapi.get<{ data: RewardAccount[] }>(`/customer/${documentId}/reward-accounts`)
    expect(accounts.map((a) => a.ledger)).toEqual(['reward-points'])
    expect(await sync.ensureRewardAccount(documentId)).toMatchObject({ created: false, account: { id: accounts[0]!.id } })

    expect((await sync.findContact('cus_abc123', undefined))?.id).toBe(documentId)
    expect((await sync.findContact(undefined, 'JANE@example.com'))?.id).toBe(documentId)

    // the same block again: the store id is Jane's already, so nothing is created
    const again = await lowerLevel(sync).then(
      () => {
        throw new Error('expected createContact to fail')
      },
      (err: unknown) => err,
    )
    expect(isHubApiError(again, 'IDENTITY_TAKEN')).toBe(true)
    expect(again).toMatchObject({ status: 409, details: { customerId: documentId } })
    expect((await adminCommerce({ baseUrl: hub.baseUrl, token: hub.adminToken }).customers.list()).data.map((c) => c.id)).toEqual([documentId])
  })
})

describe('README commerce SDK against a listening hub', () => {
  let hub: ListeningHub

  beforeAll(async () => {
    hub = await startListeningHub()
    process.env.CDP_HOST = hub.baseUrl
    process.env.HUB_TOKEN = hub.adminToken
  })
  afterAll(async () => {
    restoreEnv()
    await hub?.close()
  })

  it('registers Jane with an address and the vip group; setToken, errors and listAll as written', async () => {
    const { commerce, customer } = await commerceStart()
    const jane = await commerce.customers.get(customer.id)
    expect(jane).toMatchObject({ email: 'jane@example.com', hasAccount: true, groups: ['vip'] })
    expect(jane.addresses).toEqual([expect.objectContaining({ label: 'Office', postalCode: '94105', isDefault: true })])

    const anonymous = createCommerceClient({ baseUrl: hub.baseUrl })
    const refused = await anonymous.customers.get(customer.id).catch((e: unknown) => e)
    expect(isHubApiError(refused, 'UNAUTHORIZED')).toBe(true)
    setTokenExample(anonymous)
    expect((await anonymous.customers.get(customer.id)).id).toBe(customer.id)

    const out = recordingConsole()
    await errorExample(commerce, out)
    expect(out.printed).toEqual([['already registered', 409, expect.stringMatching(/^req_/)]])

    for (let n = 1; n <= 5; n++) {
      await commerce.orders.record({ platform: 'shop', externalId: `order-${n}`, customerId: customer.id, total: 1000 * n, currency: 'USD', placedAt: new Date().toISOString() })
    }
    const other = await commerce.customers.create({ email: 'few-orders@example.com' })
    await commerce.customers.addToGroup(other.id, 'vip')
    const listed = recordingConsole()
    await listAllExample(commerce, listed)
    expect(listed.printed).toEqual([['jane@example.com', 15000]])
  })
})

describe('README customer login against a listening hub', () => {
  let hub: ListeningHub

  beforeAll(async () => {
    // customers log in without verifying their email first
    hub = await startListeningHub({ requireEmailVerification: false })
  })
  afterAll(async () => {
    await hub?.close()
  })

  it('Jane logs in, reads and changes her record, refreshes and logs out as written', async () => {
    const admin = adminCommerce({ baseUrl: hub.baseUrl, token: hub.adminToken })
    const jane = await admin.customers.create({ email: 'jane@example.com', firstName: 'Jane', lastName: 'Doe', password: 'securePassword123' })
    const commerce = createCommerceClient({ baseUrl: hub.baseUrl })

    const session = await storefrontLogin(commerce)
    expect(session).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 })
    expect(await commerce.auth.session()).toEqual({ kind: 'customer', role: 'customer', customerId: jane.id })

    const { me, next } = await loggedInExample(commerce, session)
    expect(me).toEqual({ ...jane, pending: { email: null, phone: null } })
    // the name changed at once; the phone waits for its token
    expect(await admin.customers.get(jane.id)).toMatchObject({ firstName: 'Janet', lastName: 'Doe', phone: null })
    expect(next.accessToken).not.toBe(session.accessToken)
    // no token any more, and both refresh tokens are spent
    expect(await commerce.customers.me().catch((e: unknown) => e)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    expect(await commerce.auth.refresh(next.refreshToken).catch((e: unknown) => e)).toMatchObject({ status: 401, code: 'INVALID_REFRESH_TOKEN' })
    expect(await commerce.auth.refresh(session.refreshToken).catch((e: unknown) => e)).toMatchObject({ status: 401 })
  })
})

describe('README seller sync environment against a listening hub', () => {
  let hub: ListeningHub

  beforeAll(async () => {
    hub = await startListeningHub()
    process.env.HIS_HER_CUSTOMER_STRAPI_URL = hub.baseUrl
    process.env.HIS_HER_CUSTOMER_STRAPI_API_TOKEN = hub.adminToken
    process.env.HIS_HER_CUSTOMER_AUTH_MODE = 'service-jwt'
    process.env.HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD = 'service-user-password'
    process.env.HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN = 'service.local'
  })
  afterAll(async () => {
    restoreEnv()
    await hub?.close()
  })

  it('the service account made as the curl line shows logs in by itself', async () => {
    // the README's curl line
    const res = await fetch(`${hub.baseUrl}/service-accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${process.env.HIS_HER_CUSTOMER_STRAPI_API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ handle: 'brand_handle', password: 'service-user-password', roleId: '3', organizationId: '12' }),
    })
    expect(res.status).toBe(201)
    const account = (await res.json()) as ServiceAccount
    expect(account.email).toBe('brand_handle@service.local')

    const out = recordingConsole()
    const seller = await sellerExample(out)
    expect(out.printed).toEqual([[{ kind: 'service', role: 'service', serviceAccountId: account.id, providerId: null, organizationId: '12', name: 'brand_handle' }]])
    expect(await seller.customers.me().catch((e: unknown) => e)).toMatchObject({ status: 403, code: 'FORBIDDEN' })
  })
})

describe('README loyalty points against a listening hub', () => {
  let hub: ListeningHub

  beforeAll(async () => {
    hub = await startListeningHub()
  })
  afterAll(async () => {
    await hub?.close()
  })

  it('earns, holds and captures as written; the spend beyond the balance is refused', async () => {
    const commerce = createCommerceClient({ baseUrl: hub.baseUrl, token: hub.adminToken })
    const customer = await commerce.customers.create({ email: 'jane@example.com', firstName: 'Jane' })
    const out = recordingConsole()
    const { accountId, hold } = await loyaltyExample(commerce, customer, out)
    expect(out.printed).toEqual([[250], ['not enough points']])
    expect(await commerce.loyalty.getHold(hold.id)).toMatchObject({ status: 'captured', capturedAmount: 250 })
    const { data } = await commerce.loyalty.entries(accountId)
    expect(data.map((e) => [e.kind, e.amount])).toEqual([
      ['capture', -250],
      ['earn', 500],
    ])
    // the earn again, with its key: answered with the first transaction, nothing posted
    const again = await commerce.loyalty.earn({ customerId: customer.id, amount: 500, reference: 'order-1001', idempotencyKey: 'order-1001-earn' })
    expect(again.transaction.id).toBe(data[1]!.transactionId)
    expect((await commerce.loyalty.balance(accountId)).balance).toBe(250)
  })
})

describe('README seller onboarding and gift-card coupons against a listening hub, with the environment of the document', () => {
  let hub: ListeningHub
  const secret = 'service-user-password'

  beforeAll(async () => {
    hub = await startListeningHub()
    // the README's environment block as written, but for the hub's address and a platform token
    for (const name of envNames) delete process.env[name]
    for (const [name, value] of readmeEnvironment()) process.env[name] = value
    process.env.HIS_HER_CUSTOMER_STRAPI_URL = hub.baseUrl
    process.env.HIS_HER_CUSTOMER_STRAPI_API_TOKEN = await hub.platformToken()
  })
  afterAll(async () => {
    restoreEnv()
    await hub?.close()
  })

  it("the README's environment block is the document's: its nine variables and values", () => {
    expect(readmeEnvironment()).toEqual([
      ['HIS_HER_CUSTOMER_STRAPI_URL', 'http://localhost:1337'],
      ['HIS_HER_CUSTOMER_STRAPI_API_TOKEN', 'your-strapi-token'],
      ['HIS_HER_CUSTOMER_AUTH_MODE', 'service-jwt'],
      ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD', secret],
      ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID', '3'],
      ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN', 'service.local'],
      ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID', '12'],
      ['HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE', 'hisher'],
      ['LOYALTY_CHANNEL_HANDLE', 'multistore'],
    ])
    expect(process.env.HIS_HER_CUSTOMER_AUTH_MODE).toBe('service-jwt')
    expect(process.env.LOYALTY_CHANNEL_HANDLE).toBe('multistore')
  })

  it('onboards the seller once; the metadata it prints holds ids and times, no secret', async () => {
    const out = recordingConsole()
    const { result } = await sellerOnboarding(out)
    expect(result.created).toBe(true)
    expect(out.printed).toEqual([[result.metadata]])
    expect(result.metadata).toMatchObject({ customerHubProviderHandle: 'brand_handle', customerHubServiceAccountEmail: 'brand_handle@service.local', customerHubOrganizationId: '12', customerHubRoleId: '3' })
    const derived = await deriveServiceAccountPassword(secret, 'brand_handle')
    const text = JSON.stringify(result)
    for (const leak of [secret, derived, process.env.HIS_HER_CUSTOMER_STRAPI_API_TOKEN!]) expect(text).not.toContain(leak)
    expect(text).not.toMatch(/argon2|eyJ[A-Za-z0-9_-]+\./)

    const again = await sellerOnboarding(recordingConsole())
    expect(again.result.created).toBe(false)
    expect(again.result.metadata.customerHubProviderId).toBe(result.metadata.customerHubProviderId)
    expect(again.result.metadata.customerHubServiceAccountId).toBe(result.metadata.customerHubServiceAccountId)
  })

  it("syncs the partner's gift card as written; the per-seller form makes the seller's own; neither sees the other's", async () => {
    const { hisHer, result } = await sellerOnboarding(recordingConsole())
    await giftCardSync(hisHer, { code: 'GC-PARTNER-0001', expires_at: null })
    await giftCardSync(hisHer, { code: 'GC-PARTNER-0002', expires_at: new Date('2030-01-01T00:00:00.000Z') })
    const seller = await perSeller(hisHer)

    const providers = (await fetch(`${hub.baseUrl}/loyalty-providers`, { headers: { authorization: `Bearer ${hub.adminToken}` } }).then((r) => r.json())) as { data: { id: string; handle: string; kind: string }[] }
    const partner = providers.data.find((p) => p.handle === 'hisher')!
    expect(partner.kind).toBe('house')

    const all = await createHisHerConnectClient({ ...createHisHerCustomerConfigFromEnv(), apiToken: hub.adminToken }).coupons.list()
    const byLast4 = new Map(all.data.map((c) => [c.codeLast4, c]))
    expect(byLast4.get('0001')).toMatchObject({ providerId: partner.id, channel: 'multistore', expiresAt: null, singleUse: true })
    expect(byLast4.get('0002')).toMatchObject({ providerId: partner.id, expiresAt: '2030-01-01T00:00:00.000Z' })
    expect(byLast4.get('ABCD')).toMatchObject({ providerId: result.provider.id, balance: 5000, currency: 'USD' })

    const mine = await seller.loyaltyCoupons.list()
    expect(mine.data.map((c) => c.codeLast4)).toEqual(['ABCD'])
    const partnerCoupon = byLast4.get('0001')!
    expect(await seller.loyaltyCoupons.get(partnerCoupon.id).catch((e: unknown) => e)).toMatchObject({ status: 404, code: 'COUPON_NOT_FOUND' })
    expect(await hisHer.loyaltyCoupons.get(byLast4.get('ABCD')!.id).catch((e: unknown) => e)).toMatchObject({ status: 404, code: 'COUPON_NOT_FOUND' })

    // the checkout redeems with the API token, once per key
    const redeemed = await hisHer.coupons.redeem({ code: 'GC-1234-ABCD', amount: 1200, orderRef: 'order-9', idempotencyKey: 'order-9-gift' })
    const repeat = await hisHer.coupons.redeem({ code: 'GC-1234-ABCD', amount: 1200, orderRef: 'order-9', idempotencyKey: 'order-9-gift' })
    expect(repeat.redemption.id).toBe(redeemed.redemption.id)
    expect((await seller.loyaltyCoupons.get(redeemed.coupon.id)).balance).toBe(3800)
  })

  it('the gift-card block without LOYALTY_CHANNEL_HANDLE: the channel is left out, not sent as undefined', async () => {
    delete process.env.LOYALTY_CHANNEL_HANDLE
    try {
      const { hisHer } = await sellerOnboarding(recordingConsole())
      await giftCardSync(hisHer, { code: 'GC-NOCHANNEL-0003', expires_at: null })
      const { data } = await hisHer.loyaltyCoupons.list()
      expect(data.find((c) => c.codeLast4 === '0003')).toMatchObject({ channel: null, expiresAt: null })
    } finally {
      process.env.LOYALTY_CHANNEL_HANDLE = 'multistore'
    }
  })

  it('the legacy CDP_* names work; a missing variable is named before any request', async () => {
    const env = {
      CDP_HOST: hub.baseUrl,
      CDP_API_TOKEN: process.env.HIS_HER_CUSTOMER_STRAPI_API_TOKEN,
      CDP_SERVICE_ACCOUNT_ROLE_ID: '3',
      CDP_SERVICE_ACCOUNT_EMAIL_DOMAIN: 'service.local',
      CDP_MAIN_ORGANIZATION: '12',
      HIS_HER_CUSTOMER_AUTH_MODE: 'service-jwt',
      HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: secret,
    }
    const legacy = createHisHerConnectClient(createHisHerCustomerConfigFromEnv(env))
    const made = await legacy.features.mercurSeller.syncOnboarding({ seller: { id: 'sel_legacy', handle: 'legacy_brand', name: 'Legacy' }, ownerMember: { id: 'mem_legacy' } })
    expect(made.serviceAccount).toMatchObject({ roleId: '3', organizationId: '12', email: 'legacy_brand@service.local' })
    await legacy.forSeller('legacy_brand').loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-LEGACY-0001' })

    const { CDP_MAIN_ORGANIZATION: _org, ...noOrganization } = env
    const missing = createHisHerConnectClient(createHisHerCustomerConfigFromEnv(noOrganization))
    await expect(missing.features.mercurSeller.syncOnboarding({ seller: { id: 'sel_x', handle: 'x_brand', name: 'X' }, ownerMember: { id: 'm' } })).rejects.toThrow(/HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID/)
    // the partner handle is needed for the partner's coupons only
    await expect(async () => legacy.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-NOBODY-0001' })).rejects.toThrow(/HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE/)
    const sellers = (await fetch(`${hub.baseUrl}/loyalty-providers?kind=seller`, { headers: { authorization: `Bearer ${hub.adminToken}` } }).then((r) => r.json())) as { data: { sellerId: string }[] }
    expect(sellers.data.map((p) => p.sellerId)).not.toContain('sel_x')
  })
})

describe('README webhook receiver over HTTP', () => {
  it('accepts a message signed with its secret (by the reference Standard Webhooks package) and refuses a tampered one', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`
    process.env.HUB_WEBHOOK_SECRET = secret
    const printed = recordingConsole()
    const receiver = webhookReceiver(printed)
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`
      const body = JSON.stringify({ id: 'evt_01JDA9Q3C7M2ZK8V4T6N1R5XWE', sequence: '7', type: 'customer.created', customerId: 'cus_1', payload: {}, createdAt: new Date().toISOString() })
      const now = new Date()
      const headers = {
        'content-type': 'application/json',
        'webhook-id': 'evt_01JDA9Q3C7M2ZK8V4T6N1R5XWE',
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new ReferenceWebhook(secret).sign('evt_01JDA9Q3C7M2ZK8V4T6N1R5XWE', now, body),
      }
      const ok = await fetch(url, { method: 'POST', headers, body })
      expect(ok.status).toBe(204)
      expect(printed.printed).toEqual([['received', 'customer.created', 'evt_01JDA9Q3C7M2ZK8V4T6N1R5XWE']])

      const tampered = await fetch(url, { method: 'POST', headers, body: body.replace('cus_1', 'cus_2') })
      expect(tampered.status).toBe(400)
      expect(await tampered.text()).toBe('WEBHOOK_SIGNATURE_INVALID')
      const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      expect(await unsigned.text()).toBe('WEBHOOK_HEADERS_MISSING')
      expect(printed.printed).toHaveLength(1)
    } finally {
      await new Promise((resolve) => receiver.close(resolve))
      restoreEnv()
    }
  })
})
