import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { isIP, type AddressInfo } from 'node:net'
import { request } from 'undici'
import {
  canonicalIp,
  compileTrustedIps,
  connectionTokens,
  isHopByHop,
  isOwnedOnForward,
  isValidHeaderName,
  isValidHeaderValue,
  resolveClientIp,
  writeForwardedHeaders,
} from '../../src/proxy/headers.js'

describe('isHopByHop', () => {
  test('RFC 9110 §7.6.1 names and every proxy-* are hop-by-hop', () => {
    for (const name of [
      'connection',
      'keep-alive',
      'te',
      'trailer',
      'transfer-encoding',
      'upgrade',
      'proxy-connection',
      'proxy-authenticate',
      'proxy-authorization',
      'proxy',
      'proxy-x',
      'proxy-anything-at-all',
    ]) {
      assert.equal(isHopByHop(name), true, name)
    }
  })

  test('end-to-end headers, including look-alikes, are not', () => {
    for (const name of [
      'host',
      'accept',
      'authorization',
      'content-type',
      'content-length',
      'cookie',
      'tee',
      't',
      'trailers',
      'upgrade-insecure-requests',
      'connections',
      'keep-alive2',
      'proxyx',
      'proxies',
      'x-proxy-id',
      'x-forwarded-for',
      'p',
      '',
    ]) {
      assert.equal(isHopByHop(name), false, name)
    }
  })
})

