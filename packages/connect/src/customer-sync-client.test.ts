import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createCommerceClient,
  createCustomerSyncClient,
  HubApiError,
  type CommerceClient,
  type CustomerSyncConfig,
  type FetchLike,
  type Identity,
  type SyncLogger,
} from './index.js'
import { closedPort, startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'
import { failure } from '../test/helpers/failure.js'

let hub: ListeningHub
let token: string
let admin: CommerceClient
let n = 0
const tag = () => `${Date.now().toString(36)}-${++n}`
const store = { component: 'identity.his-and-her-store', externalIdField: 'medusaCustomerId' }

/** What a recording logger saw: every message and every error argument. */
function recordingLogger() {
  const lines: { level: 'info' | 'warn' | 'error'; msg: string; err?: unknown }[] = []
  const logger: SyncLogger = {
    info: (msg) => void lines.push({ level: 'info', msg }),
    warn: (msg) => void lines.push({ level: 'warn', msg }),
    error: (msg, err) => void lines.push({ level: 'error', msg, err }),
  }
  return { lines, logger, of: (level: 'info' | 'warn' | 'error') => lines.filter((l) => l.level === level).map((l) => l.msg) }
}

type Step = 'pass' | 'refuse' | 'lose-answer' | 'answer-503'

interface Attempt {
  method: string
  path: string
  idempotencyKey: string | undefined
  /** What the hub answered, when it was reached. */
  hubStatus?: number
  replayed?: boolean
  hubBody?: unknown
}

/**
 * A fetch in front of the real one that misbehaves as `steps` say, one step per call, then
 * passes through: `refuse` fails before the hub is reached, `lose-answer` lets the hub answer
 * and then fails as a reset connection would, `answer-503` lets the hub answer and hands back
 * a 503 instead.
 */
function flakyFetch(steps: Step[]) {
  const attempts: Attempt[] = []
  const plan = [...steps]
  const fetchFn: FetchLike = async (url, init) => {
    const step = plan.shift() ?? 'pass'
    const headers = init.headers as Record<string, string>
    const attempt: Attempt = { method: String(init.method), path: new URL(url).pathname, idempotencyKey: headers['idempotency-key'] }
    attempts.push(attempt)
    if (step === 'refuse') throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
    const res = await fetch(url, init)
    attempt.hubStatus = res.status
    attempt.replayed = res.headers.get('idempotent-replayed') === 'true'
    if (step === 'pass') {
      attempt.hubBody = await res.clone().json()
      return res
    }
    attempt.hubBody = await res.json()
    if (step === 'lose-answer') throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) })
    return new Response(JSON.stringify({ statusCode: 503, code: 'DATABASE_UNAVAILABLE', error: 'Service Unavailable', message: 'The database cannot be reached; retry shortly.' }), {
      status: 503,
      headers: { 'content-type': 'application/json' },
    })
  }
  return { attempts, fetch: fetchFn }
}

function client(extra: Partial<CustomerSyncConfig> = {}, logger?: SyncLogger) {
  return createCustomerSyncClient({ cdpHost: hub.baseUrl, cdpApiToken: token, platformIdentity: store, rewardLedger: 'reward-points', retryDelayMs: 1, ...extra }, logger)
}

const customersWithEmail = async (email: string) => (await admin.customers.list({ email })).data
const identitiesOf = async (id: string) => (await fetchJson<{ data: Identity[] }>(`/customer/${id}/identities`)).data
async function fetchJson<T>(path: string): Promise<T> {
  const res = await fetch(hub.baseUrl + path, { headers: { authorization: `Bearer ${hub.adminToken}` } })
  expect(res.status).toBe(200)
  return (await res.json()) as T
}

beforeAll(async () => {
  hub = await startListeningHub()
  token = await hub.platformToken()
  admin = createCommerceClient({ baseUrl: hub.baseUrl, token: hub.adminToken })
})
afterAll(async () => {
  await hub?.close()
})

