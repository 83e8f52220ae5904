import Type, { type Static } from 'typebox'
import { IdOf, List, Timestamp } from './common.js'
import { defineDomain } from './define.js'
import { Password, Session } from './auth.js'

/** What a staff user may do in the console (and through the API with its access token). */
export const staffRoles = ['admin', 'support'] as const
export type StaffRole = (typeof staffRoles)[number]

const StaffEmail = Type.String({ minLength: 3, maxLength: 254, description: 'trimmed and lower-cased before it is stored; one live staff user per email' })
const StaffName = Type.String({ minLength: 1, maxLength: 200 })

export const StaffUserInput = Type.Object(
  {
    email: StaffEmail,
    password: Password,
    role: Type.Enum(staffRoles, { description: 'admin: everything an admin token may do; support: read everything, change profiles, addresses and groups' }),
    name: Type.Optional(StaffName),
  },
  { additionalProperties: false },
)
export type StaffUserInput = Static<typeof StaffUserInput>

export const StaffUserPatch = Type.Object(
  {
    role: Type.Optional(Type.Enum(staffRoles)),
    name: Type.Optional(Type.Union([StaffName, Type.Null()])),
    /** A new password ends every session of the user. */
    password: Type.Optional(Password),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type StaffUserPatch = Static<typeof StaffUserPatch>

export const StaffUser = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  role: Type.Enum(staffRoles),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})
export type StaffUser = Static<typeof StaffUser>

export const StaffLoginInput = Type.Object({ email: StaffEmail, password: Password }, { additionalProperties: false })
export type StaffLoginInput = Static<typeof StaffLoginInput>

const tags = ['staff']
const params = Type.Object({ id: IdOf('stf') })

/** The people who run the hub in the console: staff users with a role, their sign-in. */
export const staff = defineDomain({
  errors: {
    STAFF_USER_NOT_FOUND: { status: 404, message: 'No active staff user has this id.' },
    STAFF_USER_TAKEN: { status: 409, message: 'An active staff user already has this email.' },
  },
  events: {},
  routes: {
    staffLogin: {
      method: 'POST', path: '/auth/staff/login', tags, access: 'public',
      summary: 'Log a staff user in with email and password (the console)',
      description: 'The session is refreshed and ended with POST /auth/refresh and POST /auth/logout, as a customer’s. Its access token acts with the user’s role as it is now: a changed role applies at the next request, a disabled user’s tokens stop at once.',
      body: StaffLoginInput,
      responses: { 200: Session },
      errors: ['INVALID_CREDENTIALS', 'RATE_LIMITED'],
      secretAnswer: true,
    },
    createStaffUser: {
      method: 'POST', path: '/staff', tags, access: ['admin'],
      summary: 'Create a staff user',
      body: StaffUserInput,
      responses: { 201: StaffUser },
      errors: ['INVALID_EMAIL', 'PASSWORD_TOO_SHORT', 'STAFF_USER_TAKEN'],
    },
    listStaffUsers: {
      method: 'GET', path: '/staff', tags, access: ['admin'],
      summary: 'List the active staff users',
      responses: { 200: List(StaffUser) },
      errors: [],
    },
    updateStaffUser: {
      method: 'PATCH', path: '/staff/:id', tags, access: ['admin'],
      summary: 'Change a staff user’s role, name or password',
      params,
      body: StaffUserPatch,
      responses: { 200: StaffUser },
      errors: ['STAFF_USER_NOT_FOUND', 'PASSWORD_TOO_SHORT'],
    },
    disableStaffUser: {
      method: 'DELETE', path: '/staff/:id', tags, access: ['admin'],
      summary: 'Disable a staff user: its sessions end at once',
      params,
      responses: { 200: Type.Object({ disabled: Type.Literal(true), id: Type.String() }) },
      errors: ['STAFF_USER_NOT_FOUND'],
    },
  },
})
