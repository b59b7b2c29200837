import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { flatten, parsePlainPath, PathTrie, type TrieSink } from '../../src/router/radix.js'

/** Records every terminal the walk reports, with the captured segments. */
class Recorder implements TrieSink<string[]> {
  seen: string[] = []
  constructor(private readonly trie: () => PathTrie<string[]>, private readonly path: string) {}
  terminal(payload: string[], end: number, depth: number): void {
    const caps: string[] = []
    const c = this.trie().captures
    for (let i = 0; i < depth; i++) caps.push(this.path.slice(c[2 * i], c[2 * i + 1]))
    this.seen.push(`${payload.join('+')}@${end}${caps.length ? '[' + caps.join(',') + ']' : ''}`)
  }
}

function build(paths: string[]): PathTrie<string[]> {
  return PathTrie.build(
    paths.map((p) => ({ path: parsePlainPath(p), value: p })),
    (values: string[]) => values,
  )
}

function walk(trie: PathTrie<string[]>, path: string): string[] {
  const r = new Recorder(() => trie, path)
  trie.walk(path, r)
  return r.seen
}

describe('parsePlainPath', () => {
  test('splits statics and params; minLength counts a param as one char', () => {
    assert.deepEqual(parsePlainPath('/a/{x}/b/{y}'), { statics: ['/a/', '/b/', ''], params: ['x', 'y'], minLength: 8 })
    assert.deepEqual(parsePlainPath('/plain'), { statics: ['/plain'], params: [], minLength: 6 })
  })

  test('rejects a stray closing brace', () => {
    assert.throws(() => parsePlainPath('/a}'), /without "\{"/)
  })

  test('rejects __proto__ as a param name', () => {
    assert.throws(() => parsePlainPath('/{__proto__}'), /invalid param name/)
  })
})

describe('PathTrie.walk', () => {
  test('reports every prefix terminal, shortest first, with its end position', () => {
    const trie = build(['/a', '/a/b', '/a/bc', '/x'])
    assert.deepEqual(walk(trie, '/a/bcd'), ['/a@2', '/a/b@4', '/a/bc@5'])
    assert.deepEqual(walk(trie, '/a/x'), ['/a@2'])
    assert.deepEqual(walk(trie, '/'), [])
  })

  test('explores static and param branches and captures each segment', () => {
    const trie = build(['/u/me', '/u/{id}', '/u/{id}/p/{post}'])
    // depth first: the param branch, then its static sibling; shortest first along each branch
    assert.deepEqual(walk(trie, '/u/me/p/3'), ['/u/{id}@5[me]', '/u/{id}/p/{post}@9[me,3]', '/u/me@5'])
    assert.deepEqual(walk(trie, '/u/7'), ['/u/{id}@4[7]'])
  })

  test('paths of the same shape share a terminal whatever the param names', () => {
    const trie = build(['/o/{a}/x', '/o/{b}/x'])
    assert.deepEqual(walk(trie, '/o/1/x'), ['/o/{a}/x+/o/{b}/x@6[1]'])
  })

  test('wide fan-out (dispatch table) finds every child', () => {
    const names = Array.from({ length: 40 }, (_, i) => `/r${String.fromCharCode(48 + i)}`)
    const trie = build(names)
    for (const n of names) assert.deepEqual(walk(trie, n + '/z'), [`${n}@3`])
    assert.deepEqual(walk(trie, '/r~'), [])
  })
})

test('flatten keeps every UTF-16 unit, including lone surrogates and long strings', () => {
  const long = 'ab'.repeat(5000) + '\ud800' + '\u{1F600}'
  assert.equal(flatten(long), long)
  assert.equal(flatten(''), '')
})
