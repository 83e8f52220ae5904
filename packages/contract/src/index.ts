import Type, { type Static } from 'typebox'
import { combineDomains, type RouteSpec } from './define.js'
import { common } from './common.js'
import { operations } from './operations.js'
import { customers } from './customers.js'
import { identity } from './identity.js'
import { loyalty } from './loyalty.js'
import { orders } from './orders.js'
import { auth } from './auth.js'
import { tokens } from './tokens.js'
import { staff } from './staff.js'
import { sellers } from './sellers.js'
import { coupons } from './coupons.js'
import { webhooks } from './webhooks.js'
import { privacyExport } from './privacy-export.js'
import { imports } from './imports.js'
import { eventEnvelope, feedDomain } from './events.js'

// One line a domain: its error codes, events and routes join the catalogue, the event map and
// the route table below.
const domains = combineDomains({ common, operations, customers, identity, loyalty, orders, auth, tokens, staff, sellers, coupons, webhooks, privacyExport, imports })

/** Every event type with the schema of its payload. */
export const eventPayloads = domains.events
export type EventPayloads = typeof eventPayloads
export type EventType = keyof EventPayloads & string
export type EventPayload<T extends EventType> = Static<EventPayloads[T]>
export const eventTypes = Object.keys(eventPayloads) as EventType[]

/** The envelope of an event as the feed and webhooks carry it. */
export const HubEventEnvelope = eventEnvelope(eventTypes)
/** One event: the envelope, its `type` a literal and its `payload` that type's payload, so a `switch` on `type` narrows it. */
export type HubEvent = {
  [T in EventType]: Omit<Static<typeof HubEventEnvelope>, 'type' | 'payload'> & { type: T; payload: EventPayload<T> }
}[EventType]
export type EventPage = { data: HubEvent[]; nextAfter: string }

const feed = feedDomain(eventTypes)

/**
 * The route table: every route of the API by operation id, with its access, schemas, answers and
 * error codes. The hub registers exactly these; `@his-her/connect` calls them; the OpenAPI
 * document is built from them.
 */
export const routes = { ...domains.routes, ...feed.routes }
export type Routes = typeof routes
export type OperationId = keyof Routes & string

/**
 * The error catalogue: every error the hub answers with carries one of these stable codes.
 * Clients switch on `code`, never on `message`.
 *
 * @example
 * ```ts
 * try { await commerce.customers.create(input) }
 * catch (err) { if (err.code === 'EMAIL_TAKEN') … }
 * ```
 */
export const errorCatalogue = domains.errors
export type ErrorCode = keyof typeof errorCatalogue & string
export const errorCodes = Object.keys(errorCatalogue) as ErrorCode[]

/** Every error answer of the hub has this shape. */
export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.Enum(errorCodes, { description: 'stable UPPER_SNAKE code from the error catalogue' }),
    error: Type.String({ description: 'the HTTP reason phrase, e.g. Conflict' }),
    message: Type.String(),
    details: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'extra facts, e.g. { customerId } of the owner of a taken identity' })),
  },
  { $id: 'Error' },
)
export type ErrorBody = Static<typeof ErrorResponse>

/** The codes a route names must be in the catalogue: a typo fails to compile here. */
type UnknownCodes = { [K in OperationId]: Exclude<Routes[K]['errors'][number], ErrorCode> }[OperationId]
const everyCodeKnown: [UnknownCodes] extends [never] ? true : UnknownCodes = true
void everyCodeKnown