describe('isOwnedOnForward', () => {
  test('names the headers the forwarder sets itself', () => {
    for (const name of ['host', 'expect', 'content-length', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip']) {
      assert.equal(isOwnedOnForward(name), true, name)
    }
    for (const name of ['hosts', 'x-forwarded', 'x-forwarded-path', 'forwarded', 'accept', 'x-real-ips', 'authorization']) {
      assert.equal(isOwnedOnForward(name), false, name)
    }
  })
})

describe('connectionTokens', () => {
  test('null for the options real clients send, without a list', () => {
    for (const v of ['keep-alive', 'close', 'Keep-Alive', 'CLOSE', 'Upgrade', 'keep-alive, Upgrade', 'TE', 'te, close', '', ' , ,', 'Proxy-Authorization', 'transfer-encoding']) {
      assert.equal(connectionTokens(v), null, JSON.stringify(v))
    }
  })

  test('names to drop, lower-cased and trimmed (spaces and tabs), empty items ignored', () => {
    assert.deepEqual(connectionTokens('close, X-Foo'), ['x-foo'])
    assert.deepEqual(connectionTokens('X-A,x-b'), ['x-a', 'x-b'])
    assert.deepEqual(connectionTokens(' \tX-Secret-Token \t, keep-alive,,  Upgrade ,Cookie'), ['x-secret-token', 'cookie'])
    assert.deepEqual(connectionTokens('x-forwarded-for'), ['x-forwarded-for'])
  })
})

describe('isValidHeaderName', () => {
  test('accepts RFC 9110 tokens', () => {
    for (const n of ['x-foo', 'Content-Type', "!#$%&'*+-.^_`|~", '0123456789', 'a']) assert.equal(isValidHeaderName(n), true, n)
  })

  test('rejects empty names, separators, whitespace, controls and non-ASCII', () => {
    for (const n of ['', 'a b', 'a:b', 'x-foo\r', 'x\nfoo', 'caf\u00e9', '(', ')', '@', '"', ',', ';', '/', '[', ']', '?', '=', '{', '}', '\\', '\u0000', '\u007f', 'a\tb']) {
      assert.equal(isValidHeaderName(n), false, JSON.stringify(n))
    }
  })

  test('agrees with the token regex on every single character below U+0200', () => {
    const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
    for (let c = 0; c < 0x200; c++) {
      const s = 'x' + String.fromCharCode(c)
      assert.equal(isValidHeaderName(s), token.test(s), `U+${c.toString(16)}`)
    }
  })
})

describe('isValidHeaderValue', () => {
  test('accepts printable ASCII, tab, latin1 and the empty value', () => {
    for (const v of ['', 'abc', '\t', 'a\tb', 'Bearer eyJhbGciOi.x.y', 'caf\u00e9', '\u0080\u00ff', ' leading and trailing ']) {
      assert.equal(isValidHeaderValue(v), true, JSON.stringify(v))
    }
  })

  test('rejects CR, LF, NUL, other controls, DEL and code points above U+00FF (header injection)', () => {
    for (const v of ['\r', '\n', '\u0000', 'ok\r\nSet-Cookie: session=evil', 'a\u0000b', '\u007f', '\u001b[31m', '\u0100', '\u20ac', 'x\u2028y']) {
      assert.equal(isValidHeaderValue(v), false, JSON.stringify(v))
    }
  })

  test("agrees with undici's regex on every UTF-16 code unit", () => {
    const undiciInvalid = /[^\t\x20-\x7e\x80-\xff]/
    for (let c = 0; c < 0x10000; c++) {
      const s = 'ab' + String.fromCharCode(c)
      assert.equal(isValidHeaderValue(s), !undiciInvalid.test(s), `U+${c.toString(16)}`)
    }
  })
})

describe('canonicalIp', () => {
  test('IPv4, IPv6 (RFC 5952) and IPv4-mapped forms, including what uWS reports', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', '127.0.0.1'],
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
      ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'],
      ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
      ['::ffff:1.2.3.4', '1.2.3.4'],
      ['::FFFF:10.0.0.1', '10.0.0.1'],
      ['::ffff:a00:1', '10.0.0.1'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['2001:DB8::8:800:200C:417A', '2001:db8::8:800:200c:417a'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
      ['2001:db8::1:0:0:0:1', '2001:db8:0:1::1'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
      ['fe80::1:2.3.4.5', 'fe80::1:203:405'],
      ['::1.2.3.4', '::102:304'],
    ]
    for (const [input, expected] of cases) assert.equal(canonicalIp(input), expected, input)
  })

  test("random IPv6 addresses in random spellings agree with the WHATWG URL serialiser and node's isIP", () => {
    let seed = 0x9e3779b9
    const rand = (n: number): number => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) % n
    }
    for (let k = 0; k < 5000; k++) {
      // Mostly zero groups, so runs of zeros (and ties between runs) are common.
      const g = Array.from({ length: 8 }, () => (rand(3) === 0 ? rand(0x10000) : 0))
      if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) g[5] = 1 // not mapped
      let text = g.map((x) => x.toString(16).padStart(rand(2) === 0 ? 4 : 1, '0')).join(':')
      if (rand(2) === 0) {
        // Compress one random run of zero groups (not necessarily the longest) with `::`.
        const zeros = g.map((x, i) => (x === 0 ? i : -1)).filter((i) => i >= 0)
        if (zeros.length > 0) {
          const from = zeros[rand(zeros.length)]
          let to = from
          while (to + 1 < 8 && g[to + 1] === 0 && rand(4) !== 0) to++
          text = `${g.slice(0, from).map((x) => x.toString(16)).join(':')}::${g.slice(to + 1).map((x) => x.toString(16)).join(':')}`
        }
      }
      if (rand(2) === 0) text = text.toUpperCase()
      assert.equal(isIP(text), 6, text)
      assert.equal(canonicalIp(text), new URL(`http://[${text}]/`).hostname.slice(1, -1), text)
    }
  })

  test("random strings over the address alphabet: accepted exactly when node's isIP accepts them", () => {
    let seed = 0x1234567
    const rand = (n: number): number => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) % n
    }
    const pieces = ['0', '1', '9', '25', '255', '256', '01', 'a', 'F', 'ffff', '12345', ':', ':', '::', '.', '.', '1.2.3.4']
    let accepted = 0
    for (let k = 0; k < 50000; k++) {
      let text = ''
      const len = 1 + rand(10)
      for (let j = 0; j < len; j++) text += pieces[rand(pieces.length)]
      const ours = canonicalIp(text) !== null
      if (ours) accepted++
      assert.equal(ours, isIP(text) !== 0, text)
    }
    assert.ok(accepted > 500, `only ${accepted} valid samples`)
  })

  test('null for anything that is not a bare address', () => {
    for (const s of [
      '',
      'a',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '01.2.3.4',
      '1.2.3.04',
      '1..2.3',
      '1.2.3.',
      '.1.2.3',
      '1.2.3.4:80',
      '1234.1.1.1',
      '::ffff:1.2.3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8::',
      '::1:2:3:4:5:6:7:8',
      '1::2::3',
      ':::',
      ':1::',
      '1:',
      '1::2:',
      'fe80::1%eth0',
      '[::1]',
      '[::1]:80',
      '12345::',
      'g::',
      '1:2:3:4:5:6:7:1.2.3.4',
      '::1.2.3.4:5',
      'unknown',
      '_hidden',
    ]) {
      assert.equal(canonicalIp(s), null, JSON.stringify(s))
    }
  })
})

