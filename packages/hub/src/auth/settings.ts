import { keyedSection } from '../config-section.js'

/** Sessions, sign-in limits and service accounts (the `auth:` section of the YAML file, `HUB_AUTH_<KEY>`). */
export interface AuthSettings {
  /** Lifetime of an access token (a signed JWT), seconds. Default 900. */
  accessTokenTtl: number
  /** Lifetime of a refresh token, seconds. Default 30 days. */
  refreshTokenTtl: number
  /** Lifetime of an email-verification or password-reset token, seconds. Default 24 hours. */
  oneTimeTokenTtl: number
  /** Sign-in attempts allowed per email within `loginWindow`. Default 10. */
  loginLimitPerEmail: number
  /** Sign-in attempts allowed per client address within `loginWindow`. Default 100. */
  loginLimitPerAddress: number
  /** The window of those limits, seconds. Default 900. */
  loginWindow: number
  /** Service accounts get the email `<handle>@<this>`. Default `service.local`. */
  serviceEmailDomain: string
}

export const defaultAuthSettings: AuthSettings = {
  accessTokenTtl: 900,
  refreshTokenTtl: 30 * 24 * 3600,
  oneTimeTokenTtl: 24 * 3600,
  loginLimitPerEmail: 10,
  loginLimitPerAddress: 100,
  loginWindow: 900,
  serviceEmailDomain: 'service.local',
}

export const authSection = keyedSection<AuthSettings>(
  'auth',
  'HUB_AUTH_',
  {
    access_token_ttl: { field: 'accessTokenTtl', kind: 'integer', min: 30, max: 86_400 },
    refresh_token_ttl: { field: 'refreshTokenTtl', kind: 'integer', min: 60, max: 365 * 86_400 },
    one_time_token_ttl: { field: 'oneTimeTokenTtl', kind: 'integer', min: 60, max: 30 * 86_400 },
    login_limit_per_email: { field: 'loginLimitPerEmail', kind: 'integer', min: 1, max: 1_000_000 },
    login_limit_per_address: { field: 'loginLimitPerAddress', kind: 'integer', min: 1, max: 1_000_000 },
    login_window: { field: 'loginWindow', kind: 'integer', min: 1, max: 86_400 },
    service_account_email_domain: { field: 'serviceEmailDomain', kind: 'domain' },
  },
  defaultAuthSettings,
)

declare module '../config.js' {
  interface Settings {
    auth: AuthSettings
  }
}