describe('syncCustomer', () => {
  it('is one HTTP call to POST /customer/sync with the platform identity and ledger', async () => {
    const t = tag()
    const flaky = flakyFetch([])
    const result = await client({ fetch: flaky.fetch }).syncCustomer({ externalId: `cus_${t}`, email: `one-${t}@example.com`, firstName: 'One', metadata: { source: 'test' } })
    expect(flaky.attempts).toHaveLength(1)
    expect(flaky.attempts[0]).toMatchObject({ method: 'POST', path: '/customer/sync', hubStatus: 201 })
    expect(flaky.attempts[0]!.idempotencyKey).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(result).toMatchObject({ created: true, rewardAccountCreated: true, matchedBy: null, conflicts: [] })
    expect(result.contact).toMatchObject({ id: result.documentId, email: `one-${t}@example.com`, firstName: 'One', metadata: { source: 'test' } })
    expect(result.linked.map((l) => [l.kind, l.namespace, l.externalIdField]).sort()).toEqual([
      ['email', '', null],
      ['platform', store.component, store.externalIdField],
    ])
  })

  it('each call has an Idempotency-Key of its own', async () => {
    const t = tag()
    const flaky = flakyFetch([])
    const sync = client({ fetch: flaky.fetch })
    await sync.syncCustomer({ externalId: `cus_${t}` })
    await sync.syncCustomer({ externalId: `cus_${t}` })
    expect(flaky.attempts.map((a) => a.replayed)).toEqual([false, false])
    expect(new Set(flaky.attempts.map((a) => a.idempotencyKey)).size).toBe(2)
  })

  it('retries two refused connections with the same Idempotency-Key and makes one customer', async () => {
    const t = tag()
    const email = `refused-${t}@example.com`
    const flaky = flakyFetch(['refuse', 'refuse'])
    const log = recordingLogger()
    const result = await client({ fetch: flaky.fetch }, log.logger).syncCustomer({ externalId: `cus_${t}`, email })
    expect(flaky.attempts).toHaveLength(3)
    expect(new Set(flaky.attempts.map((a) => a.idempotencyKey)).size).toBe(1)
    expect(result.created).toBe(true)
    expect((await customersWithEmail(email)).map((c) => c.id)).toEqual([result.documentId])
    expect(log.of('warn')).toEqual([
      expect.stringMatching(/^POST \/customer\/sync failed with NETWORK_ERROR, attempt 1 of 4; retrying in \d+ ms$/),
      expect.stringMatching(/attempt 2 of 4/),
    ])
    expect(log.of('info')).toEqual([`created customer ${result.documentId} for ${store.component} cus_${t}; reward account opened in reward-points`])
  })

  it('a 503 after the hub did the work: the retry gets the stored answer, one customer', async () => {
    const t = tag()
    const email = `lost503-${t}@example.com`
    const flaky = flakyFetch(['answer-503'])
    const result = await client({ fetch: flaky.fetch }).syncCustomer({ externalId: `cus_${t}`, email, phone: '+14155550101' })
    expect(flaky.attempts).toHaveLength(2)
    const [first, second] = flaky.attempts
    expect(first).toMatchObject({ hubStatus: 201, replayed: false })
    expect(second).toMatchObject({ hubStatus: 201, replayed: true })
    expect(second!.idempotencyKey).toBe(first!.idempotencyKey)
    expect((first!.hubBody as { documentId: string }).documentId).toBe(result.documentId)
    // the replay is the first answer: created and the reward account, as the hub reported them then
    expect(result).toMatchObject({ created: true, rewardAccountCreated: true })
    expect((await customersWithEmail(email)).map((c) => c.id)).toEqual([result.documentId])
    expect(await fetchJson<{ data: unknown[] }>(`/customer/${result.documentId}/reward-accounts`)).toMatchObject({ data: [{ ledger: 'reward-points' }] })
  })

  it('a lost answer, then a refused connection, then a 503: four attempts, one key, one customer', async () => {
    const t = tag()
    const email = `mixed-${t}@example.com`
    const flaky = flakyFetch(['lose-answer', 'refuse', 'answer-503'])
    const result = await client({ fetch: flaky.fetch }).syncCustomer({ externalId: `cus_${t}`, email })
    expect(flaky.attempts).toHaveLength(4)
    expect(new Set(flaky.attempts.map((a) => a.idempotencyKey)).size).toBe(1)
    expect(flaky.attempts.map((a) => a.replayed)).toEqual([false, undefined, true, true])
    expect(result.created).toBe(true)
    expect((await customersWithEmail(email)).map((c) => c.id)).toEqual([result.documentId])
  })

  it('gives up after `retries` and throws the last error, logging it once', async () => {
    const log = recordingLogger()
    const sync = createCustomerSyncClient(
      { cdpHost: `http://127.0.0.1:${await closedPort()}`, cdpApiToken: token, platformIdentity: store, retries: 2, retryDelayMs: 1 },
      log.logger,
    )
    const err = await failure(sync.syncCustomer({ externalId: 'cus_nowhere' }))
    expect(err).toMatchObject({ status: 0, code: 'NETWORK_ERROR' })
    expect(log.of('warn')).toHaveLength(2)
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([{ level: 'error', msg: `sync of ${store.component} cus_nowhere failed: NETWORK_ERROR`, err }])
  })

  it('reads local phone numbers in the platform’s country (platformIdentity.defaultCountry), also when finding', async () => {
    const t = tag()
    const thai = client({ platformIdentity: { component: 'identity.thai-store', externalIdField: 'storeCustomerId', defaultCountry: 'TH' } })
    const local = `081${String(Date.now() % 10_000_000).padStart(7, '0')}`
    const synced = await thai.syncCustomer({ externalId: `th_${t}`, phone: local })
    expect(synced.contact.phone).toBe(`+66${local.slice(1)}`)
    expect((await thai.findContact(null, null, local))?.id).toBe(synced.documentId)
  })

  it('throws a 4xx at once, with the hub code and status', async () => {
    const t = tag()
    const flaky = flakyFetch([])
    const err = await failure(client({ fetch: flaky.fetch }).syncCustomer({ externalId: `cus_${t}`, firstName: 'x'.repeat(201) }))
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
    expect(err.requestId).toMatch(/^req_/)
    expect(flaky.attempts).toHaveLength(1)
    expect(await client().findContact(`cus_${t}`)).toBeNull()

    const noLedger = flakyFetch([])
    const missing = await failure(client({ fetch: noLedger.fetch, rewardLedger: 'no-such-ledger' }).syncCustomer({ externalId: `cus_${t}` }))
    expect(missing).toMatchObject({ status: 404, code: 'LEDGER_NOT_FOUND' })
    expect(noLedger.attempts).toHaveLength(1)
    expect(await client().findContact(`cus_${t}`)).toBeNull()
  })

  it('without a token the client is made, and a sync fails with UNAUTHORIZED once', async () => {
    const flaky = flakyFetch([])
    const sync = createCustomerSyncClient({ cdpHost: hub.baseUrl, cdpApiToken: undefined, platformIdentity: store, fetch: flaky.fetch })
    const err = await failure(sync.syncCustomer({ externalId: 'cus_anonymous' }))
    expect(err).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    expect(flaky.attempts).toHaveLength(1)
  })

  it('with a token bound to its own component the client syncs; with another store’s it fails with PLATFORM_SCOPE once and makes nothing', async () => {
    const t = tag()
    const own = createCustomerSyncClient({ cdpHost: hub.baseUrl, cdpApiToken: await hub.platformToken({ components: [store.component] }), platformIdentity: store })
    expect(await own.syncCustomer({ externalId: `cus_${t}` })).toMatchObject({ created: true })

    const flaky = flakyFetch([])
    const otherStore = await hub.platformToken({ components: ['identity.shopify-store'] })
    const sync = createCustomerSyncClient({ cdpHost: hub.baseUrl, cdpApiToken: otherStore, platformIdentity: store, fetch: flaky.fetch })
    const err = await failure(sync.syncCustomer({ externalId: `cus_other_${t}`, email: `other-${t}@example.com` }))
    expect(err).toBeInstanceOf(HubApiError)
    expect(err).toMatchObject({ status: 403, code: 'PLATFORM_SCOPE' })
    expect(flaky.attempts).toHaveLength(1)
    expect(await client().findContact(`cus_other_${t}`)).toBeNull()
    expect(await customersWithEmail(`other-${t}@example.com`)).toEqual([])
  })

  it('warns once per conflict: another customer’s email and phone stay theirs', async () => {
    const t = tag()
    const a = await client().syncCustomer({ externalId: `a_${t}`, email: `a-${t}@example.com`, phone: '+14155550111' })
    const b = await client().syncCustomer({ externalId: `b_${t}`, email: `b-${t}@example.com` })
    const log = recordingLogger()
    const sync = client({}, log.logger)

    const mixed = await sync.syncCustomer({ externalId: `b_${t}`, email: `a-${t}@example.com`, phone: '+1 415 555 0111' })
    expect(mixed).toMatchObject({ documentId: b.documentId, matchedBy: 'platform', linked: [] })
    expect(mixed.conflicts).toEqual([
      { kind: 'email', namespace: '', value: `a-${t}@example.com`, customerId: a.documentId, reason: 'different_email' },
      { kind: 'phone', namespace: '', value: '+14155550111', customerId: a.documentId, reason: 'different_email' },
    ])
    expect(log.of('info')).toEqual([`matched customer ${b.documentId} by platform for ${store.component} b_${t}`])
    expect(log.of('warn')).toEqual([
      `customer ${b.documentId}: the email identity is held by customer ${a.documentId}, each has an email of its own; not joined (different_email)`,
      `customer ${b.documentId}: the phone identity is held by customer ${a.documentId}, each has an email of its own; not joined (different_email)`,
    ])

    // a household's shared phone does not join two people with different emails
    const c = await sync.syncCustomer({ externalId: `c_${t}`, email: `c-${t}@example.com`, phone: '+14155550111' })
    expect(c).toMatchObject({ created: true, conflicts: [{ kind: 'phone', customerId: a.documentId, reason: 'phone_shared_with_other_email' }] })
    expect(log.of('warn').at(-1)).toBe(`customer ${c.documentId}: the phone identity is held by customer ${a.documentId}, who has another email; not linked (phone_shared_with_other_email)`)

    // a platform id that arrived alone is joined into the customer its email names; a bad phone is left out
    // (another platform: c holds an id on this one already, and two ids on one platform are two people)
    const shop = client({ platformIdentity: { component: 'identity.shopify-store', externalIdField: 'shopifyCustomerId' } }, log.logger)
    const early = await shop.syncCustomer({ externalId: `d_${t}` })
    const late = await shop.syncCustomer({ externalId: `d_${t}`, email: `c-${t}@example.com`, phone: '12' })
    expect(late).toMatchObject({ documentId: c.documentId, matchedBy: 'email', joined: [{ sourceId: early.documentId, targetId: c.documentId, reason: 'sync' }] })
    expect(late.rejected).toEqual([{ field: 'phone', value: '12', code: 'INVALID_PHONE' }])
    expect(log.of('info').at(-1)).toBe(`customer ${c.documentId}: joined customer ${early.documentId} into it (merge ${late.joined[0]!.id}, reason sync)`)
    expect(log.of('warn').at(-1)).toBe(`customer ${c.documentId}: the phone sent for identity.shopify-store d_${t} is not valid, not linked (INVALID_PHONE)`)
    for (const line of log.lines) {
      expect(line.msg).not.toContain('@example.com')
      expect(line.msg).not.toContain('555')
    }
  })

  it('the logger never sees the token, whatever happens', async () => {
    const t = tag()
    const log = recordingLogger()
    const flaky = flakyFetch(['refuse', 'answer-503'])
    const sync = client({ fetch: flaky.fetch }, log.logger)
    const first = await sync.syncCustomer({ externalId: `tok_${t}`, email: `tok-${t}@example.com` })
    await sync.syncCustomer({ externalId: `tok2_${t}`, email: `tok-${t}@example.com` })
    await failure(sync.syncCustomer({ externalId: `tok3_${t}`, firstName: 'x'.repeat(201) }))
    await failure(createCustomerSyncClient({ cdpHost: hub.baseUrl, cdpApiToken: 'not-a-real-token', platformIdentity: store }, log.logger).syncCustomer({ externalId: 'x' }))
    const unsent = createCustomerSyncClient({ cdpHost: `http://127.0.0.1:${await closedPort()}`, cdpApiToken: token, platformIdentity: store, retries: 1, retryDelayMs: 1 }, log.logger)
    await failure(unsent.syncCustomer({ externalId: 'y' }))
    expect(first.created).toBe(true)
    expect(log.of('info')).toHaveLength(2)
    expect(log.of('warn').length).toBeGreaterThanOrEqual(3)
    expect(log.of('error')).toHaveLength(3)
    for (const line of log.lines) {
      const err = line.err as HubApiError | undefined
      const seen = [line.msg, String(err), err?.message, JSON.stringify(err?.details), String((err?.cause as Error | undefined)?.message), JSON.stringify(err)].join('\n')
      expect(seen).not.toContain(token)
      expect(seen).not.toContain('not-a-real-token')
    }
  })
})

