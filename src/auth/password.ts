import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto'

// Basic-auth passwords are stored as scrypt hashes in a PHC-style string:
//
//   $scrypt$ln=14,r=8,p=1$<salt, base64>$<hash, base64>
//
// scrypt because node:crypto has it (no native add-on) and it is memory-hard; ln=14 (N=16384, 16 MiB)
// costs ~40 ms of one libuv thread per check on this box, so verification runs through the async
// `scrypt` (the thread pool, never the event loop) and the basic-auth plugin caches successes.

const PREFIX = '$scrypt$'
const KEY_LENGTH = 32
export const DEFAULT_COST = { ln: 14, r: 8, p: 1 } as const

export interface PasswordHash {
  readonly ln: number
  readonly r: number
  readonly p: number
  readonly salt: Buffer
  readonly hash: Buffer
}

const FORMAT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,}={0,2})\$([A-Za-z0-9+/]{43}=?)$/

/** Parses an encoded hash; null when it is not one Sluice wrote (or could have). */
export function parsePasswordHash(encoded: string): PasswordHash | null {
  const m = FORMAT.exec(encoded)
  if (m === null) return null
  const ln = Number(m[1])
  const r = Number(m[2])
  const p = Number(m[3])
  // Bounds: below ln=10 the hash is too cheap to matter; above ln=20 (1 GiB) a check would exhaust memory.
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return null
  const salt = Buffer.from(m[4], 'base64')
  const hash = Buffer.from(m[5], 'base64')
  if (salt.length < 12 || hash.length !== KEY_LENGTH) return null
  return { ln, r, p, salt, hash }
}

/** Why `encoded` is not a usable hash, or null. Never quotes the value. */
export function checkPasswordHash(encoded: string): string | null {
  if (!encoded.startsWith(PREFIX)) return "must be a scrypt hash ('$scrypt$ln=..,r=..,p=..$salt$hash', made by `sluice hash-password`)"
  return parsePasswordHash(encoded) === null ? 'is not a valid scrypt hash (cost ln 10..20, r 1..32, p 1..16, salt ≥ 12 bytes, 32-byte hash)' : null
}

function options(h: { ln: number; r: number; p: number }) {
  const N = 2 ** h.ln
  // scrypt needs 128·N·r bytes; Node's default maxmem (32 MiB) is too small above ln=14.
  return { N, r: h.r, p: h.p, maxmem: 256 * N * h.r + 1024 * 1024 }
}

function encode(h: PasswordHash): string {
  return `${PREFIX}ln=${h.ln},r=${h.r},p=${h.p}$${h.salt.toString('base64')}$${h.hash.toString('base64')}`
}

/**
 * Hashes a password (synchronously: config load, the CLI). A config file's plain-text password gets a
 * salt derived from its credential so that loading the same file twice gives the same config hash.
 */
export function hashPassword(password: string, salt: Buffer = randomBytes(16), cost: { ln: number; r: number; p: number } = DEFAULT_COST): string {
  const hash = scryptSync(password, salt, KEY_LENGTH, options(cost))
  return encode({ ...cost, salt, hash })
}

/** Checks a password against a parsed hash on the thread pool. Constant-time comparison. */
export function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  return new Promise((resolve) => {
    scrypt(password, stored.salt, KEY_LENGTH, options(stored), (err, derived) => {
      resolve(err === null && timingSafeEqual(derived, stored.hash))
    })
  })
}
