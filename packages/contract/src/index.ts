export { errorCatalogue, type ErrorCode, type ErrorBody } from './errors.js'
export { IdOf, Timestamp, Metadata, Currency, ErrorResponse, Page } from './common.js'
export {
  Address,
  AddressInput,
  AddressPatch,
  Customer,
  CustomerInput,
  CustomerPatch,
  GroupInput,
  CustomerListQuery,
  CustomerPage,
  CustomerIdParams,
  AddressParams,
  GroupParams,
  customerSortFields,
  type CustomerSortField,
} from './customers.js'
export { OrderInput, OrderResult } from './orders.js'
export { HubEvent, EventListQuery, EventPage, eventTypes, type EventType } from './events.js'
export { TokenInput, ApiTokenInfo, CreatedToken, apiRoles, type ApiRole } from './tokens.js'
export {
  Identity,
  IdentityInput,
  IdentityParams,
  identityKinds,
  type IdentityKind,
  LookupQuery,
  LookupResult,
  SyncInput,
  SyncResult,
  IdentityConflict,
  matchRules,
  type MatchRule,
  RewardAccount,
  RewardAccountInput,
  EnsuredRewardAccount,
  MergeInput,
  Merge,
  MergeResult,
  UndoResult,
} from './identity.js'
export {
  LoginInput,
  Session,
  RefreshInput,
  EmailRequestInput,
  TokenInput as OneTimeTokenInput,
  PasswordResetInput,
  Accepted,
  WhoAmI,
  ServiceAccountInput,
  ServiceAccount,
  CustomerMePatch,
} from './auth.js'
