import { createHash, randomBytes } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT, decodeProtectedHeader } from 'jose'
import { sql } from 'kysely'
import type { Session } from '@his-her/contract'
import { withTransaction, type Executor, type Tx } from '../db/executor.js'
import type { CustomerSettings } from '../customers/settings.js'
import type { CustomerService } from '../customers/customer-service.js'
import type { EventService } from '../events/event-store.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { normalizeEmail } from '../identity/normalize.js'
import type { AuthSettings } from './settings.js'
import { hashPassword, verifyPassword } from './passwords.js'
import type { SigningKeys } from './signing-keys.js'
import type { RateLimiter } from './rate-limiter.js'
import type { ServiceAccountService } from './service-account-service.js'
import type { CustomerPrincipal, ServicePrincipal } from './principal.js'

const ISSUER = 'customer-hub'
const AUDIENCE = 'customer-hub'

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const opaque = (prefix: string) => `${prefix}_${randomBytes(32).toString('base64url')}`

// Verifying against this when the email is unknown makes a wrong email cost what a wrong
// password costs, so timing does not tell which emails have accounts.
let dummy: Promise<string> | undefined
const dummyHash = () => (dummy ??= hashPassword(randomBytes(16).toString('hex')))

type Subject = { kind: 'customer'; id: string } | { kind: 'service'; id: string; providerId: string | null; organizationId: string; handle: string }

export interface SessionServiceOptions {
  keys: SigningKeys
  customers: CustomerService
  events: EventService
  limiter: RateLimiter
  serviceAccounts: ServiceAccountService
  auth: AuthSettings
  customer: CustomerSettings
  /** Called with a link-bearing message in development (`HUB_DEV_LOG_LINKS`); never in production. */
  devLink?: ((purpose: string, token: string) => void) | undefined
}

/**
 * Customer and service-account sessions: login with email and password, short-lived access
 * tokens (EdDSA JWTs, verifiable by anyone through the JWKS), rotating refresh tokens, and the
 * single-use tokens of email verification and password reset.
 *
 * These back public routes, which run on the database rather than in a request transaction:
 * a counted sign-in attempt and a revoked token family must stay so when the request fails.
 * Each function opens the transactions it needs.
 */
