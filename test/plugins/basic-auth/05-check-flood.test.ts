import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { get } from '../../helpers/http.js'
import { startInProcess, type InProcessGateway } from '../../helpers/inproc.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'
import { verifier } from '../../../src/plugins/basic-auth/index.js'

// Regression (auth review, issue 1): a flood of wrong passwords whose connections close at once used to
// queue one scrypt run each without limit, dropped connections included, and the next genuine first
// login waited behind all of them (4.9 s after 200). Now the queue is capped (503 + Retry-After past
// it) and a waiter whose client went away is skipped. Asserted with the gate's counters, not timings.

let up: Upstream
let gw: InProcessGateway

before(async () => {
  up = await startUpstream()
  gw = await startInProcess({
    _format_version: '3.0',
    // A plain-text password: hashed at load with the default cost (~50 ms a check), as operators' are.
    consumers: [{ username: 'alice', basicauth_credentials: [{ username: 'alice', password: 'correct-horse' }] }],
    services: [{ name: 'svc', url: up.url, routes: [{ name: 'b', paths: ['/b'], plugins: [{ name: 'basic-auth' }] }] }],
  })
})

after(async () => {
  await gw.close()
  await up.close()
})

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 10_000) assert.fail(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

test('closed connections cost no scrypt run, the queue is capped with 503, and a genuine login then gets through', async () => {
  const N = 100
  const checks = verifier.checks
  const refused = verifier.refused
  const abandoned = verifier.abandoned

  const sockets: net.Socket[] = []
  const answers: string[] = []
  await Promise.all(
    Array.from(
      { length: N },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const socket = net.connect(gw.port, '127.0.0.1', () => {
            socket.write(`GET /b HTTP/1.1\r\nHost: a\r\nAuthorization: ${basic(`nobody${i}`, `x${i}`)}\r\n\r\n`, () => resolve())
          })
          answers.push('')
          socket.on('data', (d) => (answers[i] += d.toString('latin1')))
          socket.on('error', reject)
          sockets.push(socket)
        }),
    ),
  )
  // Every request has reached the gate: started, waiting, or refused.
  await until(() => verifier.checks - checks + verifier.queued + verifier.refused - refused === N, 'all requests at the gate')
  assert.equal(verifier.queued, verifier.maxWaiting, 'the queue is full')
  const refusedNow = verifier.refused - refused
  assert.ok(refusedNow >= N - verifier.maxWaiting - 2 * verifier.maxRunning, `refused ${refusedNow}`)
  await until(() => answers.filter((a) => a.length > 0).length >= refusedNow, 'the 503 answers')
  const busy = answers.filter((a) => a.length > 0)
  for (const a of busy) {
    assert.match(a, /^HTTP\/1\.1 503 /)
    assert.match(a, /\r\nretry-after: 1\r\n/i)
    assert.match(a, /"code":"SLUICE_ERR_AUTH_BUSY"/)
  }

  // The clients give up: their queued checks must not run.
  const startedAtClose = verifier.checks
  for (const socket of sockets) socket.destroy()
  await until(() => verifier.queued === 0 && verifier.inFlight === 0, 'the queue to drain')

  const login = await get(`${gw.url}/b`, { authorization: basic('alice', 'correct-horse') })
  assert.equal(login.status, 200)
  // At most the checks already running (or started before the close was seen) ran after the close.
  assert.ok(verifier.checks - startedAtClose <= 1 + verifier.maxRunning, `${verifier.checks - startedAtClose - 1} checks ran for closed connections`)
  assert.ok(verifier.abandoned - abandoned >= verifier.maxWaiting - verifier.maxRunning, `abandoned ${verifier.abandoned - abandoned}`)
})