describe('compileTrustedIps', () => {
  test('an empty list trusts nobody', () => {
    const t = compileTrustedIps([])
    assert.equal(t.empty, true)
    assert.equal(t.trusts('127.0.0.1'), false)
    assert.equal(t.trusts('::1'), false)
  })

  test('IPv4 CIDRs and single addresses, in both peer forms', () => {
    const t = compileTrustedIps(['10.0.0.0/8', '192.168.1.7', ' 172.16.0.0/12 '])
    assert.equal(t.empty, false)
    for (const ip of ['10.0.0.1', '10.255.255.255', '192.168.1.7', '172.31.0.1', '::ffff:10.1.2.3', '0000:0000:0000:0000:0000:ffff:0a00:0001']) {
      assert.equal(t.trusts(ip), true, ip)
    }
    for (const ip of ['11.0.0.1', '9.255.255.255', '192.168.1.8', '172.32.0.1', '::1', '::a00:1', 'garbage', '', '10.0.0.1:80']) {
      assert.equal(t.trusts(ip), false, ip)
    }
  })

  test('IPv6 CIDRs and single addresses', () => {
    const t = compileTrustedIps(['::1', 'fd00::/8', '2001:db8:abcd::/48'])
    for (const ip of ['::1', '0000:0000:0000:0000:0000:0000:0000:0001', 'fd12:3456::1', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db8:abcd:1::1']) {
      assert.equal(t.trusts(ip), true, ip)
    }
    for (const ip of ['::2', 'fe00::1', '2001:db8:abce::1', '127.0.0.1', '1.0.0.0']) {
      assert.equal(t.trusts(ip), false, ip)
    }
  })

  test('host bits below the prefix are ignored, as nginx does', () => {
    const t = compileTrustedIps(['10.1.2.3/8', 'fd00::1234/16'])
    assert.equal(t.trusts('10.9.9.9'), true)
    assert.equal(t.trusts('fd00:ffff::1'), true)
    assert.equal(t.trusts('fd01::1'), false)
  })

  test('IPv4-mapped ranges trust the IPv4 addresses they map, in either form', () => {
    const t = compileTrustedIps(['::ffff:192.168.0.0/112', '::ffff:203.0.113.9'])
    assert.equal(t.trusts('192.168.44.1'), true)
    assert.equal(t.trusts('::ffff:192.168.44.1'), true)
    assert.equal(t.trusts('192.169.0.1'), false)
    assert.equal(t.trusts('203.0.113.9'), true)
    assert.equal(t.trusts('203.0.113.10'), false)
  })

  test('/0 ranges: 0.0.0.0/0 trusts all IPv4, ::/0 trusts everything', () => {
    const v4all = compileTrustedIps(['0.0.0.0/0'])
    assert.equal(v4all.trusts('8.8.8.8'), true)
    assert.equal(v4all.trusts('::ffff:8.8.8.8'), true)
    assert.equal(v4all.trusts('2001:db8::1'), false)
    const all = compileTrustedIps(['::/0'])
    assert.equal(all.trusts('2001:db8::1'), true)
    assert.equal(all.trusts('8.8.8.8'), true)
    const v6only = compileTrustedIps(['2000::/3'])
    assert.equal(v6only.trusts('8.8.8.8'), false)
  })

  test('an invalid entry throws, naming the entry', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'abc', '::1/129', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0.0/8/8', '', 'fe80::1%eth0', '1.2.3.4:80', '::ffff:1.2.3.4/129']) {
      assert.throws(
        () => compileTrustedIps(['127.0.0.1', bad]),
        (err: Error) => err.message.includes(`"${bad}"`),
        JSON.stringify(bad),
      )
    }
  })
})

