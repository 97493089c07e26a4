import assert from 'node:assert/strict'
import { test } from 'node:test'
import { planBody, type BodyPlanInput } from './body-plan.ts'

const ON = { isEnabled: true, maxBytes: 1000, overLimit: 'stream' as const }
const base: BodyPlanInput = {
  hasBody: true,
  declaredBytes: 10,
  buffering: ON,
  isReplayEligible: false,
  maxReplayBodyBytes: 0,
}

test('bodies within the route limit are buffered, larger declared ones streamed or refused', () => {
  assert.deepEqual(planBody(base), { kind: 'buffer', maxBytes: 1000 })
  assert.deepEqual(planBody({ ...base, declaredBytes: undefined }), { kind: 'buffer', maxBytes: 1000 })
  assert.deepEqual(planBody({ ...base, declaredBytes: 1001 }), { kind: 'stream' })
  assert.deepEqual(planBody({ ...base, declaredBytes: 1001, buffering: { ...ON, overLimit: 'refuse' } }), {
    kind: 'refuse',
  })
  assert.deepEqual(planBody({ ...base, hasBody: false }), { kind: 'none' })
})

test('with buffering off only a replay-eligible body is buffered (the retry rule of old)', () => {
  const off = { ...ON, isEnabled: false }
  assert.deepEqual(planBody({ ...base, buffering: off }), { kind: 'stream' })
  assert.deepEqual(planBody({ ...base, buffering: off, isReplayEligible: true, maxReplayBodyBytes: 64 }), {
    kind: 'buffer',
    maxBytes: 64,
  })
})

test('a replay limit above the buffering limit raises it for replay-eligible bodies only', () => {
  const q = { ...base, declaredBytes: 5000, maxReplayBodyBytes: 8000 }
  assert.deepEqual(planBody(q), { kind: 'stream' })
  assert.deepEqual(planBody({ ...q, isReplayEligible: true }), { kind: 'buffer', maxBytes: 8000 })
})
