import { randomBytes } from 'node:crypto'

const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ' // Crockford base32

// Random bytes are drawn 4 KiB at a time: one call per id costs more than the id itself.
const POOL_SIZE = 4096
let pool = randomBytes(POOL_SIZE)
let offset = 0

/** `n` (≤ 64) fresh random bytes from the pool; never handed out twice. */
export function randomChunk(n: number): Buffer {
  if (offset + n > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE)
    offset = 0
  }
  const chunk = pool.subarray(offset, offset + n)
  offset += n
  return chunk
}

/**
 * The id prefixes, each with the kind of record it names. Each domain adds its own from its
 * `tables.ts` (`declare module '../ids.js' { interface IdPrefixes { cus: 'customer' } }`).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface IdPrefixes {}
export type IdPrefix = keyof IdPrefixes & string

/**
 * A new id: the kind prefix, then 26 base32 characters — 48 bits of milliseconds (so ids sort
 * by creation time) and 80 random bits (so ids made in the same millisecond by several
 * processes never collide in practice).
 *
 * @example newId('cus') // 'cus_01JDA9Q3C7M2ZK8V4T6N1R5XWE'
 */
export function newId(prefix: IdPrefix): string {
  let time = Date.now()
  const out = new Array<string>(26)
  for (let i = 9; i >= 0; i--) {
    out[i] = alphabet[time % 32]!
    time = Math.floor(time / 32)
  }
  const rnd = randomChunk(10)
  // 80 bits → 16 base32 characters, 5 bits at a time
  let acc = 0
  let bits = 0
  let j = 10
  for (const byte of rnd) {
    acc = (acc << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out[j++] = alphabet[(acc >> bits) & 31]!
    }
    acc &= (1 << bits) - 1
  }
  return `${prefix}_${out.join('')}`
}

const idPattern = /^[a-z]+_[0-9A-Z]{26}$/

/** True when `value` has the shape of an id of kind `prefix`. */
export function isId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && idPattern.test(value)
}
