import { Link } from 'react-router'

export function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no such page. <Link to="/customers">Go to the customers</Link>.
      </p>
    </section>
  )
}