describe('resolveClientIp (nginx realip, real_ip_recursive on)', () => {
  const trusted = compileTrustedIps(['10.0.0.0/8', '2001:db8:1::/48'])

  test('an untrusted peer is the client, whatever X-Forwarded-For claims (spoofing)', () => {
    assert.equal(resolveClientIp('198.51.100.7', '1.2.3.4', trusted), '198.51.100.7')
    assert.equal(resolveClientIp('198.51.100.7', '10.0.0.1, 127.0.0.1', trusted), '198.51.100.7')
    assert.equal(resolveClientIp('2001:db8:2::1', '1.2.3.4', trusted), '2001:db8:2::1')
  })

  test('with no trusted proxies the peer is always the client', () => {
    assert.equal(resolveClientIp('10.0.0.1', '1.2.3.4', compileTrustedIps([])), '10.0.0.1')
  })

  test('a trusted peer without X-Forwarded-For is the client', () => {
    assert.equal(resolveClientIp('10.0.0.1', undefined, trusted), '10.0.0.1')
    assert.equal(resolveClientIp('10.0.0.1', '', trusted), '10.0.0.1')
  })

  test('walks right to left past trusted hops to the first untrusted address', () => {
    assert.equal(resolveClientIp('10.0.0.1', '203.0.113.9', trusted), '203.0.113.9')
    assert.equal(resolveClientIp('10.0.0.1', '203.0.113.9, 10.0.0.2, 10.0.0.3', trusted), '203.0.113.9')
    // The client prepended a fake address: the real one, appended by our trusted proxy, wins.
    assert.equal(resolveClientIp('10.0.0.1', '127.0.0.1, 203.0.113.9, 10.0.0.2', trusted), '203.0.113.9')
    // A client claiming to be a trusted proxy only moves the walk one step further left, to its own claims.
    assert.equal(resolveClientIp('10.0.0.1', '1.1.1.1, 10.0.0.99, 203.0.113.9', trusted), '203.0.113.9')
  })

  test('if every entry is trusted, the leftmost is the client', () => {
    assert.equal(resolveClientIp('10.0.0.1', '10.0.0.5, 10.0.0.6', trusted), '10.0.0.5')
  })

  test('a malformed entry stops the walk at the last good address', () => {
    assert.equal(resolveClientIp('10.0.0.1', '203.0.113.9, garbage', trusted), '10.0.0.1')
    assert.equal(resolveClientIp('10.0.0.1', 'garbage, 10.0.0.2', trusted), '10.0.0.2')
    assert.equal(resolveClientIp('10.0.0.1', '203.0.113.9, unknown, 10.0.0.2', trusted), '10.0.0.2')
    assert.equal(resolveClientIp('10.0.0.1', '203.0.113.9:4711', trusted), '10.0.0.1')
    assert.equal(resolveClientIp('10.0.0.1', '[2001:db8::1]', trusted), '10.0.0.1')
    assert.equal(resolveClientIp('10.0.0.1', '1.2.3.4\r\nX-Evil: 1', trusted), '10.0.0.1')
    assert.equal(resolveClientIp('10.0.0.1', '<script>, 10.0.0.2', trusted), '10.0.0.2')
  })

  test('whitespace, tabs and empty items are tolerated; several XFF lines joined with commas work', () => {
    assert.equal(resolveClientIp('10.0.0.1', ' \t203.0.113.9 \t,  10.0.0.2 ', trusted), '203.0.113.9')
    assert.equal(resolveClientIp('10.0.0.1', '203.0.113.9,,10.0.0.2,', trusted), '203.0.113.9')
    assert.equal(resolveClientIp('10.0.0.1', ',', trusted), '10.0.0.1')
    assert.equal(resolveClientIp('10.0.0.1', '203.0.113.9, 10.0.0.2' + ',' + '10.0.0.3', trusted), '203.0.113.9')
  })

  test('IPv6 and IPv4-mapped entries and peers, returned in canonical form', () => {
    assert.equal(resolveClientIp('2001:db8:1::9', '2001:DB8:FFFF:0:0:0:0:1', trusted), '2001:db8:ffff::1')
    assert.equal(resolveClientIp('0000:0000:0000:0000:0000:ffff:0a00:0001', '::ffff:203.0.113.9', trusted), '203.0.113.9')
    assert.equal(resolveClientIp('10.0.0.1', '203.0.113.9, 2001:db8:1::5', trusted), '203.0.113.9')
    assert.equal(resolveClientIp('10.0.0.1', '2001:db8:1::5', trusted), '2001:db8:1::5')
  })
})

