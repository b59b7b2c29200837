import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { normalizePath } from '../../src/worker/normalize.js'

describe('normalizePath: security-bar.md §1 vectors', () => {
  const vectors: Array<[string, string | null]> = [
    ['/a/b/../c', '/a/c'],
    ['/a/b/%2e%2e/c', '/a/c'],
    ['/a/..\\c', '/c'],
    ['/../a/b', '/a/b'],
    ['/a/%2F%2f/c', '/a/%2F%2f/c'],
    ['/xyz/.%00../abc', null],
    ['//a/b/c', '/a/b/c'],
  ]
  for (const [input, expected] of vectors) {
    test(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizePath(input), expected)
    })
  }
})

describe("normalizePath: Envoy's path_utility_test.cc vectors", () => {
  const vectors: Array<[string, string | null]> = [
    ['/xyz', '/xyz'],
    ['/x/y/z', '/x/y/z'],
    ['/xyz/%00.%00./abc', null],
    ['/xyz/AAAAA%%0000/abc', null],
    ['/a/b/./c', '/a/b/c'],
    ['a/b/../c', '/a/c'],
    ['/a/b/../../../../c', '/c'],
    ['/%c0%af', '/%c0%af'],
    ['/%5c%25', '/%5c%25'],
    ['/a/b/%2E%2E/c', '/a/c'],
    ['/a/b/%2E./c', '/a/c'],
    ['/a/b/%2E/c', '/a/b/c'],
    ['..', '/'],
    ['/./a/b', '/a/b'],
    ['/A/B/C', '/A/B/C'],
    ['/a//b/c/', '/a/b/c/'],
    ['/a', '/a'],
    ['/a//b/c', '/a/b/c'],
    ['/a/b/c//', '/a/b/c/'],
    ['/a///b/c', '/a/b/c'],
    ['/a////b/c', '/a/b/c'],
  ]
  for (const [input, expected] of vectors) {
    test(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizePath(input), expected)
    })
  }
})

describe('normalizePath: own vectors', () => {
  const vectors: Array<[string, string | null]> = [
    // RFC 3986 §5.2.4: a final `.` or `..` leaves a trailing slash.
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/b/%2e', '/a/b/'],
    ['/..', '/'],
    ['/.', '/'],
    ['/', '/'],
    ['', '/'],
    ['\\', '/'],
    ['\\a\\b', '/a/b'],
    ['/a\\\\b', '/a/b'],
    // Dots that are not whole segments are ordinary characters.
    ['/.well-known/acme', '/.well-known/acme'],
    ['/a/..b/c', '/a/..b/c'],
    ['/a/b../c', '/a/b../c'],
    ['/a/.../c', '/a/.../c'],
    ['/a.b/c.d', '/a.b/c.d'],
    // `%2e` is decoded everywhere so the output never hides a dot-segment behind an escape.
    ['/a%2eb', '/a.b'],
    ['/a/%2e%2E%2e', '/a/...'],
    ['/a/.%2e/b', '/b'],
    ['/a/%2e./b', '/b'],
    // Encoded slashes do not separate segments: CVE-2021-29492 `/x%2F..%2Fadmin` stays one segment.
    ['/x%2F..%2Fadmin', '/x%2F..%2Fadmin'],
    ['/x/%2F../admin', '/x/%2F../admin'],
    ['/x/..%2f/admin', '/x/..%2f/admin'],
    ['/a/%5c../b', '/a/%5c../b'],
    // Escapes other than %2e keep their bytes and their case.
    ['/%41%42', '/%41%42'],
    ['/%7e/%7E', '/%7e/%7E'],
    ['/%25', '/%25'],
    ['/%252e%252e/a', '/%252e%252e/a'],
    // Merging happens before dot resolution (nginx's order): `//..` pops the real segment.
    ['/a//../b', '/b'],
    ['/a/./../b', '/b'],
    ['/a/b/../../..', '/'],
    // Rejected: NUL, control characters, DEL, malformed escapes.
    ['/a\u0000b', null],
    ['/a%00', null],
    ['/a\nb', null],
    ['/a\rb', null],
    ['/a\tb', null],
    ['/a\u007fb', null],
    ['/a/%zz', null],
    ['/a/%4', null],
    ['/a/%', null],
    ['/a/%g1', null],
    ['/a/%1g/b', null],
    ['a\u0001/../b', null],
    ['a/%4', null],
    ['/a/../%00', null],
    // Dot-segments with `;` parameters: servlet containers resolve them as dot-segments (Tomcat `..;`).
    ['/public/..;/admin', null],
    ['/a/.;/b', null],
    ['/a/..;jsessionid=1/b', null],
    ['/a/%2e%2e;/b', null],
    ['/a/.%2e;x/b', null],
    ['/a/..%3b/b', null],
    ['/a/..%3B/b', null],
    ['/a/.;', null],
    ['/a\\..;\\b', null],
    ['/a/...;/b', '/a/...;/b'],
    ['/a/x;y/b', '/a/x;y/b'],
    ['/a/..x;/b', '/a/..x;/b'],
    ['/a/.%41', '/a/.%41'],
    ['/a/..%2F', '/a/..%2F'],
    // Non-ASCII (latin1 bytes as uWS hands them over) passes untouched.
    ['/caf\u00e9', '/caf\u00e9'],
    ['/caf\u00e9/../x', '/x'],
    ['/;jsessionid=1/../admin', '/admin'],
  ]
  for (const [input, expected] of vectors) {
    test(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizePath(input), expected)
    })
  }
})

