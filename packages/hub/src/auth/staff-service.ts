import type { Selectable } from 'kysely'
import type { StaffUser, StaffUserInput, StaffUserPatch } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { normalizeEmail } from '../identity/normalize.js'
import { hashPassword } from './passwords.js'
import { revokeFamilies } from './refresh-families.js'
import type { StaffUsersTable } from './tables.js'

const columns = ['id', 'email', 'name', 'role', 'created_at', 'updated_at'] as const

function toStaffUser(r: Pick<Selectable<StaffUsersTable>, (typeof columns)[number]>): StaffUser {
  return { id: r.id, email: r.email, name: r.name, role: r.role, createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString() }
}

/**
 * Staff users: the people who run the hub in its console. Each signs in with email and password
 * (argon2id, as a customer) and acts with its role — `admin` (what an admin token may do) or
 * `support` (read everything; change profiles, addresses and groups). The role is read from the
 * row on every request, so a changed role applies at once and a disabled user's tokens stop.
 */
export function createStaffService({ passwordMinLength }: { passwordMinLength: number }) {
  const checkPassword = (password: string) => {
    if (password.length < passwordMinLength) throw new HubError('PASSWORD_TOO_SHORT', `The password must have at least ${passwordMinLength} characters.`)
  }
  const notFound = (id: string) => new HubError('STAFF_USER_NOT_FOUND', `No active staff user has the id ${id}.`, { id })

  return {
    /** Creates a staff user; 409 `STAFF_USER_TAKEN` when a live one has the email (unique index). */
    async create(tx: Tx, input: StaffUserInput): Promise<StaffUser> {
      const email = normalizeEmail(input.email)
      checkPassword(input.password)
      const row = await tx
        .insertInto('staff_users')
        .values({ id: newId('stf'), email, name: input.name ?? null, role: input.role, password_hash: await hashPassword(input.password) })
        .onConflict((oc) => oc.column('email').where('disabled_at', 'is', null).doNothing())
        .returning(columns)
        .executeTakeFirst()
      if (!row) throw new HubError('STAFF_USER_TAKEN', `A staff user already has the email ${email}.`)
      return toStaffUser(row)
    },

    async list(exec: Executor): Promise<StaffUser[]> {
      const rows = await exec.selectFrom('staff_users').select(columns).where('disabled_at', 'is', null).orderBy('created_at').orderBy('id').execute()
      return rows.map(toStaffUser)
    },

    /** Changes role, name or password; a new password ends every session of the user. */
    async update(tx: Tx, id: string, patch: StaffUserPatch): Promise<StaffUser> {
      if (patch.password !== undefined) checkPassword(patch.password)
      const now = new Date()
      const row = await tx
        .updateTable('staff_users')
        .set({
          ...(patch.role === undefined ? {} : { role: patch.role }),
          ...(patch.name === undefined ? {} : { name: patch.name }),
          ...(patch.password === undefined ? {} : { password_hash: await hashPassword(patch.password), sessions_valid_after: now }),
          updated_at: now,
        })
        .where('id', '=', id)
        .where('disabled_at', 'is', null)
        .returning(columns)
        .executeTakeFirst()
      if (!row) throw notFound(id)
      if (patch.password !== undefined) await revokeFamilies(tx, { subjectKind: 'staff', subjectIds: [id] })
      return toStaffUser(row)
    },

    /** Disables a staff user: it cannot sign in, its access and refresh tokens stop at once. */
    async disable(tx: Tx, id: string): Promise<void> {
      const now = new Date()
      const row = await tx.updateTable('staff_users').set({ disabled_at: now, sessions_valid_after: now, updated_at: now })
        .where('id', '=', id).where('disabled_at', 'is', null).returning('id').executeTakeFirst()
      if (!row) throw notFound(id)
      await revokeFamilies(tx, { subjectKind: 'staff', subjectIds: [id] })
    },

    /** The live user with this login email and its password hash, for sign-in: a query, read within the statement that counts the attempt. */
    forLogin(exec: Executor, email: string) {
      return exec.selectFrom('staff_users').select(['id', 'email', 'role', 'password_hash']).where('email', '=', email).where('disabled_at', 'is', null)
    },

    /** The live user, for a request with its access token. */
    async get(exec: Executor, id: string) {
      return exec.selectFrom('staff_users').select(['id', 'email', 'role', 'sessions_valid_after']).where('id', '=', id).where('disabled_at', 'is', null).executeTakeFirst()
    },
  }
}
export type StaffService = ReturnType<typeof createStaffService>
