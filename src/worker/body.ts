import { Readable } from 'node:stream'
import type { HttpResponse } from 'uWebSockets.js'

/**
 * Request bodies from uWS to undici. uWS hands `onData` chunks that are neutered once the callback
 * returns (platform-notes.md), so every chunk kept is copied.
 */

/** Bodies up to this size with a declared length are buffered whole: one copy, and the request stays
 * retryable on another target. Larger or chunked bodies stream. */
export const BUFFER_BODY_MAX = 64 * 1024

/**
 * Streams the client's body with backpressure: when undici's side is full (`push` returns false) the
 * client's socket is paused with `res.pause()`, and resumed when undici reads again.
 */
export class ClientBodyStream extends Readable {
  private paused = false

  constructor(private readonly res: HttpResponse) {
    super({ highWaterMark: 64 * 1024 })
  }

  override _read(): void {
    if (this.paused) {
      this.paused = false
      this.res.resume()
    }
  }

  /** Feeds one uWS chunk; returns false once the stream is destroyed (the caller stops feeding). */
  feed(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.destroyed) return
    if (chunk.byteLength > 0 && !this.push(copy(chunk)) && !isLast) {
      this.paused = true
      this.res.pause()
    }
    if (isLast) this.push(null)
  }
}

export function copy(chunk: ArrayBuffer): Buffer {
  const out = Buffer.allocUnsafe(chunk.byteLength)
  out.set(new Uint8Array(chunk))
  return out
}