export function createSessionService(o: SessionServiceOptions) {
  const { keys, limiter, auth, customers, events } = o

  async function issue(db: Executor, subject: Subject, familyId = newId('rft')): Promise<Session> {
    const accessToken = await signAccess(db, subject)
    const refreshToken = await storeRefresh(subject.kind, subject.id, familyId, db)
    return { accessToken, refreshToken, expiresIn: auth.accessTokenTtl, tokenType: 'Bearer' }
  }

  async function signAccess(db: Executor, subject: Subject): Promise<string> {
    const signer = await keys.signer(db)
    const claims: Record<string, unknown> =
      subject.kind === 'customer'
        ? { role: 'customer' }
        : // ims: when it was issued, in milliseconds (iat has seconds), for the check against a suspension
          { role: 'service', prv: subject.providerId, org: subject.organizationId, hdl: subject.handle, ims: Date.now() }
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT' })
      .setSubject(subject.id)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setJti(randomBytes(9).toString('base64url'))
      .setExpirationTime(`${auth.accessTokenTtl}s`)
      .sign(signer.privateKey)
  }

  async function storeRefresh(kind: Subject['kind'], subjectId: string, familyId: string, store: Executor): Promise<string> {
    const refreshToken = opaque('rft')
    await store
      .insertInto('refresh_tokens')
      .values({
        id: newId('rft'),
        family_id: familyId,
        subject_kind: kind,
        subject_id: subjectId,
        token_hash: sha256(refreshToken),
        expires_at: new Date(Date.now() + auth.refreshTokenTtl * 1000),
      })
      .execute()
    return refreshToken
  }

  async function subjectOf(db: Executor, kind: 'customer' | 'service', id: string): Promise<Subject | undefined> {
    if (kind === 'customer') return (await customers.isAccount(db, id)) ? { kind: 'customer', id } : undefined
    const svc = await o.serviceAccounts.get(db, id)
    return svc ? { kind: 'service', id, providerId: svc.provider_id, organizationId: svc.organization_id, handle: svc.handle } : undefined
  }

  async function createOneTimeToken(db: Executor, purpose: 'verify_email' | 'password_reset', customerId: string, email: string): Promise<{ token: string; expiresAt: string }> {
    const token = opaque(purpose === 'verify_email' ? 'vrf' : 'rst')
    const expiresAt = new Date(Date.now() + auth.oneTimeTokenTtl * 1000)
    await withTransaction(db, async (tx) => {
      await tx.insertInto('one_time_tokens').values({ id: newId('ott'), purpose, customer_id: customerId, email, token_hash: sha256(token), expires_at: expiresAt }).execute()
      // The event carries the token so that a webhook consumer can send the email.
      await events.emit(tx, {
        type: purpose === 'verify_email' ? 'customer.verification_requested' : 'customer.password_reset_requested',
        customerId,
        payload: { customerId, email, token, expiresAt: expiresAt.toISOString() },
      })
    })
    o.devLink?.(purpose, token)
    return { token, expiresAt: expiresAt.toISOString() }
  }

  /** Marks a one-time token used (a guarded update: it works once) and returns what it was for. */
  /** Makes the customer's unused one-time tokens (of `purpose`, or all) unusable. */
  async function revokeOneTimeTokens(tx: Tx, customerId: string, purpose?: 'verify_email' | 'password_reset'): Promise<void> {
    await tx.updateTable('one_time_tokens').set({ used_at: new Date() })
      .where('customer_id', '=', customerId).where('used_at', 'is', null)
      .$if(purpose !== undefined, (q) => q.where('purpose', '=', purpose!))
      .execute()
  }

  async function consume(tx: Tx, purpose: 'verify_email' | 'password_reset', token: string) {
    const row = await tx
      .updateTable('one_time_tokens')
      .set({ used_at: new Date() })
      .where('token_hash', '=', sha256(token))
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', new Date())
      .returning(['customer_id', 'email'])
      .executeTakeFirst()
    if (!row) throw new HubError('INVALID_TOKEN')
    return row
  }


  return {
    /** Every unused verification and reset token of the customer stops working (its email changed). */
    revokeOneTimeTokens: (tx: Tx, customerId: string) => revokeOneTimeTokens(tx, customerId),

    /**
     * Logs a customer or a service account in. A wrong email and a wrong password answer the
     * same `INVALID_CREDENTIALS` after the same work (a hash is verified either way). Limited per
     * email and per client address (429 `RATE_LIMITED`).
     */
    async login(db: Executor, rawEmail: string, password: string, clientAddress: string): Promise<Session> {
      const email = rawEmail.trim().toLowerCase()
      await limiter.hit(db, `login:address:${clientAddress}`, auth.loginLimitPerAddress, auth.loginWindow)
      await limiter.hit(db, `login:email:${email}`, auth.loginLimitPerEmail, auth.loginWindow)
      // A service account's address wins: a customer registered under it must not lock the account out.
      const service = email.endsWith(`@${auth.serviceEmailDomain}`) ? await o.serviceAccounts.forLogin(db, email) : undefined
      const customer = service ? undefined : await customers.accountByEmail(db, email)
      const hash = customer?.password_hash ?? service?.password_hash ?? (await dummyHash())
      const ok = await verifyPassword(hash, password)
      if (!ok || (!customer && !service)) throw new HubError('INVALID_CREDENTIALS')
      if (customer) {
        if (o.customer.requireEmailVerification && !customer.email_verified) throw new HubError('EMAIL_NOT_VERIFIED')
        return issue(db, { kind: 'customer', id: customer.id })
      }
      return issue(db, { kind: 'service', id: service!.id, providerId: service!.provider_id, organizationId: service!.organization_id, handle: service!.handle })
    },

    /**
     * Rotates a refresh token: the presented one is marked used by a guarded update, so of two
     * concurrent refreshes with one token exactly one succeeds. Presenting a used token again is
     * treated as theft: its whole family is revoked.
     */
    async refresh(db: Executor, refreshToken: string): Promise<Session> {
      const hash = sha256(refreshToken)
      // The successor is stored in the transaction that uses the token up: a concurrent reuse,
      // blocked on the row until then, revokes the family with the successor in it.
      const used = await withTransaction(db, async (tx) => {
        const row = await tx
          .updateTable('refresh_tokens')
          .set({ used_at: new Date() })
          .where('token_hash', '=', hash)
          .where('used_at', 'is', null)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', new Date())
          .returning(['family_id', 'subject_kind', 'subject_id'])
          .executeTakeFirst()
        return row && { ...row, successor: await storeRefresh(row.subject_kind, row.subject_id, row.family_id, tx) }
      })
      if (!used) {
        const known = await db.selectFrom('refresh_tokens').select(['family_id', 'used_at', 'revoked_at']).where('token_hash', '=', hash).executeTakeFirst()
        if (known?.used_at && !known.revoked_at) {
          await db.updateTable('refresh_tokens').set({ revoked_at: new Date() }).where('family_id', '=', known.family_id).where('revoked_at', 'is', null).execute()
          throw new HubError('REFRESH_TOKEN_REUSED')
        }
        throw new HubError('INVALID_REFRESH_TOKEN')
      }
      const subject = await subjectOf(db, used.subject_kind, used.subject_id)
      if (!subject) {
        await db.updateTable('refresh_tokens').set({ revoked_at: new Date() }).where('family_id', '=', used.family_id).where('revoked_at', 'is', null).execute()
        throw new HubError('INVALID_REFRESH_TOKEN')
      }
      return { accessToken: await signAccess(db, subject), refreshToken: used.successor, expiresIn: auth.accessTokenTtl, tokenType: 'Bearer' }
    },

    /** Revokes the refresh token's family (this session). Unknown tokens are ignored. */
    async logout(db: Executor, refreshToken: string): Promise<void> {
      await sql`
        UPDATE refresh_tokens SET revoked_at = now()
        WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ${sha256(refreshToken)})`.execute(db)
    },

    /** The principal of a valid access token, or an error saying why it is not valid. */
    async verifyAccess(db: Executor, token: string): Promise<CustomerPrincipal | ServicePrincipal> {
      let header
      try {
        header = decodeProtectedHeader(token)
      } catch {
        throw new HubError('UNAUTHORIZED', 'The token is malformed.')
      }
      if (header.alg !== 'EdDSA' || typeof header.kid !== 'string') throw new HubError('UNAUTHORIZED', 'The token is not signed by this hub.')
      const key = await keys.publicKey(db, header.kid)
      if (!key) throw new HubError('UNAUTHORIZED', 'The token is not signed by a key of this hub.')
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['EdDSA'], issuer: ISSUER, audience: AUDIENCE, requiredClaims: ['exp', 'iat', 'sub'], maxTokenAge: keys.maxTokenAgeSeconds,
        })
        if (payload.role === 'customer') return { kind: 'customer', role: 'customer', customerId: payload.sub!, name: payload.sub!, tokenId: null }
        if (payload.role === 'service') {
          // a suspended or disabled account's tokens stop at once, on every process
          const account = await o.serviceAccounts.get(db, payload.sub!)
          if (!account) throw new HubError('UNAUTHORIZED', 'The service account is suspended or disabled.')
          // a token from before a suspension does not come back with the resume
          const issuedAt = typeof payload.ims === 'number' ? payload.ims : (payload.iat ?? 0) * 1000
          if (account.sessions_valid_after && issuedAt <= account.sessions_valid_after.getTime()) {
            throw new HubError('UNAUTHORIZED', 'The token was issued before the service account was suspended; log in again.')
          }
          return {
            kind: 'service',
            role: 'service',
            serviceAccountId: payload.sub!,
            providerId: (payload.prv as string | null) ?? null,
            organizationId: String(payload.org),
            name: String(payload.hdl ?? payload.sub),
            tokenId: null,
          }
        }
        throw new HubError('UNAUTHORIZED', 'The token has no role.')
      } catch (err) {
        if (err instanceof HubError) throw err
        if (err instanceof joseErrors.JWTExpired) throw new HubError('TOKEN_EXPIRED')
        throw new HubError('UNAUTHORIZED', 'The token is not valid.')
      }
    },

    /**
     * Starts email verification: a single-use, expiring token, delivered by the
     * `customer.verification_requested` event. Answers the same whether or not the email is
     * known (no account enumeration).
     */
    async requestVerification(db: Executor, rawEmail: string, clientAddress: string): Promise<void> {
      const email = normalizeEmail(rawEmail)
      await limiter.hit(db, `verify:email:${email}`, auth.loginLimitPerEmail, auth.loginWindow)
      await limiter.hit(db, `verify:address:${clientAddress}`, auth.loginLimitPerAddress, auth.loginWindow)
      const account = await customers.accountByEmail(db, email)
      if (account && !account.email_verified) await createOneTimeToken(db, 'verify_email', account.id, email)
    },

    async verifyEmail(db: Executor, token: string): Promise<{ customerId: string }> {
      return withTransaction(db, async (tx) => {
        const row = await consume(tx, 'verify_email', token)
        // only while the customer still has the email the token was sent to
        if (!(await customers.markEmailVerified(tx, row.customer_id, row.email))) throw new HubError('INVALID_TOKEN')
        await events.emit(tx, { type: 'customer.email_verified', customerId: row.customer_id, payload: { customerId: row.customer_id } })
        return { customerId: row.customer_id }
      })
    },

    /** Starts a password reset, like `requestVerification` (event `customer.password_reset_requested`). */
    async requestPasswordReset(db: Executor, rawEmail: string, clientAddress: string): Promise<void> {
      const email = normalizeEmail(rawEmail)
      await limiter.hit(db, `reset:email:${email}`, auth.loginLimitPerEmail, auth.loginWindow)
      await limiter.hit(db, `reset:address:${clientAddress}`, auth.loginLimitPerAddress, auth.loginWindow)
      const account = await customers.accountByEmail(db, email)
      if (account) await createOneTimeToken(db, 'password_reset', account.id, email)
    },

    /**
     * Sets a new password with a reset token and revokes every session of the customer. Limited
     * per client address; the token is looked up before the password is hashed, so a request
     * without a valid token costs no hashing work.
     */
    async resetPassword(db: Executor, token: string, password: string, clientAddress: string): Promise<{ customerId: string }> {
      await limiter.hit(db, `reset-use:address:${clientAddress}`, auth.loginLimitPerAddress, auth.loginWindow)
      if (password.length < o.customer.passwordMinLength) {
        throw new HubError('PASSWORD_TOO_SHORT', `The password must have at least ${o.customer.passwordMinLength} characters.`)
      }
      const usable = await db.selectFrom('one_time_tokens').select('customer_id')
        .where('token_hash', '=', sha256(token)).where('purpose', '=', 'password_reset')
        .where('used_at', 'is', null).where('expires_at', '>', new Date())
        .executeTakeFirst()
      if (!usable) throw new HubError('INVALID_TOKEN')
      const passwordHash = await hashPassword(password)
      return withTransaction(db, async (tx) => {
        const row = await consume(tx, 'password_reset', token)
        // only while the account still has the email the token was sent to
        if (!(await customers.setPassword(tx, row.customer_id, passwordHash, row.email))) throw new HubError('INVALID_TOKEN')
        // the reset is done: every other reset link sent to this customer stops working
        await revokeOneTimeTokens(tx, row.customer_id, 'password_reset')
        await tx.updateTable('refresh_tokens').set({ revoked_at: new Date() })
          .where('subject_kind', '=', 'customer').where('subject_id', '=', row.customer_id).where('revoked_at', 'is', null).execute()
        await events.emit(tx, { type: 'customer.password_changed', customerId: row.customer_id, payload: { customerId: row.customer_id } })
        return { customerId: row.customer_id }
      })
    },
  }
}
export type SessionService = ReturnType<typeof createSessionService>
