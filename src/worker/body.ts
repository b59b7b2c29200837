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
 *
 * Kong's `write_timeout` (the longest wait between two successive writes to the upstream) is kept
 * here: a timer runs only while the stream is paused, that is while the upstream is not taking the
 * body; if it fires, `onWriteTimeout` ends the exchange with a 504.
 */
export class ClientBodyStream extends Readable {
  private paused = false
  private timer: NodeJS.Timeout | null = null
  onWriteTimeout: (() => void) | null = null

  constructor(
    private readonly res: HttpResponse,
    private readonly writeTimeout: number,
  ) {
    super({ highWaterMark: 64 * 1024 })
  }

  override _read(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.paused) {
      this.paused = false
      this.res.resume()
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    cb(err)
  }

  /** Feeds one uWS chunk; returns false once the stream is destroyed (the caller stops feeding). */
  feed(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.destroyed) return
    if (chunk.byteLength > 0 && !this.push(copy(chunk)) && !isLast) {
      this.paused = true
      this.res.pause()
      this.timer ??= setTimeout(() => {
        this.timer = null
        this.onWriteTimeout?.()
      }, this.writeTimeout)
    }
    if (isLast) this.push(null)
  }
}

export function copy(chunk: ArrayBuffer): Buffer {
  const out = Buffer.allocUnsafe(chunk.byteLength)
  out.set(new Uint8Array(chunk))
  return out
}
