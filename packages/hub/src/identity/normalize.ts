import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max'
import { HubError } from '../errors.js'

// A practical address check (the WHATWG form rule): one @, a dotted domain, no spaces.
const emailShape = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/

/**
 * The stored form of an email: trimmed and lower-cased. Throws 400 `INVALID_EMAIL`.
 *
 * @example normalizeEmail('  Jane@Example.COM ') // 'jane@example.com'
 */
export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase()
  if (email.length > 254 || !emailShape.test(email)) throw new HubError('INVALID_EMAIL', `"${raw.trim()}" is not a valid email address.`)
  return email
}

/**
 * The stored form of a phone number: E.164, parsed by libphonenumber-js; numbers written without
 * `+` are read in `defaultCountry`. Throws 400 `INVALID_PHONE` for a number that is not valid.
 *
 * @example normalizePhone('081-234-5678', 'TH') // '+66812345678'
 */
export function normalizePhone(raw: string, defaultCountry: CountryCode): string {
  const parsed = parsePhoneNumberFromString(raw.trim(), defaultCountry)
  if (!parsed || !parsed.isValid()) {
    throw new HubError('INVALID_PHONE', `"${raw.trim()}" is not a valid phone number (numbers without + are read as ${defaultCountry}).`)
  }
  return parsed.number
}

// ISO 3166-1 alpha-2, officially assigned codes.
const countries = new Set(
  (
    'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ ' +
    'CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR ' +
    'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP ' +
    'KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT ' +
    'MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW ' +
    'SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG ' +
    'UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
  ).split(' '),
)

/**
 * An ISO 3166-1 alpha-2 code, upper-cased. Throws 400 `INVALID_COUNTRY`.
 *
 * @example normalizeCountry('us') // 'US'
 */
export function normalizeCountry(raw: string): string {
  const code = raw.trim().toUpperCase()
  if (!countries.has(code)) throw new HubError('INVALID_COUNTRY', `"${raw}" is not an ISO 3166-1 alpha-2 country code.`)
  return code
}