describe('findContact', () => {
  it('finds by platform id, email or phone, and gives null for nobody', async () => {
    const t = tag()
    const { documentId } = await client().syncCustomer({ externalId: `find_${t}`, email: `find-${t}@example.com`, phone: '+14155550122' })
    const sync = client()
    expect((await sync.findContact(`find_${t}`, null))?.id).toBe(documentId)
    expect((await sync.findContact(`other_${t}`, `FIND-${t}@example.com`))?.id).toBe(documentId)
    expect((await sync.findContact(undefined, undefined, '+1 (415) 555-0122'))?.id).toBe(documentId)
    expect(await sync.findContact(`other_${t}`, `nobody-${t}@example.com`)).toBeNull()
    // the same id on another platform is another identity
    const shop = createCustomerSyncClient({ cdpHost: hub.baseUrl, cdpApiToken: token, platformIdentity: { component: 'identity.shopify-store', externalIdField: 'shopifyCustomerId' } })
    expect(await shop.findContact(`find_${t}`)).toBeNull()
  })

  it('throws IDENTIFIER_REQUIRED when given nothing to look for', async () => {
    expect(await failure(client().findContact(undefined, undefined))).toMatchObject({ status: 400, code: 'IDENTIFIER_REQUIRED' })
  })
})

describe('buildIdentities', () => {
  it('puts the platform id under the configured field, then email and phone', () => {
    const sync = client()
    expect(sync.buildIdentities({ externalId: 'cus_abc123', email: 'jane@example.com', phone: '+66812345678' })).toEqual([
      { component: 'identity.his-and-her-store', medusaCustomerId: 'cus_abc123' },
      { component: 'identity.email', email: 'jane@example.com' },
      { component: 'identity.phone', phone: '+66812345678' },
    ])
    expect(sync.buildIdentities({ externalId: 'cus_abc123', email: null, phone: '' })).toEqual([{ component: 'identity.his-and-her-store', medusaCustomerId: 'cus_abc123' }])
  })
})

