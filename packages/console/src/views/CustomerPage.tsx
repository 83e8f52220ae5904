import { useEffect, useState, type FormEvent } from 'react'
import { Link, useParams, useSearchParams } from 'react-router'
import { isHubApiError } from '@his-her/connect'
import type { Address, Customer, Identity, RewardAccountBalance } from '@his-her/contract'
import { call, useChange, useRoute } from '../api'
import { useWhoAmI } from '../who'
import { Empty, Failed, Field, Loading, Outcome, Pager, Query, TableWrap, money, nameOf, usePaging, when } from '../ui'

/** The reads a change on this page may make stale. */
const customerReads = ['getCustomer', 'listCustomers', 'customerHistory', 'listEvents', 'listCustomerOrders'] as const

/** Form fields as a patch: empty text is null (cleared), untouched fields are left out. */
function patchOf(form: FormData, keys: readonly string[]): Record<string, string | null> {
  const patch: Record<string, string | null> = {}
  for (const key of keys) {
    const value = form.get(key)
    if (value === null) continue
    patch[key] = String(value).trim() === '' ? null : String(value).trim()
  }
  return patch
}

export function CustomerPage() {
  const { id = '' } = useParams()
  const customer = useRoute('getCustomer', { params: { id } }, { retry: false })
  useEffect(() => {
    // nothing personal in the title: the id is not
    document.title = 'Customer · Customer Hub'
  }, [])

  if (customer.isPending) return <Loading what="the customer" />
  if (customer.isError) {
    const merged = isHubApiError(customer.error, 'CUSTOMER_MERGED') ? (customer.error.details as { mergedInto?: string } | undefined)?.mergedInto : undefined
    return (
      <section>
        <h1>Customer</h1>
        <Failed error={customer.error} retry={() => customer.refetch()} />
        {merged && (
          <p>
            It was merged into <Link to={`/customers/${merged}`}>{merged}</Link>.
          </p>
        )}
      </section>
    )
  }
  const c = customer.data
  return (
    <article aria-labelledby="customer-heading">
      <p>
        <Link to="/customers">← Customers</Link>
      </p>
      <h1 id="customer-heading">{nameOf(c)}</h1>
      <p className="meta">
        <code>{c.id}</code> · created {when(c.createdAt)} · {c.orderCount} orders, {money(c.totalSpent, c.currency)} ·{' '}
        {c.hasAccount ? 'has an account' : 'no account'}
      </p>
      <Profile customer={c} />
      <Groups customer={c} />
      <Addresses customer={c} />
      <Identities id={c.id} />
      <Orders id={c.id} />
      <RewardAccounts id={c.id} />
      <Merge customer={c} />
      <History id={c.id} />
      <Events id={c.id} />
    </article>
  )
}

function Profile({ customer }: { customer: Customer }) {
  const change = useChange('updateCustomer', [...customerReads])
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    change.mutate({ params: { id: customer.id }, body: patchOf(new FormData(e.currentTarget), ['firstName', 'lastName', 'email', 'phone']) })
  }
  return (
    <section aria-labelledby="profile-heading">
      <h2 id="profile-heading">Profile</h2>
      <form onSubmit={submit} className="grid" key={customer.updatedAt}>
        <Field label="First name">
          <input name="firstName" defaultValue={customer.firstName ?? ''} />
        </Field>
        <Field label="Last name">
          <input name="lastName" defaultValue={customer.lastName ?? ''} />
        </Field>
        <Field label="Email">
          <input name="email" type="email" defaultValue={customer.email ?? ''} />
        </Field>
        <Field label="Phone" hint="E.164, e.g. +14155550101">
          <input name="phone" type="tel" defaultValue={customer.phone ?? ''} />
        </Field>
        <div className="actions">
          <button type="submit" disabled={change.isPending}>
            Save profile
          </button>
        </div>
      </form>
      <Outcome error={change.error} done={change.isSuccess && 'Profile saved.'} />
    </section>
  )
}

