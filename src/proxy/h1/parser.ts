import { ResponseParseError } from './errors.js'

/**
 * The response head parser of the HTTP/1.1 upstream client: status line and header section, over bytes.
 * Body framing (Content-Length, chunked, until close) is decoded by the connection (connection.ts), which
 * owns the state that spans reads.
 *
 * Rules (RFC 9112, and the response-side smuggling rules of security-bar.md): lines end in CRLF (a bare CR
 * or LF is an error); names are tokens with no space before the colon; obs-fold is an error; values may
 * hold HTAB, SP, VCHAR and obs-text (undici's rule), trimmed of surrounding whitespace; Content-Length is
 * 1-15 digits, duplicates must be equal; Content-Length together with Transfer-Encoding is an error;
 * `chunked` must be the last coding and appear once (another final coding means the body runs until close).
 */

/** Largest header section (status line + headers) accepted, and the largest trailer section. */
export const MAX_HEAD_BYTES = 64 * 1024

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9
const COLON = 58

/** 1 for tchar (RFC 9110 §5.6.2). */
const TOKEN = new Uint8Array(256)
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1
for (const ch of "!#$%&'*+-.^_`|~") TOKEN[ch.charCodeAt(0)] = 1

/** 1 for a byte allowed inside a header value or reason phrase: HTAB, SP..~, 0x80..0xff. */
const VALUE = new Uint8Array(256)
VALUE[HTAB] = 1
for (let c = 0x20; c <= 0x7e; c++) VALUE[c] = 1
for (let c = 0x80; c <= 0xff; c++) VALUE[c] = 1

/** The parsed head. One per connection, overwritten per response: fixed shape, no allocation of its own. */
export class Head {
  status = 0
  statusText = ''
  /** Names and values as views into the buffer the head was parsed from (the caller owns that copy). */
  rawHeaders: Buffer[] = []
  /** HTTP/1.x minor version. */
  minor = 1
  /** Declared Content-Length, or -1. */
  contentLength = -1
  /** Transfer-Encoding present (any coding). */
  hasTransferEncoding = false
  /** The final coding is `chunked`. */
  chunked = false
  /** `Connection: close` was seen. */
  close = false
  /** `Connection: keep-alive` was seen (only matters to HTTP/1.0, which Sluice never reuses anyway). */
  keepAlive = false
  /** `Keep-Alive: timeout=N` in ms (how long the upstream keeps an idle socket), or -1. */
  keepAliveHint = -1

  reset(): void {
    this.status = 0
    this.statusText = ''
    this.rawHeaders = []
    this.minor = 1
    this.contentLength = -1
    this.hasTransferEncoding = false
    this.chunked = false
    this.close = false
    this.keepAlive = false
    this.keepAliveHint = -1
  }
}

// undici's expression for the upstream's idle timeout hint.
const KEEP_ALIVE_TIMEOUT = /timeout=(\d+)/

/** `buf[from, to)` equals `lower` ignoring ASCII case; `lower` is a lower-case token. */
function bytesAre(buf: Buffer, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false
  for (let i = 0; i < lower.length; i++) {
    // |0x20 folds A-Z onto a-z; the other token bytes in these names ('-') are unchanged by it, and the
    // range was token-checked, so no control byte can fold onto '-'.
    if ((buf[from + i] | 0x20) !== lower.charCodeAt(i)) return false
  }
  return true
}

function fail(code: string, message: string): ResponseParseError {
  return new ResponseParseError(code, message)
}

/** Reason phrases most upstreams send, so the common ones cost no string per response. */
function reason(buf: Buffer, from: number, to: number): string {
  const n = to - from
  if (n === 0) return ''
  if (n === 2 && buf[from] === 0x4f && buf[from + 1] === 0x4b) return 'OK'
  return buf.toString('latin1', from, to)
}

/**
 * Parses the head in `buf[start, end)`, where `end` is just past the CRLF of the last header line (the
 * blank line is not included). Fills `out`; returns null or the error.
 *
 * Hot path: one pass over the bytes with table lookups, names and values handed out as `subarray` views of
 * the caller's copy (no per-header copy, no strings except the reason phrase), and only names of the length
 * of a framing header compared. Measured on this box (2026-11-25, Node 20, 8-header 248-byte head): 2.0 µs
 * per head against 3.0 µs for the string shape (latin1 string, indexOf per line, Buffer.from per name and
 * value); about half of the 2.0 is the 16 views (~55 ns each), which the rawHeaders contract requires.
 */
