import { keyedSection } from '../config-section.js'

/** Sessions, sign-in limits and service accounts (the `auth:` section of the YAML file, `HUB_AUTH_<KEY>`). */
export interface AuthSettings {
  /** Lifetime of an access token (a signed JWT), seconds. Default 900. */
  accessTokenTtl: number
  /** Lifetime of a refresh token, seconds. Default 30 days. */
  refreshTokenTtl: number
  /** Lifetime of an email-verification or password-reset token, seconds. Default 24 hours. */
  oneTimeTokenTtl: number
  /**
   * Email-verification and password-reset requests allowed per email within `loginWindow`, and
   * wrong current passwords per customer. Default 10. (Sign-in is limited by the settings below.)
   */
  loginLimitPerEmail: number
  /**
   * Failed sign-ins allowed per client address, over all emails, within `loginWindow`: past it
   * every sign-in from that address is refused until the window ends. Also the number of
   * email-verification and password-reset requests, and of password-reset attempts, per client
   * address. Default 100.
   */
  loginLimitPerAddress: number
  /** The window of those limits, seconds. Default 900. */
  loginWindow: number
  /**
   * Failed sign-ins for one email from one client address before that address waits (for that
   * email only): `loginBackoff` seconds, doubling with each further failure. A success from the
   * address starts the count afresh. Default 5.
   */
  loginBackoffAfter: number
  /** The first wait, seconds. Default 60. */
  loginBackoff: number
  /** The longest wait, seconds. Default 3600. */
  loginBackoffMax: number
  /**
   * Failed sign-ins for one email, from all addresses, within `loginWindow` past which every
   * address waits after its first failure for that email (instead of after `loginBackoffAfter`).
   * It only slows: an address that has not failed for the email is never held on its account.
   * Default 100.
   */
  loginFailuresPerEmail: number
  /**
   * Failed bearer tokens (an unknown API token or admin token, a broken or forged JWT) allowed per
   * client address within `tokenFailureWindow`; past it, API tokens from that address are refused
   * with 429 until the window ends. Default 30.
   */
  tokenFailuresPerAddress: number
  /** The window of that limit, seconds. Default 300. */
  tokenFailureWindow: number
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
  loginBackoffAfter: 5,
  loginBackoff: 60,
  loginBackoffMax: 3600,
  loginFailuresPerEmail: 100,
  tokenFailuresPerAddress: 30,
  tokenFailureWindow: 300,
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
    login_backoff_after: { field: 'loginBackoffAfter', kind: 'integer', min: 1, max: 1_000 },
    login_backoff: { field: 'loginBackoff', kind: 'integer', min: 1, max: 86_400 },
    login_backoff_max: { field: 'loginBackoffMax', kind: 'integer', min: 1, max: 7 * 86_400 },
    login_failures_per_email: { field: 'loginFailuresPerEmail', kind: 'integer', min: 1, max: 1_000_000 },
    token_failures_per_address: { field: 'tokenFailuresPerAddress', kind: 'integer', min: 1, max: 1_000_000 },
    token_failure_window: { field: 'tokenFailureWindow', kind: 'integer', min: 1, max: 86_400 },
    service_account_email_domain: { field: 'serviceEmailDomain', kind: 'domain' },
  },
  defaultAuthSettings,
)

declare module '../config.js' {
  interface Settings {
    auth: AuthSettings
  }
}