function Groups({ customer }: { customer: Customer }) {
  const add = useChange('addToGroup', [...customerReads])
  const remove = useChange('removeFromGroup', [...customerReads])
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const form = e.currentTarget
    const group = String(new FormData(form).get('group') ?? '').trim()
    if (group) add.mutate({ params: { id: customer.id }, body: { group } }, { onSuccess: () => form.reset() })
  }
  return (
    <section aria-labelledby="groups-heading">
      <h2 id="groups-heading">Groups</h2>
      {customer.groups.length === 0 ? (
        <Empty>In no group.</Empty>
      ) : (
        <ul className="chips">
          {customer.groups.map((g) => (
            <li key={g}>
              {g}{' '}
              <button type="button" aria-label={`Remove from group ${g}`} onClick={() => remove.mutate({ params: { id: customer.id, group: g } })}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={submit} className="inline">
        <Field label="Add to group">
          <input name="group" required />
        </Field>
        <button type="submit" disabled={add.isPending}>
          Add
        </button>
      </form>
      <Outcome error={add.error ?? remove.error} />
    </section>
  )
}

const addressKeys = ['label', 'firstName', 'lastName', 'line1', 'line2', 'city', 'state', 'postalCode', 'country', 'phone'] as const
const addressLabels: Record<(typeof addressKeys)[number], string> = {
  label: 'Label',
  firstName: 'First name',
  lastName: 'Last name',
  line1: 'Address line 1',
  line2: 'Address line 2',
  city: 'City',
  state: 'State',
  postalCode: 'Postal code',
  country: 'Country (2 letters)',
  phone: 'Phone',
}

function AddressForm({
  address,
  onSubmit,
  busy,
  label,
}: {
  address?: Address
  onSubmit: (body: Record<string, string | null>) => void
  busy: boolean
  label: string
}) {
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const body = patchOf(new FormData(e.currentTarget), addressKeys)
    // a new address leaves out what is empty; an edit clears it
    if (!address) for (const key of Object.keys(body)) if (body[key] === null) delete body[key]
    onSubmit(body)
  }
  return (
    <form onSubmit={submit} className="grid" aria-label={label}>
      {addressKeys.map((key) => (
        <Field key={key} label={addressLabels[key]}>
          <input name={key} defaultValue={address?.[key] ?? ''} required={key === 'line1' || key === 'city' || key === 'country'} />
        </Field>
      ))}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {label}
        </button>
      </div>
    </form>
  )
}

function Addresses({ customer }: { customer: Customer }) {
  const add = useChange('addAddress', [...customerReads])
  const update = useChange('updateAddress', [...customerReads])
  const remove = useChange('removeAddress', [...customerReads])
  const [editing, setEditing] = useState<string | undefined>()
  const [adding, setAdding] = useState(false)
  return (
    <section aria-labelledby="addresses-heading">
      <h2 id="addresses-heading">Addresses</h2>
      {customer.addresses.length === 0 && <Empty>No address.</Empty>}
      <ul className="cards">
        {customer.addresses.map((a) => (
          <li key={a.id}>
            {editing === a.id ? (
              <AddressForm
                address={a}
                label="Save address"
                busy={update.isPending}
                onSubmit={(body) => update.mutate({ params: { id: customer.id, addressId: a.id }, body }, { onSuccess: () => setEditing(undefined) })}
              />
            ) : (
              <>
                <p>
                  {a.label && <strong>{a.label} · </strong>}
                  {[a.line1, a.line2, a.city, a.state, a.postalCode, a.country].filter(Boolean).join(', ')}
                  {a.isDefault && <span className="badge">default</span>}
                </p>
                <div className="actions">
                  <button type="button" onClick={() => setEditing(a.id)}>
                    Edit
                  </button>
                  {!a.isDefault && (
                    <button type="button" onClick={() => update.mutate({ params: { id: customer.id, addressId: a.id }, body: { isDefault: true } })}>
                      Make default
                    </button>
                  )}
                  <button type="button" onClick={() => remove.mutate({ params: { id: customer.id, addressId: a.id } })}>
                    Delete
                  </button>
                </div>
              </>
            )}
          </li>
        ))}
      </ul>
      {adding ? (
        <AddressForm
          label="Add address"
          busy={add.isPending}
          onSubmit={(body) => add.mutate({ params: { id: customer.id }, body: body as never }, { onSuccess: () => setAdding(false) })}
        />
      ) : (
        <button type="button" onClick={() => setAdding(true)}>
          New address
        </button>
      )}
      <Outcome error={add.error ?? update.error ?? remove.error} done={update.isSuccess && 'Address saved.'} />
    </section>
  )
}

function Identities({ id }: { id: string }) {
  const identities = useRoute('listIdentities', { params: { id } })
  return (
    <section aria-labelledby="identities-heading">
      <h2 id="identities-heading">Identities</h2>
      <Query result={identities} what="identities" isEmpty={(data) => data.data.length === 0} empty={<>No identity.</>}>
        {(data) => <IdentityTable identities={data.data} />}
      </Query>
    </section>
  )
}

function IdentityTable({ identities }: { identities: Identity[] }) {
  return (
    <TableWrap label="Identities">
      <table>
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Platform</th>
            <th scope="col">Value</th>
            <th scope="col">How it came</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {identities.map((i) => (
            <tr key={i.id}>
              <td>{i.kind}</td>
              <td>{i.namespace || '—'}</td>
              <td>{i.value}</td>
              <td>
                {i.linkedBy.via}
                {i.linkedBy.component && ` from ${i.linkedBy.component}`}
                {i.linkedBy.rule && ` (matched by ${i.linkedBy.rule})`}
                {i.mergeId && (
                  <>
                    {' '}
                    (merge <code>{i.mergeId}</code>)
                  </>
                )}
              </td>
              <td>{when(i.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  )
}

function RewardAccounts({ id }: { id: string }) {
  const accounts = useRoute('listRewardAccounts', { params: { id } })
  return (
    <section aria-labelledby="points-heading">
      <h2 id="points-heading">Reward accounts</h2>
      <Query result={accounts} what="reward accounts" isEmpty={(data) => data.data.length === 0} empty={<>No reward account yet.</>}>
        {(data) => data.data.map((a) => <RewardAccount key={a.id} account={a} customerId={id} />)}
      </Query>
    </section>
  )
}

function RewardAccount({ account, customerId }: { account: RewardAccountBalance; customerId: string }) {
  const who = useWhoAmI()
  const adjust = useChange('postTransaction', ['listRewardAccounts', 'customerHistory', 'listEntries', 'listEvents'])
  const [entries, setEntries] = useState(false)
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const form = e.currentTarget
    const data = new FormData(form)
    adjust.mutate(
      {
        params: { ledger: account.ledger },
        body: { kind: 'adjust', idempotencyKey: crypto.randomUUID(), customerId, amount: Number(data.get('amount')), reason: String(data.get('reason')) },
      },
      { onSuccess: () => form.reset() },
    )
  }
  return (
    <div className="card">
      <h3>{account.ledger}</h3>
      <dl className="figures">
        <dt>Balance</dt>
        <dd>{account.balance}</dd>
        <dt>Available</dt>
        <dd>{account.available}</dd>
        <dt>Held</dt>
        <dd>{account.held}</dd>
        <dt>Pending</dt>
        <dd>{account.pending}</dd>
      </dl>
      {account.lots.length > 0 && (
        <TableWrap label="Lots">
          <table>
            <caption>Lots, soonest to expire first</caption>
            <thead>
              <tr>
                <th scope="col" className="num">
                  Points left
                </th>
                <th scope="col" className="num">
                  Of
                </th>
                <th scope="col">Expires</th>
                <th scope="col">Available from</th>
              </tr>
            </thead>
            <tbody>
              {account.lots.map((l) => (
                <tr key={l.id}>
                  <td className="num">{l.remaining}</td>
                  <td className="num">{l.amount}</td>
                  <td>{l.expiresAt ? when(l.expiresAt) : 'never'}</td>
                  <td>{l.pending ? when(l.availableAt) : 'now'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <button type="button" aria-expanded={entries} onClick={() => setEntries(!entries)}>
        {entries ? 'Hide entries' : 'Entries'}
      </button>
      {entries && <Entries ledger={account.ledger} accountId={account.id} />}
      {who.data?.role === 'admin' && (
        <form onSubmit={submit} className="inline" aria-label={`Adjust points of ${account.ledger}`}>
          <Field label="Points (negative removes)">
            <input name="amount" type="number" required step={1} />
          </Field>
          <Field label="Reason">
            <input name="reason" required maxLength={500} />
          </Field>
          <button type="submit" disabled={adjust.isPending}>
            Adjust
          </button>
        </form>
      )}
      <Outcome error={adjust.error} done={adjust.isSuccess && 'Points adjusted.'} />
    </div>
  )
}

interface Preview {
  source: Customer
  identities: Identity[]
  accounts: RewardAccountBalance[]
}

/** Merging another customer into this one: a preview of what moves, then the merge. Admins only. */
function Merge({ customer }: { customer: Customer }) {
  const who = useWhoAmI()
  const merge = useChange('mergeCustomers', [...customerReads, 'listIdentities', 'listRewardAccounts'])
  const [preview, setPreview] = useState<Preview | undefined>()
  const [previewError, setPreviewError] = useState<unknown>()
  // from the conflicts: the other customer, ready to preview
  const [search] = useSearchParams()
  const mergeFrom = search.get('mergeFrom') ?? ''
  if (who.data?.role !== 'admin') return null

  async function load(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const sourceId = String(new FormData(e.currentTarget).get('sourceId')).trim()
    setPreview(undefined)
    setPreviewError(undefined)
    merge.reset()
    try {
      const [source, identities, accounts] = await Promise.all([
        call('getCustomer', { params: { id: sourceId } }),
        call('listIdentities', { params: { id: sourceId } }),
        call('listRewardAccounts', { params: { id: sourceId } }),
      ])
      setPreview({ source, identities: identities.data, accounts: accounts.data })
    } catch (err) {
      setPreviewError(err)
    }
  }

  return (
    <section aria-labelledby="merge-heading">
      <h2 id="merge-heading">Merge another customer into this one</h2>
      <form onSubmit={load} className="inline">
        <Field label="Customer id to merge in">
          <input name="sourceId" required pattern="cus_[0-9A-Z]{26}" defaultValue={mergeFrom} />
        </Field>
        <button type="submit">Preview</button>
      </form>
      <Outcome error={previewError} />
      {preview && !merge.isSuccess && (
        <div className="card preview" aria-label="What the merge moves">
          <p>
            Merging <Link to={`/customers/${preview.source.id}`}>{nameOf(preview.source)}</Link> into {nameOf(customer)} moves:
          </p>
          <ul>
            <li>
              {preview.identities.length} identit{preview.identities.length === 1 ? 'y' : 'ies'}
            </li>
            <li>
              {preview.source.orderCount} orders ({money(preview.source.totalSpent, preview.source.currency)})
            </li>
            {preview.accounts.map((a) => (
              <li key={a.id}>
                {a.balance} points of {a.ledger}
              </li>
            ))}
            {preview.source.addresses.length > 0 && <li>{preview.source.addresses.length} addresses</li>}
            {preview.source.groups.length > 0 && <li>groups {preview.source.groups.join(', ')}</li>}
          </ul>
          {preview.identities.length > 0 && <IdentityTable identities={preview.identities} />}
          <button
            type="button"
            className="danger"
            disabled={merge.isPending}
            onClick={() => merge.mutate({ params: { id: customer.id }, body: { sourceId: preview.source.id } })}
          >
            Merge
          </button>
        </div>
      )}
      <Outcome error={merge.error} done={merge.isSuccess && `Merged. It can be undone from the history below.`} />
    </section>
  )
}

function History({ id }: { id: string }) {
  const who = useWhoAmI()
  const history = useRoute('customerHistory', { params: { id }, query: { limit: 100 } })
  const undo = useChange('undoMerge', [...customerReads, 'listIdentities', 'listRewardAccounts'])
  return (
    <section aria-labelledby="history-heading">
      <h2 id="history-heading">History</h2>
      <Query result={history} what="the history" isEmpty={(data) => data.data.length === 0} empty={<>Nothing recorded yet.</>}>
        {(data) => (
          <ol className="history">
            {data.data.map((h) => (
              <li key={h.sequence}>
                <time dateTime={h.at}>{when(h.at)}</time> <span className="badge">{h.kind}</span> {h.summary}
                {h.kind === 'merged' && h.merge && !h.merge.undoneAt && who.data?.role === 'admin' && (
                  <button type="button" onClick={() => undo.mutate({ params: { id: h.merge!.id } })} disabled={undo.isPending}>
                    Undo this merge
                  </button>
                )}
              </li>
            ))}
          </ol>
        )}
      </Query>
      <Outcome error={undo.error} done={undo.isSuccess && 'The merge was undone.'} />
    </section>
  )
}

/** An account's entries, newest first: what moved its points, and the balance after each. */
function Entries({ ledger, accountId }: { ledger: string; accountId: string }) {
  const entries = useRoute('listEntries', { params: { ledger, id: accountId }, query: { limit: 50 } })
  return (
    <Query result={entries} what="entries" isEmpty={(data) => data.data.length === 0} empty="No entry yet.">
      {(data) => (
        <TableWrap label={`Entries of ${ledger}`}>
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Kind</th>
                <th scope="col" className="num">
                  Points
                </th>
                <th scope="col" className="num">
                  Balance after
                </th>
                <th scope="col">Transaction</th>
              </tr>
            </thead>
            <tbody>
              {data.data.map((e) => (
                <tr key={e.seq}>
                  <td>{when(e.createdAt)}</td>
                  <td>{e.kind}</td>
                  <td className="num">{e.amount > 0 ? `+${e.amount}` : e.amount}</td>
                  <td className="num">{e.balanceAfter}</td>
                  <td>
                    <code>{e.transactionId}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </Query>
  )
}

/** The customer's events in the feed, oldest first, a page at a time. */
function Events({ id }: { id: string }) {
  const paging = usePaging()
  const events = useRoute('listEvents', { query: { customerId: id, after: paging.cursor ?? '0', limit: 25 } })
  return (
    <section aria-labelledby="events-heading">
      <h2 id="events-heading">Events</h2>
      <Query result={events} what="events" isEmpty={(data) => data.data.length === 0} empty="No event.">
        {(data) => (
          <ol className="history">
            {data.data.map((e) => (
              <li key={e.id}>
                <time dateTime={e.createdAt}>{when(e.createdAt)}</time> <span className="badge">{e.type}</span>
              </li>
            ))}
          </ol>
        )}
      </Query>
      <Pager
        label="Event pages"
        atFirst={!paging.cursor}
        next={events.data?.data.length === 25 ? events.data.nextAfter : null}
        onFirst={paging.first}
        onNext={paging.next}
        firstText="First events"
        nextText="Later events"
      />
    </section>
  )
}

/** The customer's orders, newest first, a page at a time. */
function Orders({ id }: { id: string }) {
  const paging = usePaging()
  const orders = useRoute('listCustomerOrders', { params: { id }, query: { limit: 20, ...(paging.cursor ? { cursor: paging.cursor } : {}) } })
  return (
    <section aria-labelledby="orders-heading">
      <h2 id="orders-heading">Orders</h2>
      <Query result={orders} what="orders" isEmpty={(data) => data.data.length === 0} empty="No order reported.">
        {(data) => (
          <TableWrap label="Orders">
            <table>
              <thead>
                <tr>
                  <th scope="col">Placed</th>
                  <th scope="col">Platform</th>
                  <th scope="col">Order</th>
                  <th scope="col" className="num">
                    Total
                  </th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {data.data.map((o) => (
                  <tr key={o.id}>
                    <td>{when(o.placedAt)}</td>
                    <td>{o.platform}</td>
                    <td>
                      {o.externalId}
                      {o.orderCount > 1 && ` (${o.orderCount} orders, imported)`}
                    </td>
                    <td className="num">{money(o.total, o.currency)}</td>
                    <td>{o.cancelledAt ? `cancelled ${when(o.cancelledAt)}` : 'counted'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </Query>
      <Pager
        label="Order pages"
        atFirst={!paging.cursor}
        next={orders.data?.nextCursor}
        onFirst={paging.first}
        onNext={paging.next}
        firstText="Newest orders"
        nextText="Older orders"
      />
    </section>
  )
}
