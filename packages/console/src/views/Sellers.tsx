import { useEffect, useState } from 'react'
import type { Coupon } from '@his-her/contract'
import { useChange, useRoute } from '../api'
import { useWhoAmI } from '../who'
import { ActionsHeader, Outcome, Pager, Query, TableWrap, money, usePaging, when } from '../ui'

/** Sellers (loyalty providers) with their status, and the gift-card coupons each issued. */
export function Sellers() {
  const who = useWhoAmI()
  const providers = useRoute('listProviders', {})
  const suspend = useChange('suspendSeller', ['listProviders'])
  const resume = useChange('resumeSeller', ['listProviders'])
  const [provider, setProvider] = useState<string | undefined>()
  useEffect(() => {
    document.title = 'Sellers · Customer Hub'
  }, [])
  return (
    <section aria-labelledby="sellers-heading">
      <h1 id="sellers-heading">Sellers and coupons</h1>
      <Query result={providers} what="sellers" isEmpty={(data) => data.data.length === 0} empty={<>No seller yet: POST /sellers/onboarding makes one.</>}>
        {(data) => (
          <TableWrap label="Sellers">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Seller id</th>
                  <th scope="col">Status</th>
                  <th scope="col">Since</th>
                  <ActionsHeader />
                </tr>
              </thead>
              <tbody>
                {data.data.map((p) => (
                  <tr key={p.id}>
                    <td>{p.name}</td>
                    <td>{p.kind}</td>
                    <td>{p.sellerId ?? '—'}</td>
                    <td>{p.status}</td>
                    <td>{when(p.createdAt)}</td>
                    <td className="actions">
                      <button type="button" aria-pressed={provider === p.id} onClick={() => setProvider(provider === p.id ? undefined : p.id)}>
                        Coupons
                      </button>
                      {who.data?.role === 'admin' && p.kind === 'seller' && p.status === 'active' && (
                        <button
                          type="button"
                          onClick={() =>
                            window.confirm(`Suspend ${p.name}? Its service account stops and its coupons cannot be redeemed.`) &&
                            suspend.mutate({ params: { id: p.id } })
                          }
                        >
                          Suspend
                        </button>
                      )}
                      {who.data?.role === 'admin' && p.kind === 'seller' && p.status === 'suspended' && (
                        <button type="button" onClick={() => resume.mutate({ params: { id: p.id } })}>
                          Resume
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </Query>
      <Outcome error={suspend.error ?? resume.error} />
      {who.data?.role === 'admin' && <ServiceAccounts />}
      <Coupons providerId={provider} />
    </section>
  )
}

function Coupons({ providerId }: { providerId: string | undefined }) {
  const paging = usePaging()
  const { first } = paging
  useEffect(first, [providerId]) // another seller's coupons start at their first page
  const coupons = useRoute('listCoupons', { query: { limit: 25, ...(providerId ? { providerId } : {}), ...(paging.cursor ? { cursor: paging.cursor } : {}) } })
  const [open, setOpen] = useState<Coupon | undefined>()
  return (
    <section aria-labelledby="coupons-heading">
      <h2 id="coupons-heading">Coupons{providerId ? ' of the chosen seller' : ''}</h2>
      <Query result={coupons} what="coupons" isEmpty={(data) => data.data.length === 0} empty={<>No coupon.</>}>
        {(data) => (
          <>
            <TableWrap label="Coupons">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Code</th>
                    <th scope="col">Status</th>
                    <th scope="col" className="num">
                      Balance
                    </th>
                    <th scope="col" className="num">
                      Available
                    </th>
                    <th scope="col">Expires</th>
                    <ActionsHeader />
                  </tr>
                </thead>
                <tbody>
                  {data.data.map((c) => (
                    <tr key={c.id}>
                      <td>…{c.codeLast4}</td>
                      <td>{c.status}</td>
                      <td className="num">{c.balance === null ? 'single use' : money(c.balance, c.currency)}</td>
                      <td className="num">{c.available === null ? '—' : money(c.available, c.currency)}</td>
                      <td>{when(c.expiresAt)}</td>
                      <td>
                        {c.accountId && (
                          <button type="button" aria-pressed={open?.id === c.id} onClick={() => setOpen(open?.id === c.id ? undefined : c)}>
                            Redemptions
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
            <Pager label="Coupon pages" atFirst={!paging.cursor} next={data.nextCursor} onFirst={paging.first} onNext={paging.next} />
          </>
        )}
      </Query>
      {open && <Redemptions coupon={open} />}
    </section>
  )
}

/** A coupon's entries in its value ledger: what was loaded, redeemed, held and given back. */
function Redemptions({ coupon }: { coupon: Coupon }) {
  const entries = useRoute('listEntries', { params: { ledger: coupon.ledger!, id: coupon.accountId! }, query: { limit: 100 } })
  return (
    <div className="card">
      <h3>Entries of the coupon …{coupon.codeLast4}</h3>
      <Query result={entries} what="entries" isEmpty={(data) => data.data.length === 0} empty={<>Nothing moved yet.</>}>
        {(data) => (
          <TableWrap label="Coupon entries">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Kind</th>
                  <th scope="col" className="num">
                    Amount
                  </th>
                  <th scope="col" className="num">
                    Balance after
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.data.map((e) => (
                  <tr key={`${e.accountId}-${e.seq}`}>
                    <td>{when(e.createdAt)}</td>
                    <td>{e.kind}</td>
                    <td className="num">{money(e.amount, coupon.currency)}</td>
                    <td className="num">{money(e.balanceAfter, coupon.currency)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </Query>
    </div>
  )
}

/** The service accounts sellers (and the house's partner) sign in with; each acts for its provider. Admins only. */
function ServiceAccounts() {
  const accounts = useRoute('listServiceAccounts', {})
  return (
    <section aria-labelledby="service-accounts-heading">
      <h2 id="service-accounts-heading">Service accounts</h2>
      <Query
        result={accounts}
        what="service accounts"
        isEmpty={(data) => data.data.length === 0}
        empty="No service account: onboarding a seller makes its own."
      >
        {(data) => (
          <TableWrap label="Service accounts">
            <table>
              <thead>
                <tr>
                  <th scope="col">Sign-in email</th>
                  <th scope="col">Provider</th>
                  <th scope="col">Organization</th>
                  <th scope="col">Since</th>
                </tr>
              </thead>
              <tbody>
                {data.data.map((a) => (
                  <tr key={a.id}>
                    <td>{a.email}</td>
                    <td>{a.providerId ?? '—'}</td>
                    <td>{a.organizationId}</td>
                    <td>{when(a.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </Query>
    </section>
  )
}
