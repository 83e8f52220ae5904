import Type, { type Static } from 'typebox'
import { Currency, Handle, IdOf, Nullable, Page, PathId, Timestamp } from './common.js'
import { defineDomain } from './define.js'
import { LedgerTransaction } from './loyalty.js'

export const OrderInput = Type.Object(
  {
    platform: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: 'the reporting platform, e.g. shopify' }),
    externalId: Type.String({ minLength: 1, maxLength: 200, description: "the platform's order id" }),
    customerId: IdOf('cus'),
    total: Type.Integer({ minimum: 0, maximum: 1e15, description: 'minor units' }),
    currency: Currency,
    placedAt: Timestamp,
    reportedAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          "when the platform's order was in this state (e.g. its updated_at). A report of an older state than the newest one the hub was given, delivered late, changes nothing (outcome unchanged); without it, the last report wins",
      }),
    ),
  },
  { additionalProperties: false },
)
export type OrderInput = Static<typeof OrderInput>

const orderFact = {
  id: IdOf('ord'),
  platform: Type.String(),
  externalId: Type.String(),
  customerId: Type.String(),
  total: Type.Integer(),
  currency: Type.String(),
  placedAt: Timestamp,
}

/** An order as the hub keeps it: a fact reported by a platform. */
export const Order = Type.Object(orderFact)
export type Order = Static<typeof Order>

/** An order as a customer's page lists it. */
export const CustomerOrder = Type.Object({
  ...orderFact,
  orderCount: Type.Integer({ description: 'the orders it stands for: 1, or the count of an imported order history (externalId import:…)' }),
  cancelledAt: Nullable(Timestamp),
})
export type CustomerOrder = Static<typeof CustomerOrder>
export const CustomerOrderQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 100, description: 'nextCursor of the page before' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  { additionalProperties: false },
)
export type CustomerOrderQuery = Static<typeof CustomerOrderQuery>

export const orderOutcomes = ['recorded', 'corrected', 'unchanged'] as const
export const OrderResult = Type.Object({
  ...orderFact,
  outcome: Type.Enum(orderOutcomes, {
    description: 'recorded: first report; corrected: a changed total was applied; unchanged: a repeat, nothing counted',
  }),
  orderCount: Type.Integer({ description: "the customer's order count after this report" }),
  totalSpent: Type.Integer({ description: "the customer's total after this report" }),
  cancelledAt: Nullable(Timestamp),
  points: Type.Array(LedgerTransaction, { description: 'the points transactions this report posted (earn, or the difference of a correction)' }),
})
export type OrderResult = Static<typeof OrderResult>

export const CancelOrderInput = Type.Object(
  { platform: Handle, externalId: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
)
export type CancelOrderInput = Static<typeof CancelOrderInput>
export const CancelOrderResult = Type.Object({
  order: Type.Object(orderFact),
  outcome: Type.Enum(['cancelled', 'unchanged'], { description: 'unchanged: it was cancelled already' }),
  orderCount: Type.Integer(),
  totalSpent: Type.Integer(),
  points: Type.Array(LedgerTransaction, { description: 'the points transactions that took back what the order earned' }),
})
export type CancelOrderResult = Static<typeof CancelOrderResult>

const OrderEvent = Type.Object({ order: Order, orderCount: Type.Integer(), totalSpent: Type.Integer() })

/** Orders reported by platforms, kept as facts for each customer's totals. */
export const orders = defineDomain({
  errors: {
    ORDER_CUSTOMER_MISMATCH: { status: 409, message: 'This order was already recorded for another customer.' },
    CURRENCY_MISMATCH: { status: 422, message: "The order's currency differs from the customer's currency." },
    ORDER_NOT_FOUND: { status: 404, message: 'No order was recorded with this platform and externalId.' },
    ORDER_CANCELLED: { status: 409, message: 'This order was cancelled; a cancelled order is not reported again.' },
  },
  events: {
    'order.recorded': OrderEvent,
    'order.corrected': OrderEvent,
    'order.cancelled': OrderEvent,
  },
  routes: {
    recordOrder: {
      method: 'POST', path: '/orders', tags: ['orders'], access: ['admin', 'platform'],
      summary: 'Report an order (idempotent per platform and externalId)',
      description: '201 when first recorded; 200 when a repeat (unchanged) or a correction of the total.',
      body: OrderInput,
      responses: { 200: OrderResult, 201: OrderResult },
      errors: ['PLATFORM_SCOPE', 'CUSTOMER_NOT_FOUND', 'CUSTOMER_MERGED', 'CUSTOMER_ERASED', 'ORDER_CUSTOMER_MISMATCH', 'CURRENCY_MISMATCH', 'ORDER_CANCELLED'],
    },
    listCustomerOrders: {
      method: 'GET', path: '/customer/:id/orders', tags: ['orders'], access: ['admin', 'platform', 'support'],
      summary: "A customer's orders, newest first, cancelled ones too",
      params: Type.Object({ id: PathId }),
      query: CustomerOrderQuery,
      responses: { 200: Page(CustomerOrder) },
      errors: ['CUSTOMER_NOT_FOUND', 'CUSTOMER_MERGED', 'CUSTOMER_ERASED', 'INVALID_CURSOR'],
    },
    cancelOrder: {
      method: 'POST', path: '/orders/cancel', tags: ['orders'], access: ['admin', 'platform'],
      summary: 'Cancel an order: it leaves the totals and what it earned is taken back (idempotent)',
      body: CancelOrderInput,
      responses: { 200: CancelOrderResult },
      errors: ['PLATFORM_SCOPE', 'ORDER_NOT_FOUND'],
    },
  },
})
