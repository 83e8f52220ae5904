import { useEffect, useSyncExternalStore } from 'react'
import { Navigate, NavLink, Outlet, Route, Routes, useLocation } from 'react-router'
import { useQueryClient } from '@tanstack/react-query'
import { onSessionChange, signedIn, signOut } from './session'
import { useWhoAmI } from './who'
import { SignIn } from './views/SignIn'
import { CustomerList } from './views/CustomerList'
import { CustomerPage } from './views/CustomerPage'
import { NotFound } from './views/NotFound'
import { Conflicts } from './views/Conflicts'
import { Sellers } from './views/Sellers'
import { Operations } from './views/Operations'

const useSignedIn = () => useSyncExternalStore(onSessionChange, signedIn)

/** The pages a staff user reaches once signed in: the header, the navigation and the view. */
function Shell() {
  const who = useWhoAmI()
  const client = useQueryClient()
  const location = useLocation()
  useEffect(() => {
    // a new view: move the keyboard to its content
    document.getElementById('main')?.focus()
  }, [location.pathname])
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <strong>Customer Hub</strong>
        <nav aria-label="Main">
          <NavLink to="/customers">Customers</NavLink>
          <NavLink to="/conflicts">Conflicts</NavLink>
          <NavLink to="/sellers">Sellers and coupons</NavLink>
          <NavLink to="/operations">Operations</NavLink>
        </nav>
        <span className="who">{who.data ? `${who.data.name ?? ''} (${who.data.role})` : ''}</span>
        <button
          type="button"
          onClick={async () => {
            await signOut()
            client.clear()
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  )
}

export function App() {
  const isSignedIn = useSignedIn()
  useEffect(() => {
    document.title = 'Customer Hub console'
  }, [isSignedIn])
  if (!isSignedIn) {
    return (
      <Routes>
        <Route path="*" element={<SignIn />} />
      </Routes>
    )
  }
  return (
    <Routes>
      <Route element={<Shell />}>
        <Route index element={<Navigate to="/customers" replace />} />
        <Route path="customers" element={<CustomerList />} />
        <Route path="customers/:id" element={<CustomerPage />} />
        <Route path="conflicts" element={<Conflicts />} />
        <Route path="sellers" element={<Sellers />} />
        <Route path="operations" element={<Operations />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  )
}