describe('normalizePath: fast path', () => {
  // JS cannot observe string identity (Object.is compares values), so the no-allocation claim is checked
  // by bench/micro/normalize.ts (heap growth per call); here: normal paths come back unchanged.
  test('already-normal paths come back unchanged', () => {
    const paths = ['/api/v1/users/' + String(Date.now()), '/.well-known/x', '/a%2Fb', '/caf\u00e9', '/a/b/', '/a.b/..c']
    for (const p of paths) assert.equal(normalizePath(p), p)
  })
})

// An independent model of the same rules, written the obvious way (regex + RFC 3986 §5.2.4 as
// specified), to cross-check normalizePath on random input.
function model(p: string): string | null {
  // eslint-disable-next-line no-control-regex -- the control range is the point of the check
  if (/[\x00-\x1f\x7f]/.test(p)) return null
  if (/%(?![0-9a-fA-F]{2})/.test(p)) return null
  if (/%00/.test(p)) return null
  let s = p.replace(/%2e/gi, '.').replace(/\\/g, '/')
  if (s.split('/').some((seg) => /^\.\.?(;|%3b)/i.test(seg))) return null
  if (!s.startsWith('/')) s = '/' + s
  s = s.replace(/\/+/g, '/')
  let input = s
  let output = ''
  const popLast = (o: string) => o.replace(/\/?[^/]*$/, '')
  while (input.length > 0) {
    if (input.startsWith('/./')) input = input.slice(2)
    else if (input === '/.') input = '/'
    else if (input.startsWith('/../')) {
      input = input.slice(3)
      output = popLast(output)
    } else if (input === '/..') {
      input = '/'
      output = popLast(output)
    } else {
      const m = /^\/?[^/]*/.exec(input)![0]
      output += m
      input = input.slice(m.length)
    }
  }
  return output === '' ? '/' : output
}

describe('normalizePath: random input against a model', () => {
  // A small deterministic PRNG keeps failures reproducible.
  let seed = 0x2545f491
  const rand = (n: number): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  const pieces = ['/', '/', '/', 'a', 'b', '.', '..', '%2e', '%2E', '%2F', '%41', '%', '%0', '%00', '\\', 'x', '\u0001', '\u00e9', '%%', ';', '%3b', '%3B']

  test('30000 random paths agree with the model, and outputs are fixed points', () => {
    for (let k = 0; k < 30000; k++) {
      let p = rand(4) === 0 ? '' : '/'
      const len = rand(9)
      for (let j = 0; j < len; j++) p += pieces[rand(pieces.length)]
      const got = normalizePath(p)
      assert.equal(got, model(p), `input ${JSON.stringify(p)}`)
      if (got !== null) {
        assert.equal(normalizePath(got), got, `not a fixed point: ${JSON.stringify(got)}`)
      }
    }
  })
})
