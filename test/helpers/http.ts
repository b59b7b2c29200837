import net from 'node:net'
import { request } from 'undici'

/** A plain request through undici (a fresh connection each time unless a dispatcher is given). */
export async function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; json: any }> {
  const res = await request(url, { method: method as any, headers })
  const body = await res.body.text()
  let json: any = null
  try {
    json = JSON.parse(body)
  } catch {
    // not JSON
  }
  return { status: res.statusCode, headers: res.headers, body, json }
}

export interface RawResult {
  /** Everything the server sent. */
  data: string
  /** The server closed the connection (as opposed to our timeout). */
  closed: boolean
  /** Milliseconds until close or timeout. */
  ms: number
}

/** Sends raw bytes on a fresh TCP connection and collects the answer until close or `timeoutMs`. */
export function raw(port: number, payload: string | Buffer, timeoutMs = 2000): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = Date.now()
    const sock = net.connect(port, '127.0.0.1', () => sock.write(payload))
    let data = ''
    let settled = false
    const finish = (closed: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      sock.destroy()
      resolve({ data, closed, ms: Date.now() - started })
    }
    sock.on('data', (d) => (data += d.toString('latin1')))
    sock.on('close', () => finish(true))
    sock.on('error', () => finish(true))
    const timer = setTimeout(() => finish(false), timeoutMs)
  })
}

/** Status code of the first response in a raw answer, or 0. */
export function statusOf(data: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(data)
  return m ? Number(m[1]) : 0
}
