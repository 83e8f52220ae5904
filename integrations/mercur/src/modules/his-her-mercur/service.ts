import { createHisHerConnectClient, createHisHerCustomerConfigFromEnv, type HisHerConnectClient } from '@his-her/connect'

/** The plugin's options: settings of the connect library, each in place of the environment variable of the same name. */
export interface MercurHooksOptions {
  /** e.g. `{ HIS_HER_CUSTOMER_STRAPI_URL: 'https://hub.example.com' }`; what is not given is read from the environment. */
  env?: Record<string, string | undefined>
  /** Onboard a seller when it is created (Mercur 1.x has no approval), not when it is approved. Default false. */
  onboardOnCreate?: boolean
}

/**
 * The hub as the marketplace's hooks see it (registered as the `hisHerMercur` module): the
 * connect library's client, configured as the first source document configures it, by the
 * `HIS_HER_CUSTOMER_*` variables.
 */
export default class HisHerMercurService {
  readonly hisHer: HisHerConnectClient
  readonly onboardOnCreate: boolean

  constructor(_container: unknown, options: MercurHooksOptions = {}) {
    this.hisHer = createHisHerConnectClient(createHisHerCustomerConfigFromEnv({ ...process.env, ...(options.env ?? {}) }))
    this.onboardOnCreate = options.onboardOnCreate ?? false
  }
}
