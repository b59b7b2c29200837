import { test } from 'node:test'
import assert from 'node:assert/strict'
import { requestTerminationSchema } from '../../../src/plugins/request-termination/schema.js'

test('defaults: 503, no message, no body', () => {
  assert.deepEqual(requestTerminationSchema.parse({}), { status_code: 503, message: null, body: null, content_type: null, trigger: null })
})

test('message and body together are refused, content_type needs body, status in 100..599', () => {
  assert.equal(requestTerminationSchema.safeParse({ message: 'a', body: 'b' }).success, false)
  assert.equal(requestTerminationSchema.safeParse({ content_type: 'text/plain' }).success, false)
  assert.equal(requestTerminationSchema.safeParse({ status_code: 600 }).success, false)
  assert.equal(requestTerminationSchema.safeParse({ status_code: 99 }).success, false)
  assert.equal(requestTerminationSchema.safeParse({ body: 'x', content_type: 'text/plain\r\nX-Evil: 1' }).success, false)
  assert.equal(requestTerminationSchema.safeParse({ echo: true }).success, false, 'echo is not supported: unknown field')
})
