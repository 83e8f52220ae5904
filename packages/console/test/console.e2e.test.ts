import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
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
  bob = (await call('POST', '/customer', { email: 'ada.l@example.org', firstName: 'Ada', lastName: 'L', phone: '+14155550102' })).body
  await call('POST', `/customer/${bob.id}/identities`, { kind: 'platform', namespace: 'identity.shop-b', value: 'B-7', externalIdField: 'bId' })
  for (let i = 0; i < 30; i++) await call('POST', '/customer', { email: `someone${i}@example.com`, lastName: `Person ${i}` })

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
    await page.getByRole('button', { name: 'Next page' }).click()
    await expect.poll(() => page.locator('tbody tr').count()).toBe(7)
    await page.reload()
    await expect.poll(() => page.locator('tbody tr').count()).toBe(7)

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
