import { hash, verify } from '@node-rs/argon2'

// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (about 12 ms a hash on these machines).
const params = { algorithm: 2 /* Algorithm.Argon2id, a const enum */, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

/** An argon2id hash in PHC string form; the password itself is never stored. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, params)
}

/** True when `password` matches the PHC hash. */
export function verifyPassword(phc: string, password: string): Promise<boolean> {
  return verify(phc, password).catch(() => false)
}
