import { useState, type FormEvent } from 'react'
import { useNavigate } from 'react-router'
import { messageOf, signIn } from '../session'
import { Field } from '../ui'

export function SignIn() {
  const navigate = useNavigate()
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    setBusy(true)
    setError(undefined)
    try {
      await signIn(String(form.get('email')), String(form.get('password')))
      navigate('/customers', { replace: true })
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <main className="sign-in" id="main">
      <h1>Customer Hub</h1>
      <form onSubmit={submit} aria-describedby={error ? 'sign-in-error' : undefined}>
        <Field label="Email">
          <input name="email" type="email" autoComplete="username" required autoFocus />
        </Field>
        <Field label="Password">
          <input name="password" type="password" autoComplete="current-password" required />
        </Field>
        {error !== undefined && (
          <p id="sign-in-error" className="outcome error" role="alert">
            {messageOf(error)}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  )
}
