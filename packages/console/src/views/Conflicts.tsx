import { useEffect } from 'react'
import { Link } from 'react-router'
import { useRoute } from '../api'
import { ActionsHeader, Pager, Query, TableWrap, usePaging, when } from '../ui'

interface ConflictPayload {
  customerId: string
  conflict: { kind: string; namespace: string; value: string; customerId: string; reason: string }
}

/**
 * Who is who: the identity conflicts syncs reported (an identifier that another customer keeps),
 * oldest first, as a work queue. Each opens the customer that keeps the identifier with the
 * other one ready to merge in, after its preview.
 */
export function Conflicts() {
  const paging = usePaging()
  const events = useRoute('listEvents', { query: { type: 'customer.identity_conflict', after: paging.cursor ?? '0', limit: 50 } })
  useEffect(() => {
    document.title = 'Conflicts · Customer Hub'
  }, [])
  return (
    <section aria-labelledby="conflicts-heading">
      <h1 id="conflicts-heading">Conflicts</h1>
      <p className="meta">Identifiers a sync found with another customer, oldest first. Open one to compare the two and merge them if they are one person.</p>
      <Query result={events} what="conflicts" isEmpty={(data) => data.data.length === 0} empty={<>No conflict{paging.cursor ? ' after these' : ''}.</>}>
        {(data) => (
          <TableWrap label="Conflicts">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Identifier</th>
                  <th scope="col">Why</th>
                  <th scope="col">Reported by</th>
                  <th scope="col">Kept by</th>
                  <ActionsHeader />
                </tr>
              </thead>
              <tbody>
                {data.data.map((e) => {
                  const p = e.payload as unknown as ConflictPayload
                  return (
                    <tr key={e.id}>
                      <td>{when(e.createdAt)}</td>
                      <td>
                        {p.conflict.kind}
                        {p.conflict.namespace && ` in ${p.conflict.namespace}`}: {p.conflict.value}
                      </td>
                      <td>{p.conflict.reason}</td>
                      <td>
                        <Link to={`/customers/${p.customerId}`}>{p.customerId}</Link>
                      </td>
                      <td>
                        <Link to={`/customers/${p.conflict.customerId}`}>{p.conflict.customerId}</Link>
                      </td>
                      <td>
                        <Link to={`/customers/${p.conflict.customerId}?mergeFrom=${p.customerId}`}>Compare and merge</Link>
                      </td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </TableWrap>
        )}
      </Query>
      <Pager
        label="Conflict pages"
        atFirst={!paging.cursor}
        next={events.data?.data.length === 50 ? events.data.nextAfter : null}
        onFirst={paging.first}
        onNext={paging.next}
      />
    </section>
  )
}
