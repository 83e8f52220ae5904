import { useEffect, useState, type FormEvent } from 'react'
import type { ApiRole, CreatedToken, Webhook } from '@his-her/contract'
import { useChange, useRoute } from '../api'
import { useWhoAmI } from '../who'
import { ActionsHeader, Field, Outcome, Query, TableWrap, when } from '../ui'

/** Operations: health, imports (with their progress), and for admins API tokens and webhooks. */
export function Operations() {
  const who = useWhoAmI()
  useEffect(() => {
    document.title = 'Operations · Customer Hub'
  }, [])
  return (
    <section aria-labelledby="operations-heading">
      <h1 id="operations-heading">Operations</h1>
      <Health />
      <Imports />
      {who.data?.role === 'admin' && (
        <>
          <Tokens />
          <Webhooks />
        </>
      )}
    </section>
  )
}

function Health() {
  // read every 10 s: this view is where someone looks when something is wrong
  const health = useRoute('health', {}, { refetchInterval: 10_000, retry: false })
  return (
    <section aria-labelledby="health-heading">
      <h2 id="health-heading">Health</h2>
      <Query result={health} what="the health">
        {(data) => (
          <p role="status">
            <span className="badge ok">hub {data.status}</span> <span className="badge ok">database {data.database}</span> · checked{' '}
            {new Date(health.dataUpdatedAt).toLocaleTimeString()}
          </p>
        )}
      </Query>
    </section>
  )
}

