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
  const rnd = randomChunk(10)
  return `${prefix}_${timePart(Date.now())}${fortyBits(rnd, 0)}${fortyBits(rnd, 5)}`
}

// the time's 10 characters, kept while the millisecond lasts (an import makes thousands of ids in one)
let lastTime = -1
let lastTimePart = ''

function timePart(ms: number): string {
  if (ms !== lastTime) {
    let time = ms
    let out = ''
    for (let i = 0; i < 10; i++) {
      out = alphabet[time % 32]! + out
      time = Math.floor(time / 32)
    }
    lastTime = ms
    lastTimePart = out
  }
  return lastTimePart
}

/** Bytes `at`…`at + 4` of `bytes` (40 bits) as 8 base32 characters, most significant first. */
function fortyBits(bytes: Buffer, at: number): string {
  const hi = bytes[at]!
  const lo = ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0
  return (
    alphabet[hi >> 3]! + alphabet[((hi & 7) << 2) | (lo >>> 30)]! + alphabet[(lo >>> 25) & 31]! + alphabet[(lo >>> 20) & 31]! +
    alphabet[(lo >>> 15) & 31]! + alphabet[(lo >>> 10) & 31]! + alphabet[(lo >>> 5) & 31]! + alphabet[lo & 31]!
  )
}

const idPattern = /^[a-z]+_[0-9A-Z]{26}$/

/** True when `value` has the shape of an id of kind `prefix`. */
export function isId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && idPattern.test(value)
}
