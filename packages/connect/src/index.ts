export { createCommerceClient } from './commerce-client.js'
export type { CommerceClient, CommerceClientOptions, AuthApi, CustomersApi, OrdersApi, Deleted, CustomerListAllQuery } from './commerce-client.js'
export { DEFAULT_LEDGER } from './loyalty-client.js'
export type {
  LoyaltyApi,
  LedgerOption,
  IdempotencyKeyOption,
  EarnPointsInput,
  SpendPointsInput,
  AdjustPointsInput,
  TransferPointsInput,
  ReverseInput,
  HoldPointsInput,
  CaptureInput,
  BalanceQuery,
  EntriesQuery,
  PointsTransactionResult,
  PointsReversalResult,
  PointsHoldResult,
  PointsCaptureResult,
  PointsVoidResult,
  PointsHold,
  PointsTransaction,
  PointsBalance,
  PointsEntryPage,
  RewardAccountList,
} from './loyalty-client.js'
export { createServiceJwtAuth, serviceAccountEmail } from './service-jwt.js'
export { deriveServiceAccountPassword } from './seller-password.js'
export { createHisHerConnectClient, sellerIdsOf } from './his-her-client.js'
export type { HisHerConnectClient, HisHerConnectOptions, MercurSellerSync, SellerConnect, SellerOnboardingSyncInput } from './his-her-client.js'
export type { CouponsApi, GiftCardCouponInput, RedeemCouponInput, HoldCouponInput, CaptureCouponInput, CouponPage } from './coupons-client.js'
export type { ServiceJwtAuth, ServiceJwtAuthOptions } from './service-jwt.js'
export { createHisHerCustomerConfigFromEnv, hisHerCustomerAuthModes } from './config-from-env.js'
export type { HisHerCustomerConfig, HisHerCustomerAuthMode, EnvSource } from './config-from-env.js'
export {
  createCustomerSyncClient,
  silentSyncLogger,
  consoleSyncLogger,
  EMAIL_IDENTITY_COMPONENT,
  PHONE_IDENTITY_COMPONENT,
} from './customer-sync-client.js'
export type {
  CustomerSyncClient,
  CustomerSyncConfig,
  PlatformIdentityConfig,
  SyncLogger,
  SyncCustomerInput,
  SyncCustomerResult,
  ContactIdentity,
  CreateContactInput,
  CreatedContact,
} from './customer-sync-client.js'
export { createHttpClient, encodePath } from './http-client.js'
export { callRoute, routePath } from './route-call.js'
export type { RouteInput } from './route-call.js'
export { routeTable } from './routes.generated.js'
export type { AuthProvider, HttpClient, HttpClientOptions, HttpMethod, HttpRequest, HttpResponse, RequestOptions, QueryParams, QueryScalar, FetchLike } from './http-client.js'
export { HubApiError, isHubApiError } from './hub-error.js'
export { verifyWebhook, WebhookVerificationError } from './verify-webhook.js'
export type { VerifyWebhookOptions, WebhookHeaders, WebhookVerificationCode } from './verify-webhook.js'
export type { HubApiErrorCode, HubApiErrorInit, ClientErrorCode } from './hub-error.js'
export type {
  Address,
  AddressInput,
  AddressPatch,
  Customer,
  CustomerInput,
  CustomerPatch,
  CustomerListQuery,
  CustomerPage,
  OrderInput,
  OrderResult,
  CancelOrderInput,
  CancelOrderResult,
  ErrorCode,
  ErrorBody,
  Identity,
  IdentityConflict,
  MatchRule,
  RewardAccount,
  EnsuredRewardAccount,
  RewardAccountBalance,
  PointsLot,
  AccountBalance,
  Posting,
  LedgerTransaction,
  TransactionResult,
  TransactionKind,
  Hold,
  HoldResult,
  LedgerEntry,
  LoginInput,
  Session,
  WhoAmI,
  CustomerMePatch,
  ServiceAccount,
  ServiceAccountInput,
  LoyaltyProvider,
  ProviderStatus,
  Channel,
  Organization,
  ServiceAccountSpec,
  SellerOnboardingInput,
  SellerOnboardingResult,
  SellerMetadata,
  SellerStatusResult,
  PartnerInput,
  PartnerResult,
  Coupon,
  CouponExternal,
  GiftCardSyncInput,
  GiftCardSyncResult,
  CouponLookupInput,
  CouponRedeemInput,
  CouponRedeemResult,
  CouponHoldInput,
  CouponHold,
  CouponHoldResult,
  CouponCaptureInput,
  CouponPatch,
  CouponListQuery,
  CouponRedemption,
  Webhook,
  WebhookInput,
  WebhookPatch,
  WebhookWithSecret,
  HubEvent,
  EventType,
  EventPayload,
  EventPage,
  LookupResult,
  SyncResult,
  Merge,
  MergeResult,
  UndoResult,
  OperationId,
  Routes,
  ParamsOf,
  QueryOf,
  BodyOf,
  ResultOf,
  Role,
} from '@his-her/contract'