function Imports() {
  const imports = useRoute(
    'listImports',
    {},
    {
      // read again every 2 s while one runs
      refetchInterval: (query) => (query.state.data?.data.some((i) => i.status === 'running' || i.status === 'staging') ? 2_000 : false),
    },
  )
  return (
    <section aria-labelledby="imports-heading">
      <h2 id="imports-heading">Imports</h2>
      <Query
        result={imports}
        what="imports"
        isEmpty={(data) => data.data.length === 0}
        empty={<>No import yet. Run customer-hub import FILE --platform COMPONENT, or POST /imports.</>}
      >
        {(data) => (
          <TableWrap label="Imports">
            <table>
              <thead>
                <tr>
                  <th scope="col">Platform</th>
                  <th scope="col">File</th>
                  <th scope="col">Status</th>
                  <th scope="col">Progress</th>
                  <th scope="col" className="num">
                    Created
                  </th>
                  <th scope="col" className="num">
                    Matched
                  </th>
                  <th scope="col" className="num">
                    Conflicts
                  </th>
                  <th scope="col" className="num">
                    Rejected
                  </th>
                  <th scope="col">Started</th>
                </tr>
              </thead>
              <tbody>
                {data.data.map((i) => (
                  <tr key={i.id}>
                    <td>{i.component}</td>
                    <td>{i.source}</td>
                    <td>
                      {i.status}
                      {i.error && <span className="error"> — {i.error}</span>}
                    </td>
                    <td>
                      <progress max={i.totalRows ?? undefined} value={i.processedRows} aria-label={`Rows of ${i.source}`} /> {i.processedRows}
                      {i.totalRows !== null && ` of ${i.totalRows}`}
                    </td>
                    <td className="num">{i.created}</td>
                    <td className="num">{i.matched}</td>
                    <td className="num">{i.conflicts}</td>
                    <td className="num">{i.rejected}</td>
                    <td>{when(i.createdAt)}</td>
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

// the roles of POST /tokens (a list of its own: the contract's values would bring its schema library into the page)
const apiRoles: readonly ApiRole[] = ['admin', 'platform', 'events:read', 'metrics:read']

const list = (raw: FormDataEntryValue | null) =>
  String(raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

function Tokens() {
  const tokens = useRoute('listTokens', {})
  const create = useChange('createToken', ['listTokens'])
  const revoke = useChange('revokeToken', ['listTokens'])
  const [created, setCreated] = useState<CreatedToken | undefined>()
  const [role, setRole] = useState<ApiRole>('platform')

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = e.currentTarget
    const data = new FormData(form)
    const scope = role === 'platform' ? { components: list(data.get('components')), platforms: list(data.get('platforms')) } : {}
    setCreated(undefined)
    create.mutate({ body: { name: String(data.get('name')).trim(), role, ...scope } }, { onSuccess: (token) => (setCreated(token), form.reset()) })
  }

  return (
    <section aria-labelledby="tokens-heading">
      <h2 id="tokens-heading">API tokens</h2>
      <form onSubmit={submit} className="inline" aria-label="Create an API token">
        <Field label="Name">
          <input name="name" required maxLength={64} pattern="[A-Za-z0-9._-]+" />
        </Field>
        <Field label="Role">
          <select name="role" value={role} onChange={(e) => setRole(e.target.value as ApiRole)}>
            {apiRoles.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </Field>
        {role === 'platform' && (
          <>
            <Field label="Identity components" hint="comma-separated, e.g. identity.shopify-eu">
              <input name="components" />
            </Field>
            <Field label="Platform names" hint="comma-separated, e.g. shopify-eu">
              <input name="platforms" />
            </Field>
          </>
        )}
        <button type="submit" disabled={create.isPending}>
          Create token
        </button>
      </form>
      <Outcome error={create.error ?? revoke.error} done={revoke.isSuccess && 'Token revoked.'} />
      {created && (
        <div className="card secret" role="status">
          <p>
            The token <strong>{created.name}</strong> — copy it now, it is shown this once:
          </p>
          <input readOnly value={created.token} aria-label="The new token" onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={() => setCreated(undefined)}>
            Done
          </button>
        </div>
      )}
      <Query result={tokens} what="tokens">
        {(data) => (
          <TableWrap label="API tokens">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Acts for</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <ActionsHeader />
                </tr>
              </thead>
              <tbody>
                {data.data.map((t) => (
                  <tr key={t.id}>
                    <td>{t.name}</td>
                    <td>{t.role}</td>
                    <td>
                      {t.components === null ? 'every platform' : `${t.components.join(', ') || 'no component'}; ${t.platforms?.join(', ') || 'no platform'}`}
                    </td>
                    <td>{when(t.createdAt)}</td>
                    <td>{when(t.lastUsedAt)}</td>
                    <td>
                      <button
                        type="button"
                        aria-label={`Revoke ${t.name}`}
                        onClick={() =>
                          window.confirm(`Revoke the token ${t.name}? Whatever uses it stops working.`) && revoke.mutate({ params: { name: t.name } })
                        }
                      >
                        Revoke
                      </button>
                    </td>
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

function Webhooks() {
  const webhooks = useRoute('listWebhooks', {})
  const [open, setOpen] = useState<string | undefined>()
  return (
    <section aria-labelledby="webhooks-heading">
      <h2 id="webhooks-heading">Webhooks</h2>
      <Query result={webhooks} what="webhooks" isEmpty={(data) => data.data.length === 0} empty={<>No webhook subscription. POST /webhooks makes one.</>}>
        {(data) => (
          <ul className="cards">
            {data.data.map((w) => (
              <li key={w.id}>
                <p>
                  <strong>{w.url}</strong> <span className="badge">{w.enabled ? 'enabled' : `disabled${w.disabledReason ? `: ${w.disabledReason}` : ''}`}</span>
                  {w.failingSince && <span className="badge error">failing since {when(w.failingSince)}</span>}
                </p>
                <p className="meta">{w.events.join(', ')}</p>
                <button type="button" aria-expanded={open === w.id} onClick={() => setOpen(open === w.id ? undefined : w.id)}>
                  {open === w.id ? 'Hide deliveries' : 'Deliveries'}
                </button>
                {open === w.id && <Deliveries webhook={w} />}
              </li>
            ))}
          </ul>
        )}
      </Query>
    </section>
  )
}

function Deliveries({ webhook }: { webhook: Webhook }) {
  const deliveries = useRoute('listWebhookDeliveries', { params: { id: webhook.id }, query: { limit: 50 } })
  const replay = useChange('replayWebhook', ['listWebhookDeliveries'])
  return (
    <div>
      <Query result={deliveries} what="deliveries" isEmpty={(data) => data.data.length === 0} empty={<>Nothing delivered yet.</>}>
        {(data) => (
          <TableWrap label="Deliveries">
            <table>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">
                    Attempts
                  </th>
                  <th scope="col">Last answer</th>
                  <th scope="col">Last attempt</th>
                  <ActionsHeader />
                </tr>
              </thead>
              <tbody>
                {data.data.map((d) => (
                  <tr key={d.eventId}>
                    <td>
                      <code>{d.eventId}</code>
                    </td>
                    <td>{d.status}</td>
                    <td className="num">{d.attempts}</td>
                    <td>{d.lastStatus ?? d.lastError ?? '—'}</td>
                    <td>{when(d.lastAttemptAt)}</td>
                    <td>
                      {d.status !== 'pending' && (
                        <button type="button" onClick={() => replay.mutate({ params: { id: webhook.id }, body: { from: d.eventId } })}>
                          Replay from here
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
      <Outcome error={replay.error} done={replay.isSuccess && `${replay.data.replayed} deliveries will be sent again.`} />
    </div>
  )
}
