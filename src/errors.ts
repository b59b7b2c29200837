import { STATUS_CODES } from 'node:http'

// Stable error codes: one table maps each code to its HTTP status and the message sent to the client.
// Tests assert on the code (sent as the `code` field of JSON error bodies), never on prose alone.
// Bodies follow Kong's `kong.response.error` shape: {"message": ..., "request_id": ...}, plus `code`.

export const ERRORS = {
  SLUICE_ERR_NO_ROUTE: { status: 404, message: 'no Route matched with those values' },
  SLUICE_ERR_BAD_REQUEST: { status: 400, message: 'Bad request' },
  SLUICE_ERR_BAD_PATH: { status: 400, message: 'Bad request: invalid path' },
  SLUICE_ERR_BAD_HOST: { status: 400, message: 'Bad request: missing, duplicate or invalid Host' },
  SLUICE_ERR_SMUGGLING: { status: 400, message: 'Bad request: ambiguous message framing' },
  SLUICE_ERR_BAD_HEADER: { status: 400, message: 'Bad request: invalid header' },
  SLUICE_ERR_URI_TOO_LONG: { status: 414, message: 'Request-URI Too Long' },
  SLUICE_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'Request Header Fields Too Large' },
  SLUICE_ERR_BODY_TOO_LARGE: { status: 413, message: 'Request Entity Too Large' },
  SLUICE_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'Method Not Allowed' },
  SLUICE_ERR_UPSTREAM_CONNECT: { status: 502, message: 'An invalid response was received from the upstream server' },
  SLUICE_ERR_UPSTREAM_RESPONSE: { status: 502, message: 'An invalid response was received from the upstream server' },
  SLUICE_ERR_UPSTREAM_TIMEOUT: { status: 504, message: 'The upstream server is timing out' },
  SLUICE_ERR_NO_HEALTHY_TARGET: { status: 503, message: 'failure to get a peer from the ring-balancer' },
  SLUICE_ERR_DRAINING: { status: 503, message: 'The gateway is shutting down' },
  SLUICE_ERR_INTERNAL: { status: 500, message: 'An unexpected error occurred' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERRORS

/** Thrown for bad configuration: every issue carries the path of the bad field. */
export class ConfigError extends Error {
  readonly code = 'SLUICE_ERR_CONFIG'
  constructor(
    readonly issues: ReadonlyArray<{ path: string; message: string }>,
    readonly source?: string,
  ) {
    super(
      `invalid configuration${source ? ` in ${source}` : ''}:\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
    )
    this.name = 'ConfigError'
  }
}

// Status lines are built once per code at start-up, not per request.
const STATUS_LINES: string[] = []
for (let code = 100; code < 600; code++) STATUS_LINES[code] = `${code} ${STATUS_CODES[code] ?? 'Unknown'}`

export function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `${status} Unknown`
}

export function errorBody(code: ErrorCode, requestId: string | null): string {
  const e = ERRORS[code]
  return requestId === null
    ? `{"message":${JSON.stringify(e.message)},"code":"${code}"}`
    : `{"message":${JSON.stringify(e.message)},"code":"${code}","request_id":${JSON.stringify(requestId)}}`
}
