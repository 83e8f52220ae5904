import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { chromium, type Browser, type Page } from 'playwright-core'
import { AxeBuilder } from '@axe-core/playwright'
import type { Customer } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../hub/test/helpers/test-hub.js'
import { client, type Call } from '../../hub/test/helpers/requests.js'

/**
 * The console in a real browser (Debian's Chromium, driven by Playwright) against a real hub
 * listening on HTTP, on the embedded database. Screenshots of the main views are kept in
 * test-artifacts/console (not committed).
 */
const artifacts = fileURLToPath(new URL('../../../test-artifacts/console/', import.meta.url))
const password = 'console staff passphrase'

let hub: TestHub
let call: Call
let base: string
let browser: Browser
let ada: Customer
let bob: Customer
let carol: Customer
let dan: { documentId: string }

beforeAll(async () => {
  hub = await createTestHub()
  call = client(hub)
  base = await hub.app.listen({ port: 0, host: '127.0.0.1' })
  for (const [email, role] of [['lead@staff.example.com', 'admin'], ['agent@staff.example.com', 'support']]) {
    expect((await call('POST', '/staff', { email, password, role })).status).toBe(201)
  }
  ada = (await call('POST', '/customer', { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', phone: '+14155550101' })).body
  await call('POST', `/customer/${ada.id}/address`, { line1: '12 St James Sq', city: 'London', country: 'GB' })
  await call('POST', `/customer/${ada.id}/reward-accounts`, { ledger: 'reward-points' })
  await call('POST', '/orders', { platform: 'shop-a', externalId: 'A-1001', customerId: ada.id, total: 12_345, currency: 'GBP', placedAt: '2026-11-30T10:00:00.000Z' })
  bob = (await call('POST', '/customer', { email: 'ada.l@example.org', firstName: 'Ada', lastName: 'L', phone: '+14155550102' })).body
  await call('POST', `/customer/${bob.id}/identities`, { kind: 'platform', namespace: 'identity.shop-b', value: 'B-7', externalIdField: 'bId' })
  for (let i = 0; i < 30; i++) await call('POST', '/customer', { email: `someone${i}@example.com`, lastName: `Person ${i}` })
  // a phone that one person has and a sync gives to someone with another email: a conflict
  carol = (await call('POST', '/customer', { email: 'carol@example.com', phone: '+14155550199' })).body
  const sync = await call('POST', '/customer/sync', { platform: { component: 'identity.shop-c', externalId: 'C-1' }, email: 'dan@example.com', phone: '+14155550199' })
  expect(sync.body.conflicts).toHaveLength(1)
  dan = { documentId: sync.body.documentId }

  mkdirSync(artifacts, { recursive: true })
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // headless, with a fresh profile Playwright makes; as root, without the sandbox; nothing reaching out to the network
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})
afterAll(async () => {
  await browser?.close()
  await hub?.close()
})

async function newPage(width = 1280, height = 800): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height } })
  const page = await context.newPage()
  page.on('pageerror', (err) => {
    throw err
  })
  return page
}

async function signIn(page: Page, email: string) {
  await page.goto(`${base}/console/`)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByLabel('Password').press('Enter') // by keyboard
  await page.getByRole('heading', { name: 'Customers', level: 1 }).waitFor()
}

/** No serious or critical accessibility violation on the page as it is. */
async function accessible(page: Page, view: string) {
  const { violations } = await new AxeBuilder({ page }).analyze()
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${view}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
  expect(serious).toEqual([])
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true })

/** Nothing personal in the page's title or URL. */
function nothingPersonal(page: Page) {
  for (const value of ['ada', 'lovelace', 'example', '4155550101']) {
    expect(page.url().toLowerCase()).not.toContain(value)
  }
}