export {
  roles,
  routeErrors,
  isWrite,
  type Role,
  type RouteSpec,
  type HttpMethod,
  type SuccessStatus,
  type ErrorSpec,
  type ParamsOf,
  type QueryOf,
  type BodyOf,
  type AnswerOf,
  type ResultOf,
} from './define.js'
export { buildOpenApi, hubApiInfo, type OpenApiInfo } from './openapi.js'
export { clientTableSource } from './client-table.js'
import { SyncInput as SyncInputSchema } from './identity.js'
/** Patterns the clients check before sending: the platform component and its id field name. */
export const clientPatterns = {
  component: (SyncInputSchema.properties.platform.properties.component as unknown as { pattern: string }).pattern,
  externalIdField: (SyncInputSchema.properties.platform.properties.externalIdField as unknown as { pattern: string }).pattern,
}
export { IdOf, idPattern, Timestamp, Metadata, Currency, Page, List, Deleted, Nullable, type DeletedAnswer } from './common.js'
export {
  Address,
  AddressInput,
  AddressPatch,
  Customer,
  CustomerInput,
  CustomerPatch,
  CustomerMePatch,
  MyCustomer,
  PendingRegistration,
  GroupInput,
  CustomerListQuery,
  CustomerPage,
  customerSortFields,
  type CustomerSortField,
} from './customers.js'
export { OrderInput, OrderResult, Order, orderOutcomes, CancelOrderInput, CancelOrderResult, CustomerOrder, CustomerOrderQuery } from './orders.js'
export { EventListQuery } from './events.js'
export { StaffUser, StaffUserInput, StaffUserPatch, StaffLoginInput, staffRoles, type StaffRole } from './staff.js'
export { TokenInput, ApiTokenInfo, CreatedToken, apiRoles, type ApiRole, tokenScopePatterns, maxTokenScope } from './tokens.js'
export {
  Identity,
  IdentityInput,
  identityKinds,
  type IdentityKind,
  LookupQuery,
  LookupResult,
  SyncInput,
  SyncResult,
  IdentityConflict,
  conflictReasons,
  LinkedBy,
  linkVias,
  linkRules,
  RejectedIdentifier,
  rejectedFields,
  HistoryEntry,
  HistoryQuery,
  HistoryPage,
  historyKinds,
  matchRules,
  type MatchRule,
  MergeInput,
  Merge,
  MergeResult,
  UndoResult,
  mergeReasons,
} from './identity.js'
export {
  RewardAccount,
  RewardAccountInput,
  EnsuredRewardAccount,
  RewardAccountBalance,
  PointsLot,
  AccountBalance,
  Posting,
  LedgerTransaction,
  TransactionResult,
  TransactionInput,
  type EarnInput,
  type SpendInput,
  type AdjustInput,
  type TransferInput,
  ReverseInput,
  Hold,
  HoldInput,
  CaptureInput,
  HoldResult,
  LedgerEntry,
  PointInTimeBalance,
  Ledger,
  VerifyReport,
  transactionKinds,
  type TransactionKind,
  holdStatuses,
  verifyProblemKinds,
  maxPoints,
} from './loyalty.js'
export {
  LoginInput,
  Session,
  RefreshInput,
  EmailRequestInput,
  OneTimeTokenInput,
  PasswordResetInput,
  Accepted,
  WhoAmI,
  principalKinds,
  ServiceAccountInput,
  ServiceAccount,
  Jwks,
} from './auth.js'
export {
  LoyaltyProvider,
  Channel,
  Organization,
  ServiceAccountSpec,
  SellerOnboardingInput,
  SellerOnboardingResult,
  SellerMetadata,
  PartnerInput,
  PartnerResult,
  SellerStatusResult,
  providerStatuses,
  type ProviderStatus,
} from './sellers.js'
export {
  Coupon,
  CouponExternal,
  GiftCardSyncInput,
  GiftCardSyncResult,
  CouponLookupInput,
  CouponRedeemInput,
  CouponRedemption,
  CouponRedeemResult,
  CouponHoldInput,
  CouponHold,
  CouponHoldResult,
  CouponCaptureInput,
  CouponPatch,
  CouponListQuery,
  couponStatuses,
} from './coupons.js'
export { WebhookInput, WebhookPatch, Webhook, WebhookWithSecret, WebhookDelivery, WebhookDeliveryQuery, WebhookReplay } from './webhooks.js'
export { PersonExport, EraseResult, exportSchemaVersion, exportLimits } from './privacy-export.js'

/** A route of the table by operation id (for generic code over the table). */
export type RouteOf<K extends OperationId> = Routes[K] & RouteSpec
export type { Static }
export { ImportRow, ImportSummary, ImportQuery, ImportRejections, importStatuses } from './imports.js'
