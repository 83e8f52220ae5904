import { afterEach, describe, expect, it } from 'vitest'
import { createHisHerCustomerConfigFromEnv, type HisHerCustomerConfig } from './index.js'

/** The seller sync environment of the source document. */
const documentEnv = {
  HIS_HER_CUSTOMER_STRAPI_URL: 'http://localhost:1337',
  HIS_HER_CUSTOMER_STRAPI_API_TOKEN: 'your-strapi-token',
  HIS_HER_CUSTOMER_AUTH_MODE: 'service-jwt',
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: 'service-user-password',
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID: '3',
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN: 'service.local',
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID: '12',
  HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE: 'hisher',
  LOYALTY_CHANNEL_HANDLE: 'multistore',
}

const names = [...Object.keys(documentEnv), 'CDP_HOST', 'CDP_API_TOKEN', 'CDP_SERVICE_ACCOUNT_ROLE_ID', 'CDP_SERVICE_ACCOUNT_EMAIL_DOMAIN', 'CDP_MAIN_ORGANIZATION']
const saved = Object.fromEntries(names.map((k) => [k, process.env[k]]))
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
})

describe('createHisHerCustomerConfigFromEnv', () => {
  it("reads the source document's environment", () => {
    expect(createHisHerCustomerConfigFromEnv(documentEnv)).toEqual<HisHerCustomerConfig>({
      baseUrl: 'http://localhost:1337',
      apiToken: 'your-strapi-token',
      authMode: 'service-jwt',
      serviceAccount: { password: 'service-user-password', roleId: '3', emailDomain: 'service.local', organizationId: '12' },
      loyalty: { providerPartnerHandle: 'hisher', channelHandle: 'multistore' },
    })
  })

  it('has defaults for an empty environment: localhost, api-token, service.local', () => {
    expect(createHisHerCustomerConfigFromEnv({})).toEqual<HisHerCustomerConfig>({
      baseUrl: 'http://localhost:1337',
      apiToken: undefined,
      authMode: 'api-token',
      serviceAccount: { password: undefined, roleId: undefined, emailDomain: 'service.local', organizationId: undefined },
      loyalty: { providerPartnerHandle: undefined, channelHandle: undefined },
    })
  })

  it('falls back to the older CDP_* names', () => {
    const config = createHisHerCustomerConfigFromEnv({
      CDP_HOST: 'https://cdp.example.com',
      CDP_API_TOKEN: 'cdp-token',
      CDP_SERVICE_ACCOUNT_ROLE_ID: '7',
      CDP_SERVICE_ACCOUNT_EMAIL_DOMAIN: 'sellers.example.com',
      CDP_MAIN_ORGANIZATION: '99',
    })
    expect(config).toMatchObject({
      baseUrl: 'https://cdp.example.com',
      apiToken: 'cdp-token',
      serviceAccount: { roleId: '7', emailDomain: 'sellers.example.com', organizationId: '99' },
    })
  })

  it('prefers the HIS_HER_CUSTOMER_* names over the CDP_* ones', () => {
    const config = createHisHerCustomerConfigFromEnv({
      ...documentEnv,
      CDP_HOST: 'https://old.example.com',
      CDP_API_TOKEN: 'old-token',
      CDP_SERVICE_ACCOUNT_ROLE_ID: '7',
      CDP_SERVICE_ACCOUNT_EMAIL_DOMAIN: 'old.example.com',
      CDP_MAIN_ORGANIZATION: '99',
    })
    expect(config).toMatchObject({ baseUrl: 'http://localhost:1337', apiToken: 'your-strapi-token', serviceAccount: { roleId: '3', emailDomain: 'service.local', organizationId: '12' } })
  })

  it('takes an empty value as unset, so the fallback or default applies', () => {
    const config = createHisHerCustomerConfigFromEnv({
      HIS_HER_CUSTOMER_STRAPI_URL: '',
      CDP_HOST: 'http://127.0.0.1:1337',
      HIS_HER_CUSTOMER_AUTH_MODE: '',
      HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN: '  ',
      LOYALTY_CHANNEL_HANDLE: '',
    })
    expect(config).toMatchObject({ baseUrl: 'http://127.0.0.1:1337', authMode: 'api-token', serviceAccount: { emailDomain: 'service.local' }, loyalty: { channelHandle: undefined } })
  })

  it('reads process.env when given nothing', () => {
    for (const k of names) delete process.env[k]
    process.env.CDP_HOST = 'http://hub.internal:1337'
    process.env.HIS_HER_CUSTOMER_AUTH_MODE = 'api-token'
    process.env.LOYALTY_CHANNEL_HANDLE = 'multistore'
    expect(createHisHerCustomerConfigFromEnv()).toMatchObject({ baseUrl: 'http://hub.internal:1337', authMode: 'api-token', loyalty: { channelHandle: 'multistore' } })
  })

  it('refuses an unknown auth mode, naming the variable and the modes', () => {
    expect(() => createHisHerCustomerConfigFromEnv({ HIS_HER_CUSTOMER_AUTH_MODE: 'jwt' })).toThrow(
      new TypeError('HIS_HER_CUSTOMER_AUTH_MODE "jwt" is not one of api-token, service-jwt'),
    )
    expect(() => createHisHerCustomerConfigFromEnv({ HIS_HER_CUSTOMER_AUTH_MODE: 'Service-JWT', HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: 'x' })).toThrow(/HIS_HER_CUSTOMER_AUTH_MODE "Service-JWT"/)
  })

  it('refuses service-jwt without a service account password', () => {
    const { HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: _, ...withoutPassword } = documentEnv
    expect(() => createHisHerCustomerConfigFromEnv(withoutPassword)).toThrow(
      new TypeError('HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD is required when HIS_HER_CUSTOMER_AUTH_MODE is service-jwt'),
    )
    expect(() => createHisHerCustomerConfigFromEnv({ ...withoutPassword, HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: '' })).toThrow(TypeError)
  })

  it('keeps a password as written, spaces included', () => {
    expect(createHisHerCustomerConfigFromEnv({ ...documentEnv, HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: ' pass word ' }).serviceAccount.password).toBe(' pass word ')
  })

  it('refuses a hub URL that is not an absolute http(s) URL, naming the variable it came from', () => {
    expect(() => createHisHerCustomerConfigFromEnv({ HIS_HER_CUSTOMER_STRAPI_URL: 'localhost:1337' })).toThrow(/HIS_HER_CUSTOMER_STRAPI_URL "localhost:1337" must be an http or https URL/)
    expect(() => createHisHerCustomerConfigFromEnv({ CDP_HOST: '/api' })).toThrow(/^CDP_HOST "\/api" is not an absolute URL/)
    expect(() => createHisHerCustomerConfigFromEnv({ CDP_HOST: 'ftp://hub.example.com' })).toThrow(/CDP_HOST "ftp:\/\/hub.example.com" must be an http or https URL/)
  })
})