describe('the admin console in a browser', () => {
  test('its first load is well under 300 KB of compressed JavaScript', async () => {
    const page = await newPage()
    const scripts: Buffer[] = []
    page.on('response', async (res) => {
      if (res.request().resourceType() === 'script') scripts.push(await res.body())
    })
    await page.goto(`${base}/console/`)
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
    const gzipped = scripts.reduce((n, body) => n + gzipSync(body).length, 0)
    console.log(`console first load: ${scripts.length} script(s), ${(gzipped / 1024).toFixed(1)} KiB gzipped`)
    expect(scripts.length).toBeGreaterThan(0)
    expect(gzipped).toBeLessThanOrEqual(300 * 1024)
    await page.context().close()
  })

  test('sign in, find a customer by email, edit an address, add a group, adjust points; the views pass an accessibility check', async () => {
    const page = await newPage()
    await page.goto(`${base}/console/`)
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
    await accessible(page, 'sign-in')
    await shot(page, 'sign-in')
    // a wrong password says so and signs nothing in
    await page.getByLabel('Email').fill('lead@staff.example.com')
    await page.getByLabel('Password').fill('not the password at all')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('INVALID_CREDENTIALS')

    await signIn(page, 'lead@staff.example.com')
    await expect.poll(() => page.locator('tbody tr').count()).toBe(25)
    await accessible(page, 'customer list')
    await shot(page, 'customers')

    // the next page, kept across a reload
    const total = (await call('GET', '/customer?limit=200')).body.data.length
    expect(total).toBeGreaterThan(25)
    await page.getByRole('button', { name: 'Next page' }).click()
    await expect.poll(() => page.locator('tbody tr').count()).toBe(total - 25)
    await page.reload()
    await expect.poll(() => page.locator('tbody tr').count()).toBe(total - 25)

    // find by email: the email never reaches the URL
    await page.getByRole('button', { name: 'Clear' }).click()
    await page.getByRole('search').getByLabel('Email').fill('ada@example.com')
    await page.getByRole('button', { name: 'Apply' }).click()
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1)
    nothingPersonal(page)
    await page.reload()
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1)
    await page.getByRole('link', { name: 'Ada Lovelace' }).click()
    await page.getByRole('heading', { name: 'Ada Lovelace', level: 1 }).waitFor()
    nothingPersonal(page)
    expect(await page.title()).toBe('Customer · Customer Hub')
    await accessible(page, 'customer page')
    await shot(page, 'customer')

    // its orders
    expect(await page.getByRole('region', { name: 'Orders' }).locator('tbody tr').textContent()).toMatch(/shop-a.*A-1001.*£123\.45.*counted/)

    // edit the address
    await page.getByRole('button', { name: 'Edit' }).click()
    const form = page.getByRole('form', { name: 'Save address' })
    await form.getByLabel('City').fill('Marylebone')
    await form.getByRole('button', { name: 'Save address' }).click()
    await page.getByText('12 St James Sq, Marylebone, GB').waitFor()
    expect((await call('GET', `/customer/${ada.id}`)).body.addresses[0].city).toBe('Marylebone')

    // add a group
    await page.getByLabel('Add to group').fill('vip')
    await page.getByRole('button', { name: 'Add', exact: true }).click()
    await page.getByRole('button', { name: 'Remove from group vip' }).waitFor()
    expect((await call('GET', `/customer/${ada.id}`)).body.groups).toEqual(['vip'])

    // adjust points
    const adjust = page.getByRole('form', { name: 'Adjust points of reward-points' })
    await adjust.getByLabel('Points (negative removes)').fill('25')
    await adjust.getByLabel('Reason').fill('goodwill after a late parcel')
    await adjust.getByRole('button', { name: 'Adjust' }).click()
    await page.getByText('Points adjusted.').waitFor()
    const accounts = (await call('GET', `/customer/${ada.id}/reward-accounts`)).body.data
    expect(accounts[0].balance).toBe(25)
    await expect.poll(() => page.locator('.figures dd').first().textContent()).toBe('25')
    await page.getByRole('button', { name: 'Entries' }).click()
    const entry = page.getByRole('region', { name: 'Entries of reward-points' }).locator('tbody tr')
    await expect.poll(() => entry.count()).toBe(1)
    expect(await entry.textContent()).toMatch(/adjust\+2525/)
    // the customer's events, the group just added among them
    await expect.poll(async () => page.locator('section[aria-labelledby="events-heading"] li').allTextContents()).toContainEqual(expect.stringContaining('customer.group_added'))

    // at a phone's width the page still reads and passes the check
    await page.setViewportSize({ width: 390, height: 844 })
    await accessible(page, 'customer page, phone width')
    await shot(page, 'customer-phone')
    await page.context().close()
  })

  test('merge two customers after the preview, then undo the merge from the history', async () => {
    const page = await newPage()
    await signIn(page, 'lead@staff.example.com')
    await page.goto(`${base}/console/customers/${ada.id}`)
    await page.getByRole('heading', { name: 'Ada Lovelace', level: 1 }).waitFor()
    await page.getByLabel('Customer id to merge in').fill(bob.id)
    await page.getByRole('button', { name: 'Preview' }).click()
    const preview = page.getByLabel('What the merge moves')
    await preview.waitFor()
    // bob's email, phone and shop-b identities move
    expect(await preview.textContent()).toContain('3 identities')
    expect(await preview.getByRole('cell', { name: 'B-7' }).count()).toBe(1)
    await shot(page, 'merge-preview')
    expect((await call('GET', `/customer/${bob.id}`)).status).toBe(200) // the preview changed nothing

    await preview.getByRole('button', { name: 'Merge' }).click()
    await page.getByText('Merged. It can be undone from the history below.').waitFor()
    const merged = await call('GET', `/customer/${bob.id}`)
    expect(merged.status).toBe(410)
    expect(merged.body.code).toBe('CUSTOMER_MERGED')
    await page.getByRole('cell', { name: 'B-7' }).waitFor() // the identity is now ada's

    await page.getByRole('button', { name: 'Undo this merge' }).click()
    await page.getByText('The merge was undone.').waitFor()
    expect((await call('GET', `/customer/${bob.id}`)).status).toBe(200)
    expect((await call('GET', `/customer/${bob.id}/identities`)).body.data.map((i: { value: string }) => i.value)).toContain('B-7')
    await page.context().close()
  })

  test('create an API token (shown once) and revoke it; the operations view passes the accessibility check', async () => {
    const page = await newPage()
    await signIn(page, 'lead@staff.example.com')
    await page.getByRole('link', { name: 'Operations' }).click()
    await page.getByRole('heading', { name: 'API tokens' }).waitFor()
    await page.getByText('database up').waitFor()
    const form = page.getByRole('form', { name: 'Create an API token' })
    await form.getByLabel('Name', { exact: true }).fill('shop-c')
    await form.getByLabel('Identity components').fill('identity.shop-c')
    await form.getByLabel('Platform names').fill('shop-c')
    await form.getByRole('button', { name: 'Create token' }).click()
    const shown = page.getByLabel('The new token')
    await shown.waitFor()
    const token = await shown.inputValue()
    expect(token).toMatch(/^chub_/)
    await accessible(page, 'operations')
    await shot(page, 'operations')
    // the token works, bound to its platform
    const works = await hub.app.inject({ method: 'POST', url: '/customer/sync', headers: { authorization: `Bearer ${token}` }, payload: { platform: { component: 'identity.shop-c', externalId: 'C-2' }, email: 'erin@example.com' } })
    expect(works.statusCode, works.body).toBe(201)
    await page.getByRole('button', { name: 'Done' }).click()
    expect(await page.getByLabel('The new token').count()).toBe(0) // shown once: gone from the page

    page.once('dialog', (d) => void d.accept())
    await page.getByRole('button', { name: 'Revoke shop-c' }).click()
    await page.getByText('Token revoked.').waitFor()
    expect((await hub.app.inject({ method: 'GET', url: '/customer?limit=1', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(401)
    await page.context().close()
  })

  test('the conflicts queue leads to the two customers, the merge preview ready', async () => {
    const page = await newPage()
    await signIn(page, 'lead@staff.example.com')
    await page.getByRole('link', { name: 'Conflicts' }).click()
    await page.getByRole('heading', { name: 'Conflicts', level: 1 }).waitFor()
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1)
    expect(await page.locator('tbody tr').textContent()).toContain('phone_shared_with_other_email')
    await accessible(page, 'conflicts')
    await shot(page, 'conflicts')
    await page.getByRole('link', { name: 'Compare and merge' }).click()
    await page.getByRole('heading', { name: 'Merge another customer into this one' }).waitFor()
    expect(page.url()).toContain(`/console/customers/${carol.id}`)
    expect(await page.getByLabel('Customer id to merge in').inputValue()).toBe(dan.documentId)
    await page.getByRole('button', { name: 'Preview' }).click()
    await page.getByLabel('What the merge moves').waitFor()
    expect((await call('GET', `/customer/${dan.documentId}`)).status).toBe(200) // nothing merged without the click

    await page.context().close()
  })

  test('sellers: their service accounts, and a seller suspended and resumed', async () => {
    const onboarded = await call('POST', '/sellers/onboarding', {
      seller: { id: 'sel_console', handle: 'console-shop', name: 'Console Shop' },
      ownerMember: { id: 'mem_1' },
      serviceAccount: { password: 'a seller passphrase', roleId: 'role_seller', organizationId: 'org_market' },
    })
    expect(onboarded.status, onboarded.raw).toBe(201)
    const page = await newPage()
    await signIn(page, 'lead@staff.example.com')
    await page.getByRole('link', { name: 'Sellers and coupons' }).click()
    await page.getByRole('heading', { name: 'Sellers and coupons' }).waitFor()
    await page.getByRole('region', { name: 'Service accounts' }).getByText('console-shop@service.local').waitFor()
    await accessible(page, 'sellers and coupons')
    await shot(page, 'sellers')

    const row = page.getByRole('region', { name: 'Sellers' }).getByRole('row', { name: /Console Shop/ })
    page.once('dialog', (d) => void d.accept())
    await row.getByRole('button', { name: 'Suspend' }).click()
    await row.getByRole('button', { name: 'Resume' }).waitFor()
    const seller = (await call('GET', '/loyalty-providers')).body.data.find((p: { sellerId: string }) => p.sellerId === 'sel_console')
    expect(seller.status).toBe('suspended')
    await row.getByRole('button', { name: 'Resume' }).click()
    await row.getByRole('button', { name: 'Suspend' }).waitFor()
    expect((await call('GET', `/loyalty-providers/${seller.id}`)).body.status).toBe('active')
    await page.context().close()
  })

  test('a support user sees no merge, and the hub refuses one sent with its session', async () => {
    const page = await newPage()
    await signIn(page, 'agent@staff.example.com')
    await page.goto(`${base}/console/customers/${ada.id}`)
    await page.getByRole('heading', { name: 'Ada Lovelace', level: 1 }).waitFor()
    await page.getByRole('heading', { name: 'History' }).waitFor()
    expect(await page.getByRole('heading', { name: 'Merge another customer into this one' }).count()).toBe(0)
    expect(await page.getByRole('form', { name: /Adjust points/ }).count()).toBe(0)
    const status = await page.evaluate(
      async ([target, source]) => {
        const { accessToken } = JSON.parse(sessionStorage.getItem('customer-hub.console.session')!)
        const res = await fetch(`/customer/${target}/merge`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ sourceId: source }) })
        return { status: res.status, code: (await res.json()).code }
      },
      [ada.id, bob.id],
    )
    expect(status).toEqual({ status: 403, code: 'FORBIDDEN' })
    expect((await call('GET', `/customer/${bob.id}`)).status).toBe(200)
    await page.context().close()
  })
})