describe('createContact', () => {
  it('creates the customer with the email and phone of its identities and links the platform id', async () => {
    const t = tag()
    const log = recordingLogger()
    const sync = client({}, log.logger)
    const { contact, documentId } = await sync.createContact({
      firstName: 'Ann',
      lastName: 'Lee',
      metadata: { tier: 'gold' },
      identities: sync.buildIdentities({ externalId: `ann_${t}`, email: `ann-${t}@example.com`, phone: '+14155550133' }),
    })
    expect(contact).toMatchObject({ id: documentId, email: `ann-${t}@example.com`, phone: '+14155550133', firstName: 'Ann', lastName: 'Lee', metadata: { tier: 'gold' } })
    const ids = await identitiesOf(documentId)
    expect(ids.map((i) => [i.kind, i.namespace, i.value, i.externalIdField]).sort()).toEqual([
      ['email', '', `ann-${t}@example.com`, null],
      ['phone', '', '+14155550133', null],
      ['platform', store.component, `ann_${t}`, store.externalIdField],
    ])
    expect(log.of('info')).toEqual([`created customer ${documentId} with ${store.component}`])
    // what it made, the sync finds
    expect(await client().syncCustomer({ externalId: `ann_${t}` })).toMatchObject({ documentId, matchedBy: 'platform', created: false })
  })

  it('links identities of other platforms and a second email', async () => {
    const t = tag()
    const sync = client()
    const { documentId } = await sync.createContact({
      firstName: 'Multi',
      email: `main-${t}@example.com`,
      identities: [
        ...sync.buildIdentities({ externalId: `multi_${t}`, email: `second-${t}@example.com` }),
        { component: 'identity.shopify-store', shopifyCustomerId: `shop_${t}` },
      ],
    })
    const ids = await identitiesOf(documentId)
    expect(ids.map((i) => [i.kind, i.namespace, i.value, i.externalIdField]).sort()).toEqual([
      ['email', '', `main-${t}@example.com`, null],
      ['email', '', `second-${t}@example.com`, null],
      ['platform', 'identity.his-and-her-store', `multi_${t}`, 'medusaCustomerId'],
      ['platform', 'identity.shopify-store', `shop_${t}`, 'shopifyCustomerId'],
    ])
  })

  it('refuses a platform id someone holds before creating anything', async () => {
    const t = tag()
    const holder = await client().syncCustomer({ externalId: `held_${t}` })
    const flaky = flakyFetch([])
    const sync = client({ fetch: flaky.fetch })
    const err = await failure(sync.createContact({ firstName: 'Late', identities: sync.buildIdentities({ externalId: `held_${t}`, email: `late-${t}@example.com` }) }))
    expect(err).toMatchObject({ status: 409, code: 'IDENTITY_TAKEN', details: { customerId: holder.documentId } })
    expect(err.message).toContain('no customer was created')
    expect(flaky.attempts.map((a) => `${a.method} ${a.path}`)).toEqual(['GET /customer/lookup'])
    expect(await customersWithEmail(`late-${t}@example.com`)).toEqual([])
  })

  it('a taken email is refused by the hub before the customer exists', async () => {
    const t = tag()
    await client().syncCustomer({ externalId: `mail_${t}`, email: `taken-${t}@example.com` })
    const sync = client()
    const err = await failure(sync.createContact({ firstName: 'Dup', identities: sync.buildIdentities({ externalId: `dup_${t}`, email: `taken-${t}@example.com` }) }))
    expect(err).toMatchObject({ status: 409, code: 'EMAIL_TAKEN' })
    expect(await sync.findContact(`dup_${t}`)).toBeNull()
  })

  it('when the platform id is taken between the check and the link, says which customer was created', async () => {
    const t = tag()
    let rivalId: string | undefined
    // another platform process syncs the same store id right after this customer is created
    const racing: FetchLike = async (url, init) => {
      const res = await fetch(url, init)
      if (init.method === 'POST' && new URL(url).pathname === '/customer') {
        rivalId = (await client().syncCustomer({ externalId: `race_${t}`, email: `rival-${t}@example.com` })).documentId
      }
      return res
    }
    const log = recordingLogger()
    const sync = client({ fetch: racing }, log.logger)
    const err = await failure(sync.createContact({ firstName: 'Racer', identities: sync.buildIdentities({ externalId: `race_${t}`, email: `racer-${t}@example.com` }) }))
    const [created] = await customersWithEmail(`racer-${t}@example.com`)
    expect(created).toBeDefined()
    expect(err).toMatchObject({ status: 409, code: 'IDENTITY_TAKEN', details: { customerId: rivalId, createdCustomerId: created!.id } })
    expect(err.message).toContain(`customer ${created!.id} was created`)
    expect(err.requestId).toMatch(/^req_/)
    expect(log.of('error')).toEqual([err.message])
    expect((await identitiesOf(created!.id)).map((i) => i.kind)).toEqual(['email'])
  })

  it('refuses malformed identity objects before sending anything', async () => {
    const flaky = flakyFetch([])
    const sync = client({ fetch: flaky.fetch })
    for (const identities of [
      [{ component: 'identity.email' }],
      [{ component: 'identity.shopify-store' }],
      [{ component: 'identity.shopify-store', a: '1', b: '2' }],
      [{ component: 'Not A Component', id: '1' }],
    ]) {
      expect(await failure(sync.createContact({ firstName: 'X', identities }))).toMatchObject({ status: 0, code: 'INVALID_ARGUMENT' })
    }
    expect(flaky.attempts).toEqual([])
  })
})

