import { createHash, createHmac, randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { errors as joseErrors, jwtVerify, SignJWT, decodeProtectedHeader } from 'jose'
import type { FastifyBaseLogger } from 'fastify'
import type { Session } from '@his-her/contract'
import { withTransaction, type Executor, type Tx } from '../db/executor.js'
import type { CustomerSettings } from '../customers/settings.js'
import type { CustomerService } from '../customers/customer-service.js'
import type { IdentityService } from '../identity/identity-service.js'
import type { EventService } from '../events/event-store.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { normalizeEmail } from '../identity/normalize.js'
import type { AuthSettings } from './settings.js'
import type { OneTimePurpose } from './tables.js'
import { hashPassword, verifyPassword } from './passwords.js'
import { createAfterwards } from './afterwards.js'
import type { SigningKeys } from './signing-keys.js'
import type { RateLimiter, SignInAttempt } from './rate-limiter.js'
import { confirmFamilySql, discardFamily, endCustomerSessions, familyBeforeCutoff, lockFamily, revokeFamilies, startFamilySql, sweepLapsedFamilies } from './refresh-families.js'
import type { ServiceAccountService } from './service-account-service.js'
import type { CustomerPrincipal, ServicePrincipal, StaffPrincipal } from './principal.js'
import type { StaffService } from './staff-service.js'

const ISSUER = 'customer-hub'
const AUDIENCE = 'customer-hub'

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const opaque = (prefix: string) => `${prefix}_${randomBytes(32).toString('base64url')}`

// Verifying against this when the email is unknown makes a wrong email cost what a wrong
// password costs, so timing does not tell which emails have accounts.
let dummy: Promise<string> | undefined
const dummyHash = () => (dummy ??= hashPassword(randomBytes(16).toString('hex')))

const tokenPrefix: Record<OneTimePurpose, string> = { verify_email: 'vrf', register: 'vrf', change_email: 'vrf', change_phone: 'vph', password_reset: 'rst' }

/**
 * The single-use token of `one_time_tokens` row `id`: an HMAC of the id under the hub's secret.
 * Nothing usable is kept at rest — the row has the token's SHA-256, an event names the row's id —
 * and whoever delivers the message (holding `HUB_SECRET`) derives the token from the id.
 */
export function oneTimeToken(secret: string, id: string, purpose: OneTimePurpose): string {
  return `${tokenPrefix[purpose]}_${createHmac('sha256', `customer-hub one-time token\0${secret}`).update(`${purpose}\0${id}`).digest('base64url')}`
}

/** `jane@example.com` → `j***@example.com`, `+66815550101` → `+66*******0101`: enough to recognise, not to use. */
export function maskContact(kind: 'email' | 'phone', value: string): string {
  if (kind === 'email') {
    const at = value.lastIndexOf('@')
    return `${value.slice(0, 1)}***${value.slice(at)}`
  }
  return `${value.slice(0, 3)}${'*'.repeat(Math.max(0, value.length - 7))}${value.slice(-4)}`
}

/** 401 for an access token issued at or before `cutoff` (`ims`: when it was issued, in milliseconds; else `iat`). */
function refuseIssuedBefore(payload: { ims?: unknown; iat?: number }, cutoff: Date | null, message: string): void {
  const issuedAt = typeof payload.ims === 'number' ? payload.ims : (payload.iat ?? 0) * 1000
  if (cutoff && issuedAt <= cutoff.getTime()) throw new HubError('UNAUTHORIZED', message)
}

type Subject = { kind: 'customer'; id: string } | { kind: 'service'; id: string; providerId: string | null; organizationId: string; handle: string } | { kind: 'staff'; id: string }

export interface SessionServiceOptions {
  keys: SigningKeys
  customers: CustomerService
  /** Finds an email's holder through its unique index (see `accountOf`). */
  identities: IdentityService
  events: EventService
  limiter: RateLimiter
  serviceAccounts: ServiceAccountService
  staff: StaffService
  auth: AuthSettings
  customer: CustomerSettings
  /** The hub's secret (`HUB_SECRET`): one-time tokens are derived from their row's id under it. */
  secret: string
  /** Where work done after an answer reports its failure. */
  log?: Pick<FastifyBaseLogger, 'warn'> | undefined
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
  const { keys, limiter, auth, customers, identities, events } = o

  /** The live account whose email is `email` (stored form), read through the identities' unique index. */
  const accountOf = (db: Executor, email: string) => customers.accountByEmail(db, email, identities.storedEmailHolderSql(email))

  /**
   * A new session of `subject`: its family and first refresh token stored by one statement (its
   * own transaction) while its access token is signed. A sign-in starts it while the password is
   * being verified and hands it out only when the password is right ({@link signIn}).
   */
  async function startSession(db: Executor, familyId: string, subject: Subject): Promise<Session> {
    const [accessToken, refreshToken] = await Promise.all([signAccess(db, subject), storeFamily(db, familyId, subject)])
    return { accessToken, refreshToken, expiresIn: auth.accessTokenTtl, tokenType: 'Bearer' }
  }

  async function signAccess(db: Executor, subject: Subject): Promise<string> {
    const signer = await keys.signer(db)
    const claims: Record<string, unknown> =
      subject.kind === 'customer'
        ? { role: 'customer' }
        : subject.kind === 'staff'
          ? // the role is read from the user's row at each request; ims as for a service account
            { role: 'staff', ims: Date.now() }
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

  /** A new refresh token of a family: the token to hand out, and the row that stores only its SHA-256. */
  function newRefresh(kind: Subject['kind'], subjectId: string, familyId: string) {
    const token = opaque('rft')
    const row = { id: newId('rft'), family_id: familyId, subject_kind: kind, subject_id: subjectId, token_hash: sha256(token), expires_at: new Date(Date.now() + auth.refreshTokenTtl * 1000) }
    return { token, row }
  }

  /** A new family and its first refresh token, in one statement. */
  async function storeFamily(db: Executor, familyId: string, subject: Subject): Promise<string> {
    const { token, row } = newRefresh(subject.kind, subject.id, familyId)
    await sql`
      WITH f AS (${startFamilySql(familyId, subject.kind, subject.id)} RETURNING id)
      INSERT INTO refresh_tokens (id, family_id, subject_kind, subject_id, token_hash, expires_at)
      SELECT ${row.id}, f.id, ${row.subject_kind}, ${row.subject_id}, ${row.token_hash}, ${row.expires_at.toISOString()}::timestamptz FROM f`.execute(db)
    return token
  }

  /** Work a sign-in leaves for after its answer (a failed attempt's family to delete), kept for {@link settled}. */
  const afterwards = createAfterwards()
  const later = (work: () => Promise<void>) => afterwards.later(work, (err) => o.log?.warn({ err }, 'the session of a failed sign-in could not be deleted'))

  /**
   * The part of a sign-in after its attempt is counted and its account read
   * ({@link RateLimiter.beginSignIn}): the password is verified against `passwordHash` (or a
   * dummy hash when there is no account, so that a wrong email costs what a wrong password
   * costs), and meanwhile — the hash runs off the main thread — the session of `subject` is
   * stored and its access token signed. After the hash nothing more waits for the database:
   * - the right password: the session is answered; after the answer, one statement gives the
   *   attempt back ({@link RateLimiter.giveBackLater}) and confirms the family, stored pending
   *   ({@link confirmFamilySql}; a family never confirmed is refused a minute after it was stored);
   * - a wrong one: `INVALID_CREDENTIALS`, and the family stored meanwhile is deleted after the
   *   answer ({@link discardFamily}; the answer does not wait for it, so a wrong password for
   *   an account takes the time a wrong email takes). Its tokens never leave this function: its
   *   refresh token exists only here and as a SHA-256 in the row, so a family a crash left
   *   behind is one whose token no one ever had — and, never confirmed, it is refused after a minute;
   * - the right password of an account whose email is not verified (`unverified`, no `subject`,
   *   so no session was stored): `EMAIL_NOT_VERIFIED`, the attempt given back.
   */
  async function signIn(db: Executor, attempt: SignInAttempt, passwordHash: string | undefined, password: string, subject: Subject | undefined, unverified = false): Promise<Session> {
    const familyId = newId('rft')
    const started = subject ? startSession(db, familyId, subject) : undefined
    // awaited below when the password is right; dropped otherwise (the family goes, see later)
    started?.catch(() => {})
    const ok = await verifyPassword(passwordHash ?? (await dummyHash()), password)
    if (ok && unverified) {
      limiter.giveBackLater(db, attempt)
      throw new HubError('EMAIL_NOT_VERIFIED')
    }
    if (!ok || !started) {
      if (started) later(() => started.then(() => discardFamily(db, familyId), () => discardFamily(db, familyId)))
      throw new HubError('INVALID_CREDENTIALS')
    }
    let session: Session
    try {
      session = await started
    } catch (err) {
      // the family may be stored without its access token: it goes, and the attempt stays counted
      later(() => discardFamily(db, familyId))
      throw err
    }
    limiter.giveBackLater(db, attempt, [['confirmed', confirmFamilySql(familyId)]])
    return session
  }

  async function storeRefresh(kind: Subject['kind'], subjectId: string, familyId: string, store: Executor): Promise<string> {
    const { token, row } = newRefresh(kind, subjectId, familyId)
    await store.insertInto('refresh_tokens').values(row).execute()
    return token
  }

  async function subjectOf(db: Executor, kind: 'customer' | 'service' | 'staff', id: string): Promise<Subject | undefined> {
    // an account whose email is unverified while the config requires verification has no session (its email changed)
    if (kind === 'customer') return (await customers.isAccount(db, id, { verified: o.customer.requireEmailVerification })) ? { kind: 'customer', id } : undefined
    if (kind === 'staff') return (await o.staff.get(db, id)) ? { kind: 'staff', id } : undefined
    const svc = await o.serviceAccounts.get(db, id)
    return svc ? { kind: 'service', id, providerId: svc.provider_id, organizationId: svc.organization_id, handle: svc.handle } : undefined
  }

  /**
   * Makes a single-use token for `purpose`, bound to the account's current `email`. The token is
   * derived from the row's id under the hub's secret ({@link oneTimeToken}): only its SHA-256 is
   * stored, and the event that asks for it to be sent names it by id (`tokenId`).
   */
  async function createOneTimeToken(tx: Tx, purpose: OneTimePurpose, customerId: string, email: string, pending: { value?: string; passwordHash?: string } = {}): Promise<{ token: string; expiresAt: string }> {
    const id = newId('ott')
    const token = oneTimeToken(o.secret, id, purpose)
    const expiresAt = new Date(Date.now() + auth.oneTimeTokenTtl * 1000)
    await tx.insertInto('one_time_tokens').values({
      id, purpose, customer_id: customerId, email, value: pending.value ?? null, password_hash: pending.passwordHash ?? null, token_hash: sha256(token), expires_at: expiresAt,
    }).execute()
    const sent = { customerId, tokenId: id, expiresAt: expiresAt.toISOString() }
    if (purpose === 'change_email') await events.emit(tx, { type: 'customer.email_change_requested', customerId, payload: { ...sent, email: pending.value! } })
    else if (purpose === 'change_phone') await events.emit(tx, { type: 'customer.phone_change_requested', customerId, payload: { ...sent, phone: pending.value! } })
    else if (purpose === 'password_reset') await events.emit(tx, { type: 'customer.password_reset_requested', customerId, payload: { ...sent, email } })
    else await events.emit(tx, { type: 'customer.verification_requested', customerId, payload: { ...sent, email, registration: purpose === 'register' } })
    o.devLink?.(purpose, token)
    return { token, expiresAt: expiresAt.toISOString() }
  }

  /** Makes the customer's unused one-time tokens (of `purpose`, or all) unusable. */
  async function revokeOneTimeTokens(tx: Tx, customerId: string, purpose?: OneTimePurpose): Promise<void> {
    await tx.updateTable('one_time_tokens').set({ used_at: new Date() })
      .where('customer_id', '=', customerId).where('used_at', 'is', null)
      .$if(purpose !== undefined, (q) => q.where('purpose', '=', purpose!))
      .execute()
  }

  /** Marks a one-time token of one of `purposes` used (a guarded update: it works once) and returns what it was for. */
  async function consume(tx: Tx, purposes: OneTimePurpose | OneTimePurpose[], token: string) {
    const row = await tx
      .updateTable('one_time_tokens')
      .set({ used_at: new Date() })
      .where('token_hash', '=', sha256(token))
      .where('purpose', 'in', ([] as OneTimePurpose[]).concat(purposes))
      .where('used_at', 'is', null)
      .where('expires_at', '>', new Date())
      .returning(['id', 'customer_id', 'email', 'purpose', 'value', 'password_hash'])
      .executeTakeFirst()
    if (!row) throw new HubError('INVALID_TOKEN')
    return row
  }


  return {
    /**
     * An erase's part here: the one-time tokens of these customers go (used or not: they hold the
     * email they were sent to, a pending new email or phone, a pending password hash), and every
     * session of theirs ends ({@link endCustomerSessions}: live refresh families revoked, a sign-in
     * in flight refused). Answers the emails and pending values the tokens held.
     */
    async eraseCustomers(tx: Tx, customerIds: string[]): Promise<string[]> {
      if (customerIds.length === 0) return []
      const rows = await tx.deleteFrom('one_time_tokens').where('customer_id', 'in', customerIds).returning(['email', 'value']).execute()
      for (const id of customerIds) await endCustomerSessions(tx, id)
      return rows.flatMap((r) => (r.value === null ? [r.email] : [r.email, r.value]))
    },

    /** Every unused verification and reset token of the customer stops working (its email changed). */
    revokeOneTimeTokens: (tx: Tx, customerId: string, purpose?: OneTimePurpose) => revokeOneTimeTokens(tx, customerId, purpose),

    /**
     * Logs a customer or a service account in. A wrong email and a wrong password answer the
     * same `INVALID_CREDENTIALS` after the same work (a hash is verified either way). Only
     * failures count against the limits (429 `RATE_LIMITED`, see `RateLimiter.beginSignIn`):
     * failures from one client address over all emails, and a growing wait for an address after
     * failures for one email — which holds that address only, never the account. One statement
     * before the hash counts the attempt and reads the account; none after it ({@link signIn}).
     */
    async login(db: Executor, rawEmail: string, password: string, clientAddress: string): Promise<Session> {
      const email = rawEmail.trim().toLowerCase()
      type Service = { id: string; handle: string; password_hash: string; role_id: string; organization_id: string; provider_id: string | null }
      type Customer = { id: string; email_verified: boolean; password_hash: string | null }
      const service = email.endsWith(`@${auth.serviceEmailDomain}`) ? sql`(SELECT row_to_json(s) FROM (${o.serviceAccounts.forLogin(db, email)}) s)` : sql`NULL::json`
      const customer = sql`(SELECT row_to_json(c) FROM (${customers.accountByEmailQuery(db, email, identities.storedEmailHolderSql(email))}) c)`
      const { attempt, account } = await limiter.beginSignIn<{ service: Service | null; customer: Customer | null }>(db, email, clientAddress, auth, sql`SELECT ${service} AS service, ${customer} AS customer`)
      // A service account's address wins: a customer registered under it must not lock the account out.
      const svc = account?.service ?? undefined
      if (svc) return signIn(db, attempt, svc.password_hash, password, { kind: 'service', id: svc.id, providerId: svc.provider_id, organizationId: svc.organization_id, handle: svc.handle })
      const cus = account?.customer ?? undefined
      const unverified = cus !== undefined && o.customer.requireEmailVerification && !cus.email_verified
      return signIn(db, attempt, cus?.password_hash ?? undefined, password, cus && !unverified ? { kind: 'customer', id: cus.id } : undefined, unverified)
    },

    /**
     * Logs a staff user in (the console), with the limits and the same answers as
     * {@link login}: a wrong email and a wrong password cost one hash and answer
     * `INVALID_CREDENTIALS` alike. Its attempts are counted under keys of their own.
     */
    async staffLogin(db: Executor, rawEmail: string, password: string, clientAddress: string): Promise<Session> {
      const email = rawEmail.trim().toLowerCase()
      const { attempt, account: user } = await limiter.beginSignIn<{ id: string; password_hash: string }>(db, `staff:${email}`, clientAddress, auth, sql`${o.staff.forLogin(db, email)}`)
      return signIn(db, attempt, user?.password_hash, password, user ? { kind: 'staff', id: user.id } : undefined)
    },

    /**
     * Resolves once the work sign-ins left for after their answers is done: attempts given back,
     * failed attempts' families deleted. For tests that read those rows right after a sign-in,
     * and for shutdown (before the database is closed).
     */
    async settled(): Promise<void> {
      await afterwards.settled()
      await limiter.settled()
    },

    /** Deletes the sessions whose sign-in never confirmed them in time ({@link sweepLapsedFamilies}); the hub's hourly sweep. */
    sweepLapsed(db: Executor): Promise<number> {
      return sweepLapsedFamilies(db)
    },

    /**
     * Rotates a refresh token: the presented one is marked used by a guarded update, so of two
     * concurrent refreshes with one token exactly one succeeds. Presenting a used token again is
     * treated as theft: its whole family is revoked. A family begun at or before the account's
     * `sessions_valid_after` (a password reset, a suspension) is refused.
     *
     * The family row is locked first ({@link lockFamily}) and held until the successor is
     * committed: a revocation (logout, reuse detection, password reset, suspension) updates that
     * row, so it either waits for this refresh and then revokes the successor with the family,
     * or it went first and this refresh sees it.
     */
    async refresh(db: Executor, refreshToken: string): Promise<Session> {
      const hash = sha256(refreshToken)
      // a refusal is thrown after the commit, so that the revocation it made stays
      const outcome = await withTransaction(db, async (tx): Promise<{ refused: 'INVALID_REFRESH_TOKEN' | 'REFRESH_TOKEN_REUSED' } | { subject: Subject; successor: string }> => {
        const family = await lockFamily(tx, hash)
        // a family its sign-in never confirmed in time: that sign-in failed or never answered
        if (!family || family.revoked_at || family.lapsed) return { refused: 'INVALID_REFRESH_TOKEN' }
        if (await familyBeforeCutoff(tx, family.id)) {
          await revokeFamilies(tx, { familyId: family.id })
          return { refused: 'INVALID_REFRESH_TOKEN' }
        }
        const used = await tx
          .updateTable('refresh_tokens')
          .set({ used_at: new Date() })
          .where('token_hash', '=', hash)
          .where('used_at', 'is', null)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', new Date())
          .returning('id')
          .executeTakeFirst()
        if (!used) {
          const token = await tx.selectFrom('refresh_tokens').select('used_at').where('token_hash', '=', hash).executeTakeFirstOrThrow()
          if (!token.used_at) return { refused: 'INVALID_REFRESH_TOKEN' }
          await revokeFamilies(tx, { familyId: family.id })
          return { refused: 'REFRESH_TOKEN_REUSED' }
        }
        const subject = await subjectOf(tx, family.subject_kind, family.subject_id)
        if (!subject) {
          await revokeFamilies(tx, { familyId: family.id })
          return { refused: 'INVALID_REFRESH_TOKEN' }
        }
        // its token was handed out (it is presented here) before its sign-in's confirmation landed
        if (family.pending_until) await tx.updateTable('refresh_families').set({ pending_until: null }).where('id', '=', family.id).execute()
        return { subject, successor: await storeRefresh(subject.kind, subject.id, family.id, tx) }
      })
      if ('refused' in outcome) throw new HubError(outcome.refused)
      return { accessToken: await signAccess(db, outcome.subject), refreshToken: outcome.successor, expiresIn: auth.accessTokenTtl, tokenType: 'Bearer' }
    },

    /**
     * Revokes the refresh token's family (this session); a refresh of it in flight is waited for
     * and its successor revoked too. Unknown tokens are ignored.
     */
    async logout(db: Executor, refreshToken: string): Promise<void> {
      await withTransaction(db, (tx) => revokeFamilies(tx, { tokenHash: sha256(refreshToken) }))
    },

    /** The principal of a valid access token, or an error saying why it is not valid. */
    async verifyAccess(db: Executor, token: string): Promise<CustomerPrincipal | ServicePrincipal | StaffPrincipal> {
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
        if (payload.role === 'staff') {
          // a disabled user's tokens stop at once, and a changed role applies at once, on every process
          const user = await o.staff.get(db, payload.sub!)
          if (!user) throw new HubError('UNAUTHORIZED', 'The staff user is disabled.')
          refuseIssuedBefore(payload, user.sessions_valid_after, 'The token was issued before the staff user’s password changed; log in again.')
          return { kind: 'staff', role: user.role, staffId: user.id, name: user.email, tokenId: null }
        }
        if (payload.role === 'service') {
          // a suspended or disabled account's tokens stop at once, on every process
          const account = await o.serviceAccounts.get(db, payload.sub!)
          if (!account) throw new HubError('UNAUTHORIZED', 'The service account is suspended or disabled.')
          // a token from before a suspension does not come back with the resume
          refuseIssuedBefore(payload, account.sessions_valid_after, 'The token was issued before the service account was suspended; log in again.')
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
      const account = await accountOf(db, email)
      if (account) {
        if (!account.email_verified) await withTransaction(db, (tx) => createOneTimeToken(tx, 'verify_email', account.id, email))
        return
      }
      // a registration over a guest record waits for this email: send its token again
      const pending = await db.selectFrom('one_time_tokens').select(['customer_id', 'value', 'password_hash'])
        .where('purpose', '=', 'register').where('email', '=', email).where('used_at', 'is', null).where('expires_at', '>', new Date())
        .orderBy('created_at', 'desc').limit(1).executeTakeFirst()
      if (pending) {
        await withTransaction(db, (tx) => createOneTimeToken(tx, 'register', pending.customer_id, email, { value: pending.value ?? undefined, passwordHash: pending.password_hash ?? undefined }))
      }
    },

    /**
     * Uses up a one-time token of one of `purposes` (a guarded update: it works once) and returns
     * its row: whom it is for, the email it is bound to, and what waited for it.
     */
    consumeOneTimeToken: (tx: Tx, purposes: OneTimePurpose[], token: string) => consume(tx, purposes, token),

    /** Whom a usable one-time token of one of `purposes` is for (a plain read: lock the customer, then consume). */
    async oneTimeTokenHolder(exec: Executor, purposes: OneTimePurpose[], token: string): Promise<string | undefined> {
      const row = await exec.selectFrom('one_time_tokens').select('customer_id')
        .where('token_hash', '=', sha256(token)).where('purpose', 'in', purposes)
        .where('used_at', 'is', null).where('expires_at', '>', new Date())
        .executeTakeFirst()
      return row?.customer_id
    },

    /**
     * Checks the current password of a customer who changes its email or phone: a missing or
     * wrong one is 403 `CURRENT_PASSWORD_REQUIRED`. Failures are counted per customer (after the
     * request's transaction rolled back, so they stay counted): a stolen access token cannot be
     * used to guess the password.
     */
    async confirmPassword(tx: Tx, customerId: string, password: string | undefined): Promise<void> {
      const key = `confirm-password:${customerId}`
      await limiter.check(tx, key, auth.loginLimitPerEmail, auth.loginWindow)
      const hash = await customers.passwordHashOf(tx, customerId)
      const ok = password !== undefined && hash !== null && (await verifyPassword(hash, password))
      if (!ok) {
        throw new HubError('CURRENT_PASSWORD_REQUIRED').withAfterRollback(async (db) => {
          await limiter.hit(db, key, Number.MAX_SAFE_INTEGER, auth.loginWindow)
        })
      }
    },

    /**
     * A customer asks to change its email or phone to `value`: a token goes to the new address
     * (`customer.email_change_requested` / `customer.phone_change_requested`) and a notice to the
     * current email (`customer.contact_change_notice`). Nothing is linked until the token comes
     * back; an earlier pending change of the same kind stops working.
     */
    async requestContactChange(tx: Tx, customerId: string, currentEmail: string, kind: 'email' | 'phone', value: string): Promise<{ expiresAt: string }> {
      const purpose = kind === 'email' ? 'change_email' : 'change_phone'
      await revokeOneTimeTokens(tx, customerId, purpose)
      const { expiresAt } = await createOneTimeToken(tx, purpose, customerId, currentEmail, { value })
      await events.emit(tx, {
        type: 'customer.contact_change_notice',
        customerId,
        payload: { customerId, email: currentEmail, change: kind, newValue: maskContact(kind, value) },
      })
      return { expiresAt }
    },

    /** The changes of email and phone waiting for their token. */
    async pendingContactChanges(db: Executor, customerId: string): Promise<{ email: string | null; phone: string | null }> {
      const rows = await db.selectFrom('one_time_tokens').select(['purpose', 'value'])
        .where('customer_id', '=', customerId).where('purpose', 'in', ['change_email', 'change_phone'])
        .where('used_at', 'is', null).where('expires_at', '>', new Date())
        .orderBy('created_at', 'desc').execute()
      return {
        email: rows.find((r) => r.purpose === 'change_email')?.value ?? null,
        phone: rows.find((r) => r.purpose === 'change_phone')?.value ?? null,
      }
    },

    /**
     * A registration with the email of guest record `guestId`: the password (hashed) and the
     * registration's details wait, with a verification token sent to the email; the guest becomes
     * the account only when the token comes back (`POST /auth/verify-email`).
     */
    async requestRegistration(tx: Tx, guestId: string, email: string, passwordHash: string, details: string): Promise<{ expiresAt: string }> {
      const { expiresAt } = await createOneTimeToken(tx, 'register', guestId, email, { value: details, passwordHash })
      return { expiresAt }
    },

    /** Starts a password reset, like `requestVerification` (event `customer.password_reset_requested`). */
    async requestPasswordReset(db: Executor, rawEmail: string, clientAddress: string): Promise<void> {
      const email = normalizeEmail(rawEmail)
      await limiter.hit(db, `reset:email:${email}`, auth.loginLimitPerEmail, auth.loginWindow)
      await limiter.hit(db, `reset:address:${clientAddress}`, auth.loginLimitPerAddress, auth.loginWindow)
      const account = await accountOf(db, email)
      if (account) await withTransaction(db, (tx) => createOneTimeToken(tx, 'password_reset', account.id, email))
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
        // every session ends, including a refresh or a sign-in in flight (sessions_valid_after)
        await endCustomerSessions(tx, row.customer_id)
        await events.emit(tx, { type: 'customer.password_changed', customerId: row.customer_id, payload: { customerId: row.customer_id } })
        return { customerId: row.customer_id }
      })
    },
  }
}
export type SessionService = ReturnType<typeof createSessionService>
