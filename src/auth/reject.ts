import type { RequestContext } from '../pipeline/context.js'
import { respond } from '../pipeline/respond.js'

// How the authentication plugins refuse a request: 401 with Kong's body and a `WWW-Authenticate`
// challenge. Kong's keys come first and unchanged (`message`, or the claim errors of the jwt plugin such
// as `{"exp":"token expired"}`), so clients parsing Kong's bodies keep working; Sluice adds its stable
// `code` and the `request_id`, as every Sluice error body carries them.

export const AUTH_ERRORS = {
  /** No credential in the request. */
  SLUICE_ERR_AUTH_MISSING: 'SLUICE_ERR_AUTH_MISSING',
  /** A credential that names nobody, or does not verify. */
  SLUICE_ERR_AUTH_INVALID: 'SLUICE_ERR_AUTH_INVALID',
  /** More than one credential where one is expected. */
  SLUICE_ERR_AUTH_DUPLICATE: 'SLUICE_ERR_AUTH_DUPLICATE',
  /** A token whose claims fail (expired, not yet valid, wrong audience, too long-lived). */
  SLUICE_ERR_AUTH_CLAIMS: 'SLUICE_ERR_AUTH_CLAIMS',
  /** Too many password checks already waiting in this worker: 503 with Retry-After, try again shortly. */
  SLUICE_ERR_AUTH_BUSY: 'SLUICE_ERR_AUTH_BUSY',
} as const
export type AuthErrorCode = keyof typeof AUTH_ERRORS

/**
 * Answers 401. `fields` is Kong's body (`{ message }` or claim errors); `challenge` the full
 * `WWW-Authenticate` value. Returns false, so a plugin can `return unauthorized(...)` from `access`.
 */
export function unauthorized(ctx: RequestContext, code: AuthErrorCode, fields: Readonly<Record<string, string>>, challenge: string): false {
  ctx.errorCode = code
  const body = JSON.stringify({ ...fields, code, request_id: ctx.requestId })
  respond(ctx, 401, body, 'application/json; charset=utf-8', ['www-authenticate', challenge])
  return false
}

/** `Scheme` or `Scheme realm="…"`; realms are validated by the plugin schemas (no quotes, no CR/LF). */
export function challenge(scheme: string, realm: string | null): string {
  return realm === null ? scheme : `${scheme} realm="${realm}"`
}