export function parseHead(buf: Buffer, start: number, end: number, out: Head): ResponseParseError | null {
  out.reset()
  // Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
  let p = start
  if (
    end - p < 14 ||
    buf[p] !== 0x48 ||
    buf[p + 1] !== 0x54 ||
    buf[p + 2] !== 0x54 ||
    buf[p + 3] !== 0x50 ||
    buf[p + 4] !== 0x2f ||
    buf[p + 5] !== 0x31 ||
    buf[p + 6] !== 0x2e ||
    (buf[p + 7] !== 0x31 && buf[p + 7] !== 0x30) ||
    buf[p + 8] !== SP
  ) {
    return fail('HPE_INVALID_VERSION', 'invalid HTTP version in the status line')
  }
  out.minor = buf[p + 7] - 0x30
  const d0 = buf[p + 9] - 0x30
  const d1 = buf[p + 10] - 0x30
  const d2 = buf[p + 11] - 0x30
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return fail('HPE_INVALID_STATUS', 'invalid status code')
  out.status = d0 * 100 + d1 * 10 + d2
  p += 12
  let reasonStart = p
  if (buf[p] === SP) reasonStart = ++p
  else if (buf[p] !== CR) return fail('HPE_INVALID_STATUS', 'invalid status line')
  while (p < end && VALUE[buf[p]] === 1) p++
  if (buf[p] !== CR) return fail('HPE_INVALID_STATUS', 'invalid character in the reason phrase')
  if (buf[p + 1] !== LF) return fail('HPE_LF_EXPECTED', 'expected LF after CR')
  out.statusText = reason(buf, reasonStart, p)
  p += 2

  const raw = out.rawHeaders
  let contentLength = -1
  while (p < end) {
    const nameStart = p
    while (TOKEN[buf[p]] === 1) p++
    if (p === nameStart) {
      const c = buf[p]
      if (c === SP || c === HTAB) return fail('HPE_INVALID_HEADER_TOKEN', 'obs-fold in the header section')
      return fail('HPE_INVALID_HEADER_TOKEN', 'invalid header name')
    }
    if (buf[p] !== COLON) return fail('HPE_INVALID_HEADER_TOKEN', 'invalid character in a header name')
    const nameEnd = p++
    while (buf[p] === SP || buf[p] === HTAB) p++
    const valueStart = p
    while (VALUE[buf[p]] === 1) p++
    if (buf[p] !== CR) {
      if (buf[p] === LF) return fail('HPE_CR_EXPECTED', 'bare LF in the header section')
      return fail('HPE_INVALID_HEADER_TOKEN', 'invalid character in a header value')
    }
    if (buf[p + 1] !== LF) return fail('HPE_LF_EXPECTED', 'bare CR in the header section')
    let valueEnd = p
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--
    p += 2
    raw.push(buf.subarray(nameStart, nameEnd), buf.subarray(valueStart, valueEnd))

    switch (nameEnd - nameStart) {
      case 14:
        if (bytesAre(buf, nameStart, nameEnd, 'content-length')) {
          const n = digits(buf, valueStart, valueEnd)
          if (n < 0) return fail('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length')
          if (contentLength >= 0 && contentLength !== n) return fail('HPE_INVALID_CONTENT_LENGTH', 'differing Content-Length values')
          contentLength = n
        }
        break
      case 17:
        if (bytesAre(buf, nameStart, nameEnd, 'transfer-encoding')) {
          const err = transferEncoding(buf.toString('latin1', valueStart, valueEnd), out)
          if (err !== null) return err
        }
        break
      case 10:
        if (bytesAre(buf, nameStart, nameEnd, 'connection')) connection(buf.toString('latin1', valueStart, valueEnd), out)
        else if (bytesAre(buf, nameStart, nameEnd, 'keep-alive')) {
          const m = KEEP_ALIVE_TIMEOUT.exec(buf.toString('latin1', valueStart, valueEnd))
          if (m !== null) out.keepAliveHint = Number(m[1]) * 1000
        }
        break
    }
  }
  if (contentLength >= 0 && out.hasTransferEncoding) {
    return fail('HPE_UNEXPECTED_CONTENT_LENGTH', 'Content-Length together with Transfer-Encoding')
  }
  out.contentLength = contentLength
  return null
}

/** 1-15 decimal digits as a number, or -1. */
function digits(buf: Buffer, from: number, to: number): number {
  if (to === from || to - from > 15) return -1
  let n = 0
  for (let i = from; i < to; i++) {
    const d = buf[i] - 0x30
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/** One Transfer-Encoding field; several fields form one list (RFC 9110 §5.3). */
function transferEncoding(value: string, out: Head): ResponseParseError | null {
  const codings = value.toLowerCase().split(',')
  for (let i = 0; i < codings.length; i++) {
    const coding = codings[i].trim()
    if (coding === '') continue
    if (out.chunked) return fail('HPE_INVALID_TRANSFER_ENCODING', 'a coding after chunked')
    if (coding === 'chunked') out.chunked = true
    out.hasTransferEncoding = true
  }
  return null
}

function connection(value: string, out: Head): void {
  const tokens = value.toLowerCase().split(',')
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i].trim()
    if (t === 'close') out.close = true
    else if (t === 'keep-alive') out.keepAlive = true
  }
}
