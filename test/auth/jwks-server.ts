import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, type JWK } from 'jose'

/** A signing key pair as an issuer holds it: the private key signs tokens, the JWK is published. */
export interface IssuerKey {
  kid: string
  alg: string
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']
  jwk: JWK
}

export async function issuerKey(kid: string, alg = 'RS256'): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { kid, alg, privateKey, jwk }
}

/** How the server answers GET /jwks: `ok` serves `keys`; the rest are the failures a fetcher must survive. */
export type JwksMode = 'ok' | 'status-500' | 'status-404' | 'redirect' | 'oversize' | 'oversize-chunked' | 'invalid-json' | 'no-keys' | 'keys-not-array' | 'array' | 'hang'

/** A real JWKS endpoint on 127.0.0.1 that can rotate keys, fail in chosen ways, go down and come back. */
export class JwksServer {
  mode: JwksMode = 'ok'
  keys: JWK[] = []
  /** Arrival time (ms) of each request to /jwks. */
  readonly hits: number[] = []
  /** Requests to /moved (where `redirect` points): a fetcher that follows redirects would show here. */
  movedHits = 0
  private server: Server | null = null
  private hanging: ServerResponse[] = []
  port = 0

  get uri(): string {
    return `http://127.0.0.1:${this.port}/jwks`
  }

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    this.server = server
    this.port = (server.address() as AddressInfo).port
  }

  /** Goes down: connections after this are refused until start(this.port). */
  async stop(): Promise<void> {
    const server = this.server
    if (server === null) return
    this.server = null
    for (const res of this.hanging.splice(0)) res.destroy()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/moved') {
      this.movedHits++
      this.json(res, 200, JSON.stringify({ keys: this.keys }))
      return
    }
    this.hits.push(Date.now())
    switch (this.mode) {
      case 'ok':
        return this.json(res, 200, JSON.stringify({ keys: this.keys }))
      case 'status-500':
        return this.json(res, 500, JSON.stringify({ keys: this.keys }))
      case 'status-404':
        return this.json(res, 404, '{"message":"not found"}')
      case 'redirect':
        res.writeHead(302, { location: `http://127.0.0.1:${this.port}/moved`, 'content-length': '0' })
        res.end()
        return
      case 'oversize':
        return this.json(res, 200, JSON.stringify({ keys: this.keys, pad: 'x'.repeat(600 * 1024) }))
      case 'oversize-chunked': {
        // No content-length: the cap must hold while streaming.
        res.writeHead(200, { 'content-type': 'application/json' })
        const chunk = 'x'.repeat(64 * 1024)
        res.write('{"keys":[],"pad":"')
        for (let i = 0; i < 10; i++) res.write(chunk)
        res.end('"}')
        return
      }
      case 'invalid-json':
        return this.json(res, 200, '{"keys": [')
      case 'no-keys':
        return this.json(res, 200, '{"kids": []}')
      case 'keys-not-array':
        return this.json(res, 200, '{"keys": {"a": 1}}')
      case 'array':
        return this.json(res, 200, '[{"keys": []}]')
      case 'hang':
        this.hanging.push(res)
        return
    }
  }

  private json(res: ServerResponse, status: number, body: string): void {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }
}

/** Resolves when `cond` holds (polled), rejects after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
