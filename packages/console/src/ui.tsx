import { useState, type ReactNode } from 'react'
import type { UseQueryResult } from '@tanstack/react-query'
import { messageOf } from './session'

/** A view's loading state, announced to screen readers. */
export function Loading({ what }: { what: string }) {
  return (
    <p className="state" role="status" aria-live="polite">
      Loading {what}…
    </p>
  )
}

/** A view's error state: what went wrong, and a way to try again. */
export function Failed({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div className="state error" role="alert">
      <p>{messageOf(error)}</p>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  )
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="state empty">{children}</p>
}

/** A labelled form field. */
export function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
      {hint && <small>{hint}</small>}
    </label>
  )
}

/** The outcome of a change: its error, or a short confirmation. */
export function Outcome({ error, done }: { error: unknown; done?: string | false }) {
  if (error)
    return (
      <p className="outcome error" role="alert">
        {messageOf(error)}
      </p>
    )
  if (done)
    return (
      <p className="outcome ok" role="status">
        {done}
      </p>
    )
  return null
}

/** An amount in minor units (cents) of `currency`, as a person reads it; without a currency, the number as it is. */
export function money(minor: number, currency: string | null): string {
  if (!currency) return String(minor)
  const format = new Intl.NumberFormat(undefined, { style: 'currency', currency })
  return format.format(minor / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2))
}
export const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '—')
export const nameOf = (c: { firstName: string | null; lastName: string | null; email: string | null; id: string }) =>
  [c.firstName, c.lastName].filter(Boolean).join(' ') || c.email || c.id

/** A table that scrolls sideways on a narrow screen: a named region the keyboard can reach and scroll. */
export function TableWrap({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  )
}

/**
 * A read's three states before its data — loading, failed (with a retry), empty — then the view
 * of its data.
 */
export function Query<T>({
  result,
  what,
  isEmpty,
  empty,
  children,
}: {
  result: UseQueryResult<T>
  what: string
  isEmpty?: (data: T) => boolean
  empty?: ReactNode
  children: (data: T) => ReactNode
}) {
  if (result.isPending) return <Loading what={what} />
  if (result.isError) return <Failed error={result.error} retry={() => result.refetch()} />
  if (isEmpty?.(result.data)) return <Empty>{empty}</Empty>
  return <>{children(result.data)}</>
}

/** The header cell over a column of buttons: named for screen readers only. */
export const ActionsHeader = () => (
  <th scope="col">
    <span className="visually-hidden">Actions</span>
  </th>
)

/** Where a cursor-paged read is: its cursor (undefined: the first page), and the moves to the first page and on. */
export function usePaging() {
  const [cursor, setCursor] = useState<string | undefined>()
  return { cursor, first: () => setCursor(undefined), next: (to: string) => setCursor(to) }
}

/** The first-page and next-page buttons of a paged list; `next` is the cursor of the page after, null on the last. */
export function Pager({
  label,
  atFirst,
  next,
  onFirst,
  onNext,
  firstText = 'First page',
  nextText = 'Next page',
}: {
  label: string
  atFirst: boolean
  next: string | null | undefined
  onFirst: () => void
  onNext: (cursor: string) => void
  firstText?: string
  nextText?: string
}) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" onClick={onFirst} disabled={atFirst}>
        {firstText}
      </button>
      <button type="button" onClick={() => next && onNext(next)} disabled={!next}>
        {nextText}
      </button>
    </nav>
  )
}