describe('writeForwardedHeaders', () => {
  const flat = (out: string[]): Record<string, string> => {
    const o: Record<string, string> = {}
    for (let i = 0; i < out.length; i += 2) {
      assert.equal(o[out[i]], undefined, `duplicate ${out[i]}`)
      o[out[i]] = out[i + 1]
    }
    return o
  }

  test('untrusted peer: inbound forwarding headers are ignored (spoofing)', () => {
    const out: string[] = []
    writeForwardedHeaders(out, false, '198.51.100.7', '198.51.100.7', '1.2.3.4', 'https', 'admin.internal', '8443', 'http', 'api.example.com', '80')
    assert.deepEqual(flat(out), {
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'api.example.com',
      'x-forwarded-port': '80',
      'x-real-ip': '198.51.100.7',
    })
  })

  test('trusted peer: the chain gets the peer appended and inbound proto/host/port are kept', () => {
    const out = ['accept', '*/*']
    writeForwardedHeaders(out, true, '10.0.0.2', '203.0.113.9', '203.0.113.9', 'https', 'shop.example.com', '443', 'http', 'internal-lb', '8000')
    assert.deepEqual(out.slice(0, 2), ['accept', '*/*'])
    assert.deepEqual(flat(out), {
      accept: '*/*',
      'x-forwarded-for': '203.0.113.9, 10.0.0.2',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.example.com',
      'x-forwarded-port': '443',
      'x-real-ip': '203.0.113.9',
    })
  })

  test('trusted peer without inbound values: ours', () => {
    const out: string[] = []
    writeForwardedHeaders(out, true, '10.0.0.2', '10.0.0.2', undefined, undefined, '', undefined, 'https', 'api.example.com', '443')
    assert.deepEqual(flat(out), {
      'x-forwarded-for': '10.0.0.2',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'api.example.com',
      'x-forwarded-port': '443',
      'x-real-ip': '10.0.0.2',
    })
  })

  test('inbound values undici would reject are replaced by ours, even from a trusted peer', () => {
    const out: string[] = []
    writeForwardedHeaders(out, true, '10.0.0.2', '10.0.0.2', '1.2.3.4\r\nx: y', 'https\u0000', 'h\nost', '44\r3', 'http', 'api', '80')
    assert.deepEqual(flat(out), {
      'x-forwarded-for': '10.0.0.2',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'api',
      'x-forwarded-port': '80',
      'x-real-ip': '10.0.0.2',
    })
    for (let i = 1; i < out.length; i += 2) assert.equal(isValidHeaderValue(out[i]), true)
  })
})

// The filter the forwarder applies (see the top of src/proxy/headers.ts), written out as the forwarder
// would, then sent through undici to a real upstream on 127.0.0.1.
function forwardHeaders(inbound: string[], peerIp: string, trustedList: string[]): string[] {
  const trusted = compileTrustedIps(trustedList)
  let connection: string | undefined
  let xff: string | undefined
  let inProto: string | undefined
  for (let i = 0; i < inbound.length; i += 2) {
    if (inbound[i] === 'connection') connection = inbound[i + 1]
    if (inbound[i] === 'x-forwarded-for') xff = xff === undefined ? inbound[i + 1] : `${xff}, ${inbound[i + 1]}`
    if (inbound[i] === 'x-forwarded-proto') inProto = inbound[i + 1]
  }
  const named = connection === undefined ? null : connectionTokens(connection)
  const out: string[] = []
  for (let i = 0; i < inbound.length; i += 2) {
    const name = inbound[i]
    if (isHopByHop(name) || isOwnedOnForward(name) || (named !== null && named.includes(name))) continue
    out.push(name, inbound[i + 1])
  }
  out.push('host', 'upstream.internal')
  const peerTrusted = trusted.trusts(peerIp)
  const client = resolveClientIp(peerIp, xff, trusted)
  writeForwardedHeaders(out, peerTrusted, peerIp, client, xff, inProto, undefined, undefined, 'http', 'api.example.com', '80')
  return out
}

