import { useRoute } from './api'

/** Who is signed in (GET /auth/session): the console shows admin-only actions to admins only; the hub refuses them to others whatever the page shows. */
export const useWhoAmI = () => useRoute('getSession', {}, { staleTime: 60_000 })
