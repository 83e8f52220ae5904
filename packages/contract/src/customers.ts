import Type, { type Static } from 'typebox'
import { Currency, IdOf, Metadata, Page, Timestamp } from './common.js'

const Name = Type.String({ minLength: 1, maxLength: 200 })
const Email = Type.String({ minLength: 3, maxLength: 254, description: 'trimmed and lower-cased before it is stored' })
const Phone = Type.String({ minLength: 3, maxLength: 40, description: 'any common notation; stored as E.164 (default_country for national numbers)' })
const Country = Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2, e.g. US' })
const Group = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'lower-case tag such as vip, wholesale, b2b' })
const Opt = <T extends Parameters<typeof Type.Optional>[0]>(t: T) => Type.Optional(t)
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const Address = Type.Object(
  {
    id: IdOf('addr'),
    label: Nullable(Type.String()),
    firstName: Nullable(Type.String()),
    lastName: Nullable(Type.String()),
    line1: Type.String(),
    line2: Nullable(Type.String()),
    city: Type.String(),
    state: Nullable(Type.String()),
    postalCode: Nullable(Type.String()),
    country: Type.String(),
    phone: Nullable(Type.String()),
    isDefault: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Address' },
)
export type Address = Static<typeof Address>

const addressFields = {
  label: Opt(Nullable(Type.String({ maxLength: 100 }))),
  firstName: Opt(Nullable(Name)),
  lastName: Opt(Nullable(Name)),
  line1: Type.String({ minLength: 1, maxLength: 300 }),
  line2: Opt(Nullable(Type.String({ maxLength: 300 }))),
  city: Type.String({ minLength: 1, maxLength: 200 }),
  state: Opt(Nullable(Type.String({ maxLength: 100 }))),
  postalCode: Opt(Nullable(Type.String({ maxLength: 20 }))),
  country: Country,
  phone: Opt(Nullable(Phone)),
  isDefault: Opt(Type.Boolean({ description: 'make this the default address (the first address always is)' })),
}

export const AddressInput = Type.Object(addressFields, { additionalProperties: false })
export type AddressInput = Static<typeof AddressInput>

export const AddressPatch = Type.Object(
  {
    label: addressFields.label,
    firstName: addressFields.firstName,
    lastName: addressFields.lastName,
    line1: Opt(addressFields.line1),
    line2: addressFields.line2,
    city: Opt(addressFields.city),
    state: addressFields.state,
    postalCode: addressFields.postalCode,
    country: Opt(Country),
    phone: addressFields.phone,
    isDefault: addressFields.isDefault,
  },
  { additionalProperties: false },
)
export type AddressPatch = Static<typeof AddressPatch>

export const Customer = Type.Object(
  {
    id: IdOf('cus'),
    email: Nullable(Type.String()),
    firstName: Nullable(Type.String()),
    lastName: Nullable(Type.String()),
    phone: Nullable(Type.String({ description: 'E.164' })),
    addresses: Type.Array(Address),
    groups: Type.Array(Type.String()),
    metadata: Type.Object({}, { additionalProperties: true }),
    orderCount: Type.Integer(),
    totalSpent: Type.Integer({ description: 'minor units of `currency`' }),
    currency: Nullable(Type.String()),
    hasAccount: Type.Boolean({ description: 'false for a guest record' }),
    emailVerified: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Customer' },
)
export type Customer = Static<typeof Customer>

export const CustomerInput = Type.Object(
  {
    email: Opt(Email),
    password: Opt(Type.String({ maxLength: 256, description: 'makes the record an account; without it the record is a guest' })),
    firstName: Opt(Nullable(Name)),
    lastName: Opt(Nullable(Name)),
    phone: Opt(Nullable(Phone)),
    currency: Opt(Nullable(Currency)),
    metadata: Opt(Metadata),
  },
  { additionalProperties: false },
)
export type CustomerInput = Static<typeof CustomerInput>

export const CustomerPatch = Type.Object(
  {
    email: Opt(Email),
    firstName: Opt(Nullable(Name)),
    lastName: Opt(Nullable(Name)),
    phone: Opt(Nullable(Phone)),
    metadata: Opt(Type.Object({}, { additionalProperties: true, maxProperties: 50, description: 'merged key by key; a null value removes the key' })),
  },
  { additionalProperties: false },
)
export type CustomerPatch = Static<typeof CustomerPatch>

export const GroupInput = Type.Object({ group: Group }, { additionalProperties: false })
export type GroupInput = Static<typeof GroupInput>

export const customerSortFields = ['createdAt', 'totalSpent', 'orderCount', 'lastName'] as const
export type CustomerSortField = (typeof customerSortFields)[number]

export const CustomerListQuery = Type.Object(
  {
    group: Opt(Type.Union([Group, Type.Array(Group, { maxItems: 10 })], { description: 'repeatable; every group must match' })),
    minOrders: Opt(Type.Integer({ minimum: 0 })),
    maxOrders: Opt(Type.Integer({ minimum: 0 })),
    minSpent: Opt(Type.Integer({ minimum: 0 })),
    q: Opt(Type.String({ minLength: 1, maxLength: 200, description: 'substring of email, first name, last name or phone' })),
    email: Opt(Email),
    hasAccount: Opt(Type.Boolean()),
    createdAfter: Opt(Timestamp),
    createdBefore: Opt(Timestamp),
    sort: Opt(Type.String({ pattern: `^(${customerSortFields.join('|')}):(asc|desc)$`, default: 'createdAt:desc' })),
    limit: Opt(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Opt(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
)
export type CustomerListQuery = Static<typeof CustomerListQuery>

export const CustomerPage = Page(Type.Ref('Customer'))
export type CustomerPage = { data: Customer[]; nextCursor: string | null }

export const CustomerIdParams = Type.Object({ id: Type.String({ maxLength: 100 }) })
export const AddressParams = Type.Object({ id: Type.String({ maxLength: 100 }), addressId: Type.String({ maxLength: 100 }) })
export const GroupParams = Type.Object({ id: Type.String({ maxLength: 100 }), group: Type.String({ maxLength: 100 }) })