describe('forwarding hostile inbound headers through undici to a real upstream', () => {
  const hostile = [
    'host', 'api.example.com',
    'expect', '100-continue',
    'transfer-encoding', 'chunked',
    'keep-alive', 'timeout=5',
    'upgrade', 'websocket',
    'connection', 'keep-alive, Upgrade, X-Internal-Secret',
    'x-internal-secret', 'should-not-pass',
    'proxy-authorization', 'Basic Zm9vOmJhcg==',
    'proxy', 'http://evil.example:8080',
    'te', 'trailers',
    'x-real-ip', '6.6.6.6',
    'x-forwarded-for', '6.6.6.6',
    'x-forwarded-proto', 'https',
    'content-length', '0',
    'accept', 'application/json',
    'authorization', 'Bearer abc',
  ]

  async function withUpstream(fn: (origin: string, seen: () => IncomingHttpHeaders) => Promise<void>): Promise<void> {
    let last: IncomingHttpHeaders = {}
    const server = createServer((req, res) => {
      last = req.headers
      res.end('ok')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as AddressInfo
    try {
      await fn(`http://127.0.0.1:${port}`, () => last)
    } finally {
      await new Promise<void>((r) => server.close(() => r()))
    }
  }

  test('unfiltered, undici refuses them (why the filter exists)', async () => {
    await withUpstream(async (origin) => {
      const refusals: Array<[string[], string]> = [
        [['expect', '100-continue'], 'UND_ERR_NOT_SUPPORTED'],
        [['transfer-encoding', 'chunked'], 'UND_ERR_INVALID_ARG'],
        [['keep-alive', 'timeout=5'], 'UND_ERR_INVALID_ARG'],
        [['upgrade', 'websocket'], 'UND_ERR_INVALID_ARG'],
        [['host', 'a', 'host', 'b'], 'UND_ERR_INVALID_ARG'],
        [['content-length', '0', 'content-length', '0'], 'UND_ERR_INVALID_ARG'],
        [['x-forwarded-proto', 'http\r\nx-evil: 1'], 'UND_ERR_INVALID_ARG'],
      ]
      for (const [headers, code] of refusals) {
        await assert.rejects(
          request(origin, { method: 'GET', headers: ['accept', '*/*', ...headers] }),
          (err: { code?: string }) => err.code === code,
          headers[0],
        )
      }
    })
  })

  test('filtered, from an untrusted peer: accepted, nothing hop-by-hop or spoofed arrives', async () => {
    await withUpstream(async (origin, seen) => {
      const res = await request(origin, { method: 'GET', headers: forwardHeaders(hostile, '198.51.100.7', ['10.0.0.0/8']) })
      assert.equal(res.statusCode, 200)
      await res.body.text()
      const h = seen()
      assert.equal(h.host, 'upstream.internal')
      assert.equal(h['x-real-ip'], '198.51.100.7')
      assert.equal(h['x-forwarded-for'], '198.51.100.7')
      assert.equal(h['x-forwarded-proto'], 'http')
      assert.equal(h.accept, 'application/json')
      assert.equal(h.authorization, 'Bearer abc')
      for (const gone of ['expect', 'transfer-encoding', 'keep-alive', 'upgrade', 'x-internal-secret', 'proxy-authorization', 'proxy', 'te']) {
        assert.equal(h[gone], undefined, gone)
      }
    })
  })

  test('filtered, from a trusted proxy: the chain and scheme are carried on', async () => {
    await withUpstream(async (origin, seen) => {
      const res = await request(origin, { method: 'GET', headers: forwardHeaders(hostile, '10.0.0.2', ['10.0.0.0/8']) })
      await res.body.text()
      const h = seen()
      assert.equal(h['x-real-ip'], '6.6.6.6')
      assert.equal(h['x-forwarded-for'], '6.6.6.6, 10.0.0.2')
      assert.equal(h['x-forwarded-proto'], 'https')
    })
  })
})
