export { createCommerceClient } from './commerce-client.js'
export type { CommerceClient, CommerceClientOptions, CustomersApi, OrdersApi, Deleted, CustomerListAllQuery } from './commerce-client.js'
export { createHttpClient, encodePath } from './http-client.js'
export type { HttpClient, HttpClientOptions, HttpMethod, HttpRequest, HttpResponse, RequestOptions, QueryParams, QueryScalar, FetchLike } from './http-client.js'
export { HubApiError, isHubApiError } from './hub-error.js'
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
  ErrorCode,
  ErrorBody,
} from '@his-her/contract'
