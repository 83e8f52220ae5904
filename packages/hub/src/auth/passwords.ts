import { availableParallelism } from 'node:os'
import { hash, verify } from '@node-rs/argon2'

// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (about 12 ms a hash on these machines).
const params = { algorithm: 2 /* Algorithm.Argon2id, a const enum */, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

/**
 * Hashes at once: one per core (at most 4, the worker threads they run on). Each holds 19 MiB
 * while it runs; more at once than there are cores finish no sooner, they only hold more memory
 * (on 2 cores, four sign-ins at once held 76 MiB instead of 38).
 */
const slots = Math.max(1, Math.min(4, availableParallelism()))
let running = 0
const waiting: (() => void)[] = []

async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (running >= slots) await new Promise<void>((resolve) => waiting.push(resolve))
  else running++
  try {
    return await work()
  } finally {
    // the slot passes straight to the next waiting hash, if any
    const next = waiting.shift()
    if (next) next()
    else running--
  }
}

/** An argon2id hash in PHC string form; the password itself is never stored. */
export function hashPassword(password: string): Promise<string> {
  return limited(() => hash(password, params))
}

/** True when `password` matches the PHC hash. */
export function verifyPassword(phc: string, password: string): Promise<boolean> {
  return limited(() => verify(phc, password)).catch(() => false)
}
