import type { CountryCode } from 'libphonenumber-js/max'
import { keyedSection } from '../config-section.js'

/** The Customer Module settings (the `customer:` section of the YAML file, `HUB_CUSTOMER_<KEY>`). */
export interface CustomerSettings {
  /** Customers must verify their email before they can log in. Default `true`. */
  requireEmailVerification: boolean
  /** A customer may be created without a password (a guest record). Default `true`. */
  allowGuestCheckout: boolean
  /** Shortest password accepted. Default `8`. */
  passwordMinLength: number
  /** Most addresses one customer may keep. Default `10`. */
  maxAddresses: number
  /** Registering with a guest's email turns the guest into the account. Default `true`. */
  autoMergeGuest: boolean
  /** Country for phone numbers written without a `+` prefix (ISO 3166-1 alpha-2). Default `US`. */
  defaultCountry: CountryCode
}

export const defaultCustomerSettings: CustomerSettings = {
  requireEmailVerification: true,
  allowGuestCheckout: true,
  passwordMinLength: 8,
  maxAddresses: 10,
  autoMergeGuest: true,
  defaultCountry: 'US',
}

export const customerSection = keyedSection<CustomerSettings>(
  'customer',
  'HUB_CUSTOMER_',
  {
    require_email_verification: { field: 'requireEmailVerification', kind: 'boolean' },
    allow_guest_checkout: { field: 'allowGuestCheckout', kind: 'boolean' },
    password_min_length: { field: 'passwordMinLength', kind: 'integer', min: 1, max: 256 },
    max_addresses: { field: 'maxAddresses', kind: 'integer', min: 1, max: 1000 },
    auto_merge_guest: { field: 'autoMergeGuest', kind: 'boolean' },
    default_country: { field: 'defaultCountry', kind: 'country' },
  },
  defaultCustomerSettings,
)

declare module '../config.js' {
  interface Settings {
    customer: CustomerSettings
  }
}
