/**
 * Errors of Sluice's HTTP/1.1 upstream client. Every error carries a stable `code`:
 *
 * - undici's codes where undici has the same failure, because src/proxy/forward.ts maps them to gateway
 *   errors (`errorCodeFor`, `NEVER_SENT`) and must not care which client ran the request:
 *   `UND_ERR_CONNECT_TIMEOUT`, `UND_ERR_HEADERS_TIMEOUT`, `UND_ERR_BODY_TIMEOUT`, `UND_ERR_SOCKET` (the
 *   upstream closed the connection before the response was complete), `UND_ERR_INVALID_ARG` (a request
 *   undici would refuse: bad method, path, header name or value, a hop-by-hop header), `UND_ERR_ABORTED`
 *   (`abort()` without an error), `UND_ERR_RES_CONTENT_LENGTH_MISMATCH`, `UND_ERR_REQ_CONTENT_LENGTH_MISMATCH`
 *   (a request body longer or shorter than its Content-Length), `UND_ERR_CLOSED` / `UND_ERR_DESTROYED`
 *   (dispatch after `close()` / `destroy()`, or queued requests failed by `destroy()`).
 * - System errors from the socket (`ECONNREFUSED`, `ECONNRESET`, `EPIPE`, ...) are passed through as Node
 *   raised them, as undici does.
 * - An invalid response is a `ResponseParseError` with llhttp's code names where llhttp has one, so logs read
 *   the same for both clients (all of them end as 502 in forward.ts):
 *   `HPE_INVALID_VERSION`, `HPE_INVALID_STATUS`, `HPE_INVALID_HEADER_TOKEN` (bad name, space before the
 *   colon, obs-fold, control characters in a value), `HPE_CR_EXPECTED` / `HPE_LF_EXPECTED` (a bare CR or
 *   LF), `HPE_HEADER_OVERFLOW` (header section or trailers over 64 KiB), `HPE_INVALID_CONTENT_LENGTH`
 *   (not digits, or duplicates that differ), `HPE_UNEXPECTED_CONTENT_LENGTH` (Content-Length together with
 *   Transfer-Encoding), `HPE_INVALID_TRANSFER_ENCODING` (`chunked` not last, or twice), `HPE_INVALID_CHUNK_SIZE`
 *   (not hex, or over 2^52), `HPE_CHUNK_EXTENSIONS_OVERFLOW`, and one of Sluice's own:
 *   `SLUICE_H1_UPGRADE` (a 101 response: upgrades are not proxied by this client).
 */
export class H1Error extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'H1Error'
    this.code = code
  }
}

export class ResponseParseError extends H1Error {
  constructor(code: string, message: string) {
    super(code, message)
    this.name = 'ResponseParseError'
  }
}

export const invalidArg = (message: string): H1Error => new H1Error('UND_ERR_INVALID_ARG', message)
