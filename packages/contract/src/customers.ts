import Type, { type Static } from 'typebox'
import { Currency, Deleted, IdOf, Metadata, Nullable, Page, PathId, Timestamp } from './common.js'
import { defineDomain } from './define.js'

const Name = Type.String({ minLength: 1, maxLength: 200 })
export const Email = Type.String({ minLength: 3, maxLength: 254, description: 'trimmed and lower-cased before it is stored' })
export const Phone = Type.String({ minLength: 3, maxLength: 40, description: 'any common notation; stored as E.164 (default_country for national numbers)' })
const Country = Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2, e.g. US' })
export const Group = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'lower-case tag such as vip, wholesale, b2b' })
const Opt = Type.Optional

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
    ...addressFields,
    line1: Opt(addressFields.line1),
    city: Opt(addressFields.city),
    country: Opt(Country),
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

/**
 * What a customer may change of its own record: never its role, account state or totals. A new
 * email or phone needs `currentPassword` and waits for the token sent to it.
 */
export const CustomerMePatch = Type.Object(
  {
    email: Opt(Type.String({ ...Email, description: 'pending until the token sent to it comes back (POST /auth/verify-email)' })),
    firstName: Opt(Nullable(Name)),
    lastName: Opt(Nullable(Name)),
    phone: Opt(Nullable(Type.String({ ...Phone, description: 'pending until the token sent to it comes back (POST /auth/verify-phone); null removes it at once' }))),
    currentPassword: Opt(Type.String({ minLength: 1, maxLength: 256, description: 'required to change or remove the email or phone' })),
  },
  { additionalProperties: false },
)
export type CustomerMePatch = Static<typeof CustomerMePatch>

/** The customer's own record, with the changes of email and phone that wait for their token. */
export const MyCustomer = Type.Object(
  {
    ...Customer.properties,
    pending: Type.Object({
      email: Nullable(Type.String({ description: 'a new email waiting for its verification token' })),
      phone: Nullable(Type.String({ description: 'a new phone (E.164) waiting for its verification token' })),
    }),
  },
  { $id: 'MyCustomer' },
)
export type MyCustomer = Static<typeof MyCustomer>

/** A registration with the email of a guest record, waiting for the verification token sent to that email. */
export const PendingRegistration = Type.Object(
  {
    pendingVerification: Type.Literal(true),
    email: Type.String({ description: 'where the verification token was sent' }),
    expiresAt: Timestamp,
  },
  { $id: 'PendingRegistration' },
)
export type PendingRegistration = Static<typeof PendingRegistration>

export const GroupInput = Type.Object({ group: Group }, { additionalProperties: false })
export type GroupInput = Static<typeof GroupInput>

export const customerSortFields = ['createdAt', 'totalSpent', 'orderCount', 'lastName'] as const
export type CustomerSortField = (typeof customerSortFields)[number]

