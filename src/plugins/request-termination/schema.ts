import { z } from 'zod'

/**
 * Kong's request-termination (kong/plugins/request-termination/schema.lua): answer at the edge with a
 * fixed response, for maintenance windows, retired routes, or blocking a consumer. `echo` is not
 * supported yet and is refused as an unknown field.
 */
export const requestTerminationSchema = z
  .strictObject({
    /** Status to answer with (Kong: 100..599, default 503). */
    status_code: z.int().min(100).max(599).default(503),
    /** JSON body `{"message": ...}`; mutually exclusive with `body`. */
    message: z.string().nullable().default(null),
    /** A raw body, sent with `content_type`. */
    body: z.string().nullable().default(null),
    content_type: z.string().min(1).nullable().default(null),
    /** Terminate only requests carrying this header or query parameter (Kong's `trigger`). */
    trigger: z.string().min(1).nullable().default(null),
  })
  .superRefine((c, ctx) => {
    if (c.message !== null && c.body !== null) {
      ctx.addIssue({ code: 'custom', path: ['body'], message: "set either 'message' or 'body', not both" })
    }
    if (c.content_type !== null && c.body === null) {
      ctx.addIssue({ code: 'custom', path: ['content_type'], message: "needs 'body'" })
    }
    if (c.content_type !== null && /[\r\n\0]/.test(c.content_type)) {
      ctx.addIssue({ code: 'custom', path: ['content_type'], message: 'must not contain CR, LF or NUL' })
    }
  })

export type RequestTerminationConfig = z.output<typeof requestTerminationSchema>
