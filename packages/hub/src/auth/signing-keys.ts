import { exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, type JWK } from 'jose'
import { isUniqueViolation } from '../db/pg-errors.js'
import { sql } from 'kysely'
import type { Executor, Tx } from '../db/executor.js'
import { withTransaction } from '../db/executor.js'
import { newId } from '../ids.js'
import { createSealer } from '../secrets.js'

type Key = CryptoKey | Uint8Array

interface SigningKey {
  kid: string
  privateKey: Key
}

// Any fixed number: processes creating the first key take turns on it.
const KEY_LOCK = 7_302_114_552
/** How often a process looks for a newer signing key made by another process. */
const CURRENT_KEY_TTL_MS = 60_000

/**
 * The Ed25519 keys that sign access tokens. Keys live in the database (private parts encrypted
 * with the hub's secret), so every hub process signs and verifies with the same set. The newest
 * unretired key signs; a retired key still verifies — and stays in the JWKS — until every token
 * it signed has expired (the token lifetime, plus the time another process may still sign with it),
 * and not a moment longer: then it is refused and dropped from memory.
 */
export function createSigningKeys(options: { secret: string; accessTokenTtl: number }) {
  const sealer = createSealer(options.secret, 'signing keys')
  /** How long after its retirement a key still verifies, ms. */
  const retiredWindowMs = options.accessTokenTtl * 1000 + CURRENT_KEY_TTL_MS
  // kid → the key and until when it may be used without asking the database again: a current key
  // for CURRENT_KEY_TTL_MS (another process may retire it), a retired one until its window ends
  const publicKeys = new Map<string, { key: Key; until: number }>()
  const usableUntil = (retiredAt: Date | null, now: number) => (retiredAt === null ? now + CURRENT_KEY_TTL_MS : retiredAt.getTime() + retiredWindowMs)
  let current: { key: SigningKey; at: number } | undefined
  // kid → when it was last looked up and not found: a forged kid sent again and again costs
  // one query a second, while a key just made by another process is found at its first use
  const misses = new Map<string, number>()

  async function create(tx: Tx): Promise<SigningKey> {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
    const kid = newId('key')
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }
    await tx.insertInto('signing_keys').values({ kid, public_jwk: JSON.stringify(jwk), private_key_enc: sealer.seal(await exportPKCS8(privateKey)) }).execute()
    publicKeys.set(kid, { key: publicKey, until: usableUntil(null, Date.now()) })
    return { kid, privateKey }
  }

  async function loadCurrent(db: Executor): Promise<SigningKey> {
    const row = await db.selectFrom('signing_keys').select(['kid', 'private_key_enc']).where('retired_at', 'is', null)
      .orderBy('created_at', 'desc').orderBy('kid', 'desc').executeTakeFirst()
    if (row) return { kid: row.kid, privateKey: await importPKCS8(sealer.open(row.private_key_enc), 'EdDSA') }
    // The first key: made once, whichever process asks first (the lock is held until the key is
    // in; the unique index signing_keys_one_current refuses a second current key whatever happens).
    const made = await withTransaction(db, async (tx) => {
      await sql`SELECT pg_advisory_xact_lock(${KEY_LOCK})`.execute(tx)
      const again = await tx.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).executeTakeFirst()
      return again ? undefined : create(tx)
    }).catch((err: unknown) => {
      if (isUniqueViolation(err, 'signing_keys_one_current')) return undefined // another process made it
      throw err
    })
    return made ?? loadCurrent(db)
  }

  return {
    /** The key to sign with now. */
    async signer(db: Executor): Promise<SigningKey> {
      if (!current || Date.now() - current.at > CURRENT_KEY_TTL_MS) current = { key: await loadCurrent(db), at: Date.now() }
      return current.key
    },

    /** The public key of `kid`, or undefined when no such key exists or it was retired longer ago than a token lives. */
    async publicKey(db: Executor, kid: string): Promise<Key | undefined> {
      const now = Date.now()
      const known = publicKeys.get(kid)
      if (known && known.until > now) return known.key
      publicKeys.delete(kid)
      if (now - (misses.get(kid) ?? 0) < 1000) return undefined
      const row = await db.selectFrom('signing_keys').select(['public_jwk', 'retired_at']).where('kid', '=', kid).executeTakeFirst()
      const until = row ? usableUntil(row.retired_at, now) : 0
      if (!row || until <= now) {
        if (misses.size >= 10_000) misses.clear()
        misses.set(kid, now)
        return undefined
      }
      const key = (await importJWK(row.public_jwk as JWK, 'EdDSA')) as Key
      publicKeys.set(kid, { key, until })
      return key
    },

    /** How old an access token may be (its `iat`), in seconds: its lifetime and the clock skew allowed. */
    maxTokenAgeSeconds: options.accessTokenTtl + 60,

    /**
     * The JSON Web Key Set: every key that may have signed a token still valid. Another process
     * may sign with a retired key for up to CURRENT_KEY_TTL_MS after the rotation, so a retired
     * key stays listed that much longer than a token lives.
     */
    async jwks(db: Executor): Promise<{ keys: JWK[] }> {
      const { rows } = await sql<{ public_jwk: JWK }>`
        SELECT public_jwk FROM signing_keys
        WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => ${options.accessTokenTtl + CURRENT_KEY_TTL_MS / 1000})
        ORDER BY created_at DESC, kid DESC`.execute(db)
      return { keys: rows.map((r) => r.public_jwk) }
    },

    /** Makes a new signing key and retires the others (they keep verifying until their tokens expire). */
    async rotate(tx: Tx): Promise<string> {
      // one rotation at a time, each retiring what the one before made; retire first: one key is
      // current at a time (signing_keys_one_current)
      await sql`SELECT pg_advisory_xact_lock(${KEY_LOCK})`.execute(tx)
      const retiredAt = new Date()
      const retired = await tx.updateTable('signing_keys').set({ retired_at: retiredAt }).where('retired_at', 'is', null).returning('kid').execute()
      for (const { kid } of retired) {
        const known = publicKeys.get(kid)
        if (known) known.until = usableUntil(retiredAt, retiredAt.getTime())
      }
      const key = await create(tx)
      current = { key, at: Date.now() }
      return key.kid
    },
  }
}
export type SigningKeys = ReturnType<typeof createSigningKeys>
