/**
 * How the connect client authenticates to the hub:
 * - `api-token`: every call carries the API token (`HIS_HER_CUSTOMER_STRAPI_API_TOKEN`);
 * - `service-jwt`: calls made for a seller carry the access token of the seller's service account,
 *   logged in with `<handle>@<emailDomain>` and the shared password (see `createServiceJwtAuth`).
 */
export type HisHerCustomerAuthMode = 'api-token' | 'service-jwt'

export const hisHerCustomerAuthModes: readonly HisHerCustomerAuthMode[] = ['api-token', 'service-jwt']

/** What the environment says about reaching the hub; see {@link createHisHerCustomerConfigFromEnv}. */
export interface HisHerCustomerConfig {
  /** Where the hub answers (`HIS_HER_CUSTOMER_STRAPI_URL`, then `CDP_HOST`; default `http://localhost:1337`). */
  baseUrl: string
  /** The API token (`HIS_HER_CUSTOMER_STRAPI_API_TOKEN`, then `CDP_API_TOKEN`); creates service accounts in `service-jwt` mode. */
  apiToken: string | undefined
  /** `HIS_HER_CUSTOMER_AUTH_MODE`, default `api-token`. */
  authMode: HisHerCustomerAuthMode
  serviceAccount: {
    /** `HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD`; required in `service-jwt` mode. */
    password: string | undefined
    /** `HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID`, then `CDP_SERVICE_ACCOUNT_ROLE_ID`. */
    roleId: string | undefined
    /** `HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN`, then `CDP_SERVICE_ACCOUNT_EMAIL_DOMAIN`; default `service.local`. */
    emailDomain: string
    /** `HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID`, then `CDP_MAIN_ORGANIZATION`. */
    organizationId: string | undefined
  }
  loyalty: {
    /** `HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE`. */
    providerPartnerHandle: string | undefined
    /** `LOYALTY_CHANNEL_HANDLE`. */
    channelHandle: string | undefined
  }
}

/** The environment as `process.env` has it. */
export type EnvSource = Readonly<Record<string, string | undefined>>

/**
 * Reads the hub connection of the seller sync from the environment. The older `CDP_HOST`,
 * `CDP_API_TOKEN`, `CDP_SERVICE_ACCOUNT_ROLE_ID`, `CDP_SERVICE_ACCOUNT_EMAIL_DOMAIN` and
 * `CDP_MAIN_ORGANIZATION` are read when the `HIS_HER_CUSTOMER_*` name is unset; an empty value
 * counts as unset. Throws a `TypeError` naming the variable for an unknown auth mode, a URL that
 * is not http(s), or `service-jwt` without a password.
 *
 * @example
 * ```ts
 * const config = createHisHerCustomerConfigFromEnv()
 * if (config.authMode === 'service-jwt') {
 *   const email = serviceAccountEmail('brand_handle', config.serviceAccount.emailDomain)
 * }
 * ```
 */
export function createHisHerCustomerConfigFromEnv(env: EnvSource = process.env): HisHerCustomerConfig {
  const read = (...names: string[]): string | undefined => {
    for (const name of names) {
      const value = env[name]?.trim()
      if (value) return value
    }
    return undefined
  }

  const urlName = env.HIS_HER_CUSTOMER_STRAPI_URL?.trim() ? 'HIS_HER_CUSTOMER_STRAPI_URL' : 'CDP_HOST'
  const baseUrl = read('HIS_HER_CUSTOMER_STRAPI_URL', 'CDP_HOST') ?? 'http://localhost:1337'
  let protocol: string
  try {
    protocol = new URL(baseUrl).protocol
  } catch {
    throw new TypeError(`${urlName} "${baseUrl}" is not an absolute URL, e.g. http://localhost:1337`)
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new TypeError(`${urlName} "${baseUrl}" must be an http or https URL`)

  const mode = read('HIS_HER_CUSTOMER_AUTH_MODE') ?? 'api-token'
  if (!(hisHerCustomerAuthModes as readonly string[]).includes(mode)) {
    throw new TypeError(`HIS_HER_CUSTOMER_AUTH_MODE "${mode}" is not one of ${hisHerCustomerAuthModes.join(', ')}`)
  }
  const authMode = mode as HisHerCustomerAuthMode
  const password = env.HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD || undefined
  if (authMode === 'service-jwt' && password === undefined) {
    throw new TypeError('HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD is required when HIS_HER_CUSTOMER_AUTH_MODE is service-jwt')
  }

  return {
    baseUrl,
    apiToken: read('HIS_HER_CUSTOMER_STRAPI_API_TOKEN', 'CDP_API_TOKEN'),
    authMode,
    serviceAccount: {
      // a password is taken as written: spaces may be part of it
      password,
      roleId: read('HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID', 'CDP_SERVICE_ACCOUNT_ROLE_ID'),
      emailDomain: read('HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN', 'CDP_SERVICE_ACCOUNT_EMAIL_DOMAIN') ?? 'service.local',
      organizationId: read('HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID', 'CDP_MAIN_ORGANIZATION'),
    },
    loyalty: {
      providerPartnerHandle: read('HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE'),
      channelHandle: read('LOYALTY_CHANNEL_HANDLE'),
    },
  }
}