export const CustomerListQuery = Type.Object(
  {
    group: Opt(Type.Union([Group, Type.Array(Group, { maxItems: 10 })], { description: 'repeatable; every group must match' })),
    // up to what a customer's count (32-bit) and amount (exact in JSON) can be
    minOrders: Opt(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
    maxOrders: Opt(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
    minSpent: Opt(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
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

export const CustomerPage = Page(Customer)
export type CustomerPage = Static<typeof CustomerPage>

export const CustomerIdParams = Type.Object({ id: PathId })
export const AddressParams = Type.Object({ id: PathId, addressId: PathId })
export const AddressIdParams = Type.Object({ addressId: PathId })
export const GroupParams = Type.Object({ id: PathId, group: Type.String({ maxLength: 100 }) })

const tags = ['customers']
const me = ['me']
const rw = ['admin', 'platform'] as const
const admin = ['admin'] as const
const customerRole = ['customer'] as const
/** What every route naming a customer in its path can answer. */
const named = ['CUSTOMER_NOT_FOUND', 'CUSTOMER_MERGED', 'CUSTOMER_ERASED'] as const
const contact = ['INVALID_EMAIL', 'INVALID_PHONE', 'EMAIL_TAKEN', 'PHONE_TAKEN'] as const

/** The Customer Module: customers, their addresses and groups, the filtered list, the `/customer/me` routes. */
export const customers = defineDomain({
  errors: {
    INVALID_COUNTRY: { status: 400, message: 'The country is not an ISO 3166-1 alpha-2 code.' },
    GUEST_CHECKOUT_DISABLED: { status: 403, message: 'Guest records are disabled (allow_guest_checkout: false); send a password.' },
    CUSTOMER_NOT_FOUND: { status: 404, message: 'No live customer has this id.' },
    ADDRESS_NOT_FOUND: { status: 404, message: 'The customer has no address with this id.' },
    DEFAULT_ADDRESS_REQUIRED: { status: 409, message: 'A customer with addresses keeps one default; make another address the default instead.' },
    CUSTOMER_MERGED: { status: 410, message: 'This customer was merged into another; details.mergedInto names it.' },
    CUSTOMER_ERASED: { status: 410, message: 'This customer was erased (POST /customer/:id/erase): its personal data is gone and it takes no more changes.' },
    ADDRESS_LIMIT_REACHED: { status: 422, message: 'The customer already has max_addresses addresses.' },
    METADATA_TOO_LARGE: { status: 422, message: "The customer's metadata would hold more than 50 keys or 16 KiB once merged." },
    CURRENT_PASSWORD_REQUIRED: { status: 403, message: 'Changing the email or phone needs the current password (currentPassword), and it is missing or wrong.' },
  },
  events: {
    'customer.created': Type.Object({ customer: Customer }),
    'customer.updated': Type.Object({ customer: Customer, changed: Type.Array(Type.String()) }),
    'customer.deleted': Type.Object({ customerId: Type.String() }),
    'customer.group_added': Type.Object({ customerId: Type.String(), group: Type.String() }),
    'customer.group_removed': Type.Object({ customerId: Type.String(), group: Type.String() }),
    'customer.address_added': Type.Object({ customerId: Type.String(), address: Address }),
    'customer.address_updated': Type.Object({ customerId: Type.String(), address: Address }),
    'customer.address_removed': Type.Object({ customerId: Type.String(), addressId: Type.String() }),
  },
  routes: {
    createCustomer: {
      method: 'POST', path: '/customer', tags, access: rw,
      summary: 'Register a customer (with password) or create a guest record',
      description:
        'Registering with the email of a guest record (auto_merge_guest) answers 202: a verification token goes to the email ' +
        '(event customer.verification_requested), and the guest becomes the account when it comes back (POST /auth/verify-email). ' +
        'With require_email_verification off, the email moves to a new account and the guest keeps its history.',
      body: CustomerInput,
      responses: { 201: Customer, 202: PendingRegistration },
      errors: ['IDENTIFIER_REQUIRED', 'PASSWORD_TOO_SHORT', 'GUEST_CHECKOUT_DISABLED', 'METADATA_TOO_LARGE', ...contact],
    },
    listCustomers: {
      method: 'GET', path: '/customer', tags, access: ['admin', 'support'],
      summary: 'List customers with filters, sorted, in cursor pages',
      query: CustomerListQuery,
      responses: { 200: CustomerPage },
      errors: ['INVALID_CURSOR', 'INVALID_EMAIL'],
    },
    getCustomer: {
      method: 'GET', path: '/customer/:id', tags, access: ['admin', 'platform', 'support'],
      summary: 'Read a customer',
      params: CustomerIdParams,
      responses: { 200: Customer },
      errors: named,
    },
    updateCustomer: {
      method: 'PATCH', path: '/customer/:id', tags, access: ['admin', 'platform', 'support'],
      summary: 'Change the given fields of a customer',
      params: CustomerIdParams,
      body: CustomerPatch,
      responses: { 200: Customer },
      errors: ['EMPTY_PATCH', 'METADATA_TOO_LARGE', ...named, ...contact],
    },
    deleteCustomer: {
      method: 'DELETE', path: '/customer/:id', tags, access: admin,
      summary: 'Soft-delete a customer (its email and phone become free)',
      params: CustomerIdParams,
      responses: { 200: Deleted },
      errors: named,
    },
    addAddress: {
      method: 'POST', path: '/customer/:id/address', tags, access: ['admin', 'platform', 'support'],
      summary: 'Add an address (the first becomes the default)',
      params: CustomerIdParams,
      body: AddressInput,
      responses: { 201: Address },
      errors: [...named, 'INVALID_COUNTRY', 'INVALID_PHONE', 'ADDRESS_LIMIT_REACHED'],
    },
    updateAddress: {
      method: 'PATCH', path: '/customer/:id/address/:addressId', tags, access: ['admin', 'platform', 'support'],
      summary: 'Change an address; isDefault: true makes it the default',
      params: AddressParams,
      body: AddressPatch,
      responses: { 200: Address },
      errors: ['EMPTY_PATCH', 'INVALID_ID', ...named, 'ADDRESS_NOT_FOUND', 'DEFAULT_ADDRESS_REQUIRED', 'INVALID_COUNTRY', 'INVALID_PHONE'],
    },
    removeAddress: {
      method: 'DELETE', path: '/customer/:id/address/:addressId', tags, access: ['admin', 'platform', 'support'],
      summary: 'Remove an address (the oldest remaining becomes the default)',
      params: AddressParams,
      responses: { 200: Deleted },
      errors: ['INVALID_ID', ...named, 'ADDRESS_NOT_FOUND'],
    },
    addToGroup: {
      method: 'POST', path: '/customer/:id/group', tags, access: ['admin', 'platform', 'support'],
      summary: 'Add the customer to a group (idempotent)',
      params: CustomerIdParams,
      body: GroupInput,
      responses: { 200: Customer },
      errors: named,
    },
    removeFromGroup: {
      method: 'DELETE', path: '/customer/:id/group/:group', tags, access: ['admin', 'platform', 'support'],
      summary: 'Remove the customer from a group (idempotent)',
      params: GroupParams,
      responses: { 200: Customer },
      errors: named,
    },
    getMe: {
      method: 'GET', path: '/customer/me', tags: me, access: customerRole,
      summary: 'My record, with the changes of email and phone that wait for their token',
      responses: { 200: MyCustomer },
      errors: named,
    },
    updateMe: {
      method: 'PATCH', path: '/customer/me', tags: me, access: customerRole,
      summary: 'Change my name, email or phone',
      description: 'Names change at once. A new email or phone needs currentPassword and is linked only when the token sent to it comes back; the current email is told (event customer.contact_change_notice).',
      body: CustomerMePatch,
      responses: { 200: MyCustomer },
      errors: ['EMPTY_PATCH', 'CURRENT_PASSWORD_REQUIRED', 'RATE_LIMITED', ...named, 'INVALID_EMAIL', 'INVALID_PHONE', 'PHONE_TAKEN'],
    },
    addMyAddress: {
      method: 'POST', path: '/customer/me/address', tags: me, access: customerRole,
      summary: 'Add one of my addresses',
      body: AddressInput,
      responses: { 201: Address },
      errors: [...named, 'INVALID_COUNTRY', 'INVALID_PHONE', 'ADDRESS_LIMIT_REACHED'],
    },
    updateMyAddress: {
      method: 'PATCH', path: '/customer/me/address/:addressId', tags: me, access: customerRole,
      summary: 'Change one of my addresses',
      params: AddressIdParams,
      body: AddressPatch,
      responses: { 200: Address },
      errors: ['EMPTY_PATCH', 'INVALID_ID', ...named, 'ADDRESS_NOT_FOUND', 'DEFAULT_ADDRESS_REQUIRED', 'INVALID_COUNTRY', 'INVALID_PHONE'],
    },
    removeMyAddress: {
      method: 'DELETE', path: '/customer/me/address/:addressId', tags: me, access: customerRole,
      summary: 'Remove one of my addresses',
      params: AddressIdParams,
      responses: { 200: Deleted },
      errors: ['INVALID_ID', ...named, 'ADDRESS_NOT_FOUND'],
    },
  },
})
