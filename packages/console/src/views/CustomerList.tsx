import { useEffect, useRef, type FormEvent } from 'react'
import { Link, useLocation, useNavigate } from 'react-router'
import type { CustomerListQuery } from '@his-her/contract'
import { useRoute } from '../api'
import { Field, Pager, Query, TableWrap, money, nameOf, when } from '../ui'

/**
 * The filters of GET /customer the form offers, in the order shown. The list's state survives a
 * reload: the filters that say nothing about a person live in the URL; a search term, an email
 * and the page's cursor (which holds the last row's sort value, a last name say) live in the
 * tab's history entry instead, so that nothing personal is in the URL.
 */
const privateKeys = ['q', 'email', 'cursor'] as const
const textFilters = ['q', 'email', 'group', 'minOrders', 'maxOrders', 'minSpent', 'createdAfter', 'createdBefore'] as const
const numeric = new Set(['minOrders', 'maxOrders', 'minSpent'])
const sorts = ['createdAt:desc', 'createdAt:asc', 'totalSpent:desc', 'totalSpent:asc', 'orderCount:desc', 'orderCount:asc', 'lastName:asc', 'lastName:desc']
const labels: Record<string, string> = {
  q: 'Search',
  email: 'Email',
  group: 'Group',
  minOrders: 'Orders at least',
  maxOrders: 'Orders at most',
  minSpent: 'Spent at least (minor units)',
  createdAfter: 'Created after',
  createdBefore: 'Created before',
}

type Hidden = Partial<Record<(typeof privateKeys)[number], string>>

/** The list query the URL and the history entry say. */
function queryOf(params: URLSearchParams): CustomerListQuery {
  const query: Record<string, unknown> = { limit: 25 }
  for (const key of [...textFilters, 'sort', 'cursor', 'hasAccount']) {
    const value = params.get(key)
    if (!value) continue
    if (numeric.has(key)) query[key] = Number(value)
    else if (key === 'hasAccount') query[key] = value === 'true'
    else if (key === 'createdAfter' || key === 'createdBefore') query[key] = new Date(value).toISOString()
    else query[key] = value
  }
  return query as CustomerListQuery
}

export function CustomerList() {
  const location = useLocation()
  const navigate = useNavigate()
  const hidden = (location.state ?? {}) as Hidden
  // one view of both, as the form and the query read them
  const params = new URLSearchParams(location.search)
  for (const key of privateKeys) if (hidden[key]) params.set(key, hidden[key])
  const query = queryOf(params)
  const setParams = (next: URLSearchParams) => {
    const state: Hidden = {}
    for (const key of privateKeys) {
      const value = next.get(key)
      if (value) state[key] = value
      next.delete(key)
    }
    const search = next.toString()
    navigate({ search: search ? `?${search}` : '' }, { state })
  }
  const list = useRoute('listCustomers', { query })
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => {
    document.title = 'Customers · Customer Hub'
  }, [])

  function apply(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const next = new URLSearchParams()
    for (const [key, value] of new FormData(e.currentTarget)) if (typeof value === 'string' && value.trim() !== '') next.set(key, value.trim())
    setParams(next) // a new filter starts at the first page
  }
  const page = (cursor: string | null) => {
    const next = new URLSearchParams(params)
    if (cursor) next.set('cursor', cursor)
    else next.delete('cursor')
    setParams(next)
    heading.current?.focus()
  }

  return (
    <section aria-labelledby="customers-heading">
      <h1 id="customers-heading" tabIndex={-1} ref={heading}>
        Customers
      </h1>
      <form className="filters" onSubmit={apply} role="search" aria-label="Filter customers" key={params.toString()}>
        {textFilters.map((key) => (
          <Field key={key} label={labels[key]!}>
            <input
              name={key}
              defaultValue={params.get(key) ?? ''}
              type={numeric.has(key) ? 'number' : key.startsWith('created') ? 'date' : key === 'email' ? 'email' : 'search'}
              min={numeric.has(key) ? 0 : undefined}
            />
          </Field>
        ))}
        <Field label="Account">
          <select name="hasAccount" defaultValue={params.get('hasAccount') ?? ''}>
            <option value="">Any</option>
            <option value="true">With an account</option>
            <option value="false">Without</option>
          </select>
        </Field>
        <Field label="Sort">
          <select name="sort" defaultValue={params.get('sort') ?? 'createdAt:desc'}>
            {sorts.map((s) => (
              <option key={s} value={s}>
                {s.replace(':', ' ')}
              </option>
            ))}
          </select>
        </Field>
        <div className="actions">
          <button type="submit">Apply</button>
          <button type="button" onClick={() => setParams(new URLSearchParams())}>
            Clear
          </button>
        </div>
      </form>

      <Query result={list} what="customers" isEmpty={(data) => data.data.length === 0} empty={<>No customer matches these filters.</>}>
        {(data) => (
          <>
            <TableWrap label="Customers">
              <table aria-describedby="customers-heading" aria-busy={list.isFetching}>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Email</th>
                    <th scope="col">Phone</th>
                    <th scope="col">Groups</th>
                    <th scope="col" className="num">
                      Orders
                    </th>
                    <th scope="col" className="num">
                      Spent
                    </th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {data.data.map((c) => (
                    <tr key={c.id}>
                      <td>
                        <Link to={`/customers/${c.id}`}>{nameOf(c)}</Link>
                      </td>
                      <td>{c.email ?? '—'}</td>
                      <td>{c.phone ?? '—'}</td>
                      <td>{c.groups.join(', ') || '—'}</td>
                      <td className="num">{c.orderCount}</td>
                      <td className="num">{money(c.totalSpent, c.currency)}</td>
                      <td>{when(c.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
            <Pager label="Pages" atFirst={!params.get('cursor')} next={data.nextCursor} onFirst={() => page(null)} onNext={page} />
          </>
        )}
      </Query>
    </section>
  )
}
