// Deterministic entity ids. An entity without an `id` gets a UUID v5 (RFC 9562 §5.5) of a key
// built from what identifies it (a service's name, a plugin's name and scope, ...), so reloading
// the same file gives the same ids, and per-entity state keyed by id (rate-limit counters, caches,
// health) survives a reload that does not touch the entity.

import { createHash } from 'node:crypto'

/** Sluice's namespace for v5 ids; changing it would change every generated id. */
const NAMESPACE = Buffer.from('0e2b7d19ef2c42838f4b064de04433fe', 'hex')

export function uuidV5(key: string): string {
  const hash = createHash('sha1').update(NAMESPACE).update(key, 'utf8').digest()
  hash[6] = (hash[6] & 0x0f) | 0x50
  hash[8] = (hash[8] & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
