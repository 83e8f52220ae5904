import type { Selectable } from 'kysely'
import type { ServiceAccount, ServiceAccountInput } from '@his-her/contract'
import type { ServiceAccountsTable } from './tables.js'
import type { Executor, Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { hashPassword, verifyPassword } from './passwords.js'
import { revokeFamilies } from './refresh-families.js'
import type { AuthSettings } from './settings.js'

const columns = ['id', 'handle', 'email', 'role_id', 'organization_id', 'provider_id', 'created_at'] as const

function toServiceAccount(r: Pick<Selectable<ServiceAccountsTable>, (typeof columns)[number]>): ServiceAccount {
  return {
    id: r.id,
    handle: r.handle,
    email: r.email,
    roleId: r.role_id,
    organizationId: r.organization_id,
    providerId: r.provider_id,
    createdAt: r.created_at.toISOString(),
  }
}

/**
 * Service accounts: principals for sellers and other services. Each has the email
 * `<handle>@<service email domain>` and a password (argon2id), logs in like a customer, and
 * acts with role `service` within its own provider only.
 */
export function createServiceAccountService({ settings, passwordMinLength }: { settings: AuthSettings; passwordMinLength: number }) {
  return {
    emailOf: (handle: string) => `${handle}@${settings.serviceEmailDomain}`,

    /** Creates a service account; 409 `SERVICE_ACCOUNT_TAKEN` when the handle is taken (unique index). */
    async create(tx: Tx, input: ServiceAccountInput): Promise<ServiceAccount> {
      if (input.password.length < passwordMinLength) throw new HubError('PASSWORD_TOO_SHORT', `The password must have at least ${passwordMinLength} characters.`)
      const row = await tx
        .insertInto('service_accounts')
        .values({
          id: newId('svc'),
          handle: input.handle,
          email: `${input.handle}@${settings.serviceEmailDomain}`,
          password_hash: await hashPassword(input.password),
          role_id: input.roleId,
          organization_id: input.organizationId,
          provider_id: input.providerId ?? null,
        })
        .onConflict((oc) => oc.doNothing())
        .returning(columns)
        .executeTakeFirst()
      if (!row) throw new HubError('SERVICE_ACCOUNT_TAKEN')
      return toServiceAccount(row)
    },

    /** The account of a loyalty provider (at most one: unique index), enabled or not. */
    async ofProvider(exec: Executor, providerId: string): Promise<(ServiceAccount & { enabled: boolean }) | undefined> {
      const row = await exec.selectFrom('service_accounts').select([...columns, 'disabled_at', 'suspended_at']).where('provider_id', '=', providerId).executeTakeFirst()
      return row ? { ...toServiceAccount(row), enabled: row.disabled_at === null && row.suspended_at === null } : undefined
    },

    /**
     * Brings a provider's account to `spec`: a new password (when the given one does not verify
     * against the stored hash), role and organization. Answers the account as it is after.
     */
    async reconcile(tx: Tx, id: string, spec: { password: string; roleId: string; organizationId: string }): Promise<ServiceAccount> {
      const row = await tx.selectFrom('service_accounts').select(['password_hash', 'role_id', 'organization_id']).where('id', '=', id).forUpdate().executeTakeFirstOrThrow()
      const samePassword = await verifyPassword(row.password_hash, spec.password)
      if (!samePassword && spec.password.length < passwordMinLength) throw new HubError('PASSWORD_TOO_SHORT', `The password must have at least ${passwordMinLength} characters.`)
      const changed = !samePassword || row.role_id !== spec.roleId || row.organization_id !== spec.organizationId
      const updated = await tx
        .updateTable('service_accounts')
        .set({
          ...(samePassword ? {} : { password_hash: await hashPassword(spec.password) }),
          role_id: spec.roleId,
          organization_id: spec.organizationId,
          ...(changed ? { updated_at: new Date() } : {}),
        })
        .where('id', '=', id)
        .returning(columns)
        .executeTakeFirstOrThrow()
      return toServiceAccount(updated)
    },

    /**
     * Suspends (`suspended`), resumes (`active`) or ends for good (`terminated`) a provider's
     * account: a suspended or terminated account cannot log in, and its live tokens and refresh
     * tokens stop working at once (every service request reads the account).
     */
    async setStatus(tx: Tx, providerId: string, status: 'active' | 'suspended' | 'terminated'): Promise<void> {
      const now = new Date()
      const accounts = await tx
        .updateTable('service_accounts')
        .set(
          status === 'active'
            ? { suspended_at: null, updated_at: now }
            : // the sessions of before end for good: a resume brings back neither tokens nor refresh tokens
              { suspended_at: now, sessions_valid_after: now, updated_at: now, ...(status === 'terminated' ? { disabled_at: now } : {}) },
        )
        .where('provider_id', '=', providerId)
        .where('disabled_at', 'is', null)
        .returning('id')
        .execute()
      if (status !== 'active' && accounts.length > 0) {
        await revokeFamilies(tx, { subjectKind: 'service', subjectIds: accounts.map((a) => a.id) })
      }
    },

    async list(exec: Executor): Promise<ServiceAccount[]> {
      const rows = await exec.selectFrom('service_accounts').select(columns).where('disabled_at', 'is', null).orderBy('created_at').orderBy('id').execute()
      return rows.map(toServiceAccount)
    },

    /** The account with this login email and its password hash, for sign-in: a query, read within the statement that counts the attempt. */
    forLogin(exec: Executor, email: string) {
      return exec.selectFrom('service_accounts').select(['id', 'handle', 'password_hash', 'role_id', 'organization_id', 'provider_id'])
        .where('email', '=', email).where('disabled_at', 'is', null).where('suspended_at', 'is', null)
    },

    async get(exec: Executor, id: string) {
      return exec.selectFrom('service_accounts').select(['id', 'handle', 'role_id', 'organization_id', 'provider_id', 'sessions_valid_after']).where('id', '=', id).where('disabled_at', 'is', null).where('suspended_at', 'is', null).executeTakeFirst()
    },
  }
}
export type ServiceAccountService = ReturnType<typeof createServiceAccountService>
