import { z } from 'zod'

/**
 * A key name: looked up as a header (case-insensitive), a query parameter and a body field (both as
 * written). Kong's `header_name` typedef: letters, digits, '-' and '_'; but see keyAuthSchema for '_'.
 */
const keyName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9_-]+$/, "must be a header name (letters, digits, '-' and '_')")

/** Sent inside `WWW-Authenticate: Key realm="…"`, so no quotes, backslashes or control characters. */
export const realm = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, 'must be printable ASCII without quotes or backslashes')

/**
 * Kong's key-auth fields and defaults (kong/plugins/key-auth/schema.lua, Kong 3), with one refusal Kong
 * does not have: a key name with '_' while keys are read from headers. uWS drops every request carrying
 * a header whose name has '_' (no answer; the client waits for its own timeout, ~12 s measured), so such
 * a name could never arrive as a header, and a client sending it so would hang rather than get a 401.
 */
export const keyAuthSchema = z
  .strictObject({
    key_names: z
      .array(keyName)
      .min(1)
      .default(() => ['apikey']),
    key_in_header: z.boolean().default(true),
    key_in_query: z.boolean().default(true),
    /**
     * Also look in a form-urlencoded or JSON body. Only bodies Sluice buffers before the access phase
     * (declared with a Content-Length up to 64 KiB) are searched; larger or chunked bodies stream to the
     * upstream unread.
     */
    key_in_body: z.boolean().default(false),
    /** Remove the key (header, query parameter, body field) before forwarding. */
    hide_credentials: z.boolean().default(false),
    /** Consumer (id, username or custom_id) to proceed as when authentication fails. */
    anonymous: z.string().min(1).nullable().default(null),
    /** Authenticate CORS preflights (OPTIONS) too. */
    run_on_preflight: z.boolean().default(true),
    /** `WWW-Authenticate: Key realm="…"` when set, plain `Key` otherwise. */
    realm: realm.nullable().default(null),
  })
  .superRefine((config, ctx) => {
    if (!config.key_in_header) return
    config.key_names.forEach((name, i) => {
      if (!name.includes('_')) return
      ctx.addIssue({
        code: 'custom',
        path: ['key_names', i],
        message:
          `'${name}' contains '_', which the HTTP server refuses in header names (such requests are dropped unanswered): ` +
          `use '-' (e.g. '${name.replaceAll('_', '-')}'), or set key_in_header: false to take this key from the query string or body only`,
      })
    })
  })

export type KeyAuthConfig = z.output<typeof keyAuthSchema>
