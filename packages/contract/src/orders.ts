import Type, { type Static } from 'typebox'
import { Currency, IdOf, Timestamp } from './common.js'

export const OrderInput = Type.Object(
  {
    platform: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: 'the reporting platform, e.g. shopify' }),
    externalId: Type.String({ minLength: 1, maxLength: 200, description: "the platform's order id" }),
    customerId: IdOf('cus'),
    total: Type.Integer({ minimum: 0, maximum: 1e15, description: 'minor units' }),
    currency: Currency,
    placedAt: Timestamp,
  },
  { additionalProperties: false },
)
export type OrderInput = Static<typeof OrderInput>

export const OrderResult = Type.Object({
  id: IdOf('ord'),
  platform: Type.String(),
  externalId: Type.String(),
  customerId: Type.String(),
  total: Type.Integer(),
  currency: Type.String(),
  placedAt: Timestamp,
  outcome: Type.Union([Type.Literal('recorded'), Type.Literal('corrected'), Type.Literal('unchanged')], {
    description: 'recorded: first report; corrected: a changed total was applied; unchanged: a repeat, nothing counted',
  }),
  orderCount: Type.Integer({ description: "the customer's order count after this report" }),
  totalSpent: Type.Integer({ description: "the customer's total after this report" }),
})
export type OrderResult = Static<typeof OrderResult>
