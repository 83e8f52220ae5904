import Type, { type Static } from 'typebox'
import { Handle, IdOf, List, Timestamp } from './common.js'
import { CustomerIdParams } from './customers.js'
import { defineDomain } from './define.js'

export const RewardAccount = Type.Object(
  {
    id: IdOf('rwa'),
    ledger: Type.String(),
    customerId: Type.String(),
    createdAt: Timestamp,
  },
  { $id: 'RewardAccount' },
)
export type RewardAccount = Static<typeof RewardAccount>

export const RewardAccountInput = Type.Object({ ledger: Handle }, { additionalProperties: false })
export type RewardAccountInput = Static<typeof RewardAccountInput>
export const EnsuredRewardAccount = Type.Object({ account: RewardAccount, created: Type.Boolean() })
export type EnsuredRewardAccount = Static<typeof EnsuredRewardAccount>

const tags = ['loyalty']
const rw = ['admin', 'platform'] as const
const named = ['CUSTOMER_NOT_FOUND', 'CUSTOMER_MERGED'] as const

/** Points ledgers and the customers' reward accounts in them. */
export const loyalty = defineDomain({
  errors: {
    LEDGER_NOT_FOUND: { status: 404, message: 'No ledger has this handle; declare it under ledgers: in the configuration.' },
  },
  events: {
    'reward_account.created': Type.Object({ rewardAccount: RewardAccount }),
  },
  routes: {
    listRewardAccounts: {
      method: 'GET', path: '/customer/:id/reward-accounts', tags, access: rw,
      summary: "A customer's reward accounts",
      params: CustomerIdParams,
      responses: { 200: List(RewardAccount) },
      errors: named,
    },
    ensureRewardAccount: {
      method: 'POST', path: '/customer/:id/reward-accounts', tags, access: rw,
      summary: 'Make sure the customer has an account in a ledger (idempotent)',
      description: '201 when the account was made, 200 when it existed.',
      params: CustomerIdParams,
      body: RewardAccountInput,
      responses: { 200: EnsuredRewardAccount, 201: EnsuredRewardAccount },
      errors: [...named, 'LEDGER_NOT_FOUND'],
    },
    myRewardAccounts: {
      method: 'GET', path: '/customer/me/reward-accounts', tags: ['me'], access: ['customer'],
      summary: 'My reward accounts',
      responses: { 200: List(RewardAccount) },
      errors: named,
    },
  },
})