describe('updateContact and ensureRewardAccount', () => {
  it('updateContact changes the fields; a 503 after the change is retried and replayed', async () => {
    const t = tag()
    const { documentId } = await client().syncCustomer({ externalId: `upd_${t}`, firstName: 'Old' })
    const flaky = flakyFetch(['answer-503'])
    const updated = await client({ fetch: flaky.fetch }).updateContact(documentId, { lastName: 'Smith', metadata: { vip: true } })
    expect(updated).toMatchObject({ id: documentId, firstName: 'Old', lastName: 'Smith', metadata: { vip: true } })
    expect(flaky.attempts.map((a) => [a.method, a.replayed])).toEqual([['PATCH', false], ['PATCH', true]])
    expect(flaky.attempts[1]!.idempotencyKey).toBe(flaky.attempts[0]!.idempotencyKey)
    expect(await failure(client().updateContact('cus_00000000000000000000000000', { lastName: 'X' }))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
  })

  it('ensureRewardAccount opens the account once', async () => {
    const t = tag()
    const { documentId } = await createCustomerSyncClient({ cdpHost: hub.baseUrl, cdpApiToken: token, platformIdentity: store }).syncCustomer({ externalId: `rw_${t}` })
    const sync = client()
    const first = await sync.ensureRewardAccount(documentId)
    expect(first).toMatchObject({ created: true, account: { ledger: 'reward-points', customerId: documentId } })
    expect(await sync.ensureRewardAccount(documentId)).toEqual({ created: false, account: first.account })
    expect(await failure(sync.ensureRewardAccount(documentId, 'no-such-ledger'))).toMatchObject({ status: 404, code: 'LEDGER_NOT_FOUND' })
  })

  it('ensureRewardAccount without a configured ledger throws before sending', async () => {
    const flaky = flakyFetch([])
    const sync = createCustomerSyncClient({ cdpHost: hub.baseUrl, cdpApiToken: token, platformIdentity: store, fetch: flaky.fetch })
    const err = await failure(sync.ensureRewardAccount('cus_00000000000000000000000000'))
    expect(err).toMatchObject({ status: 0, code: 'INVALID_ARGUMENT' })
    expect(err.message).toMatch(/rewardLedger/)
    expect(flaky.attempts).toEqual([])
  })
})

describe('createCustomerSyncClient', () => {
  it('refuses a platform identity that cannot be sent', () => {
    const base = { cdpHost: 'http://127.0.0.1:1' }
    expect(() => createCustomerSyncClient({ ...base, platformIdentity: { component: 'Identity Store', externalIdField: 'id' } })).toThrow(/platformIdentity.component/)
    expect(() => createCustomerSyncClient({ ...base, platformIdentity: { component: 'identity.email', externalIdField: 'id' } })).toThrow(/identity.email/)
    expect(() => createCustomerSyncClient({ ...base, platformIdentity: { component: 'identity.shop', externalIdField: 'shop id' } })).toThrow(/externalIdField/)
    expect(() => createCustomerSyncClient({ ...base, platformIdentity: { ...store, defaultCountry: 'Thailand' } })).toThrow(/platformIdentity.defaultCountry/)
    expect(() => createCustomerSyncClient({ ...base, platformIdentity: store, retries: -1 })).toThrow(/retries/)
    expect(() => createCustomerSyncClient({ cdpHost: 'localhost:1337', platformIdentity: store })).toThrow(/http or https/)
    expect(createCustomerSyncClient({ platformIdentity: store }).getStrapiClient().baseUrl).toBe('http://localhost:1337')
  })

  it('getStrapiClient is the authenticated HTTP client of the sync', async () => {
    const t = tag()
    const sync = client()
    const http = sync.getStrapiClient()
    expect(http).toBe(sync.getStrapiClient())
    const { documentId } = await sync.syncCustomer({ externalId: `raw_${t}` })
    const linked = await http.post<Identity>(`/customer/${documentId}/identities`, { kind: 'email', value: `raw-${t}@example.com` })
    expect(linked).toMatchObject({ kind: 'email', customerId: documentId })
    expect((await sync.findContact(undefined, `raw-${t}@example.com`))?.id).toBe(documentId)
  })
})
