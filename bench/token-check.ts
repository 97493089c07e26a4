// Micro-benchmark of the edge's access-token check: node bench/token-check.ts [iterations]. Runs the
// CredentialCheck of src/tokens exactly as the challenge stage calls it, with the verification cache warm
// (the steady state: one SHA-256 of the token, one LRU lookup, the revocation set, the subscription cache's
// access decision, the precomputed grant), over a pool of distinct tokens, and once per token cold (jose
// Ed25519 verification on a miss) for comparison. Reports µs per check (batch mean) and per-check p50/p99/
// max from individual timings, with the load average (the machine is shared: compare within one run).
// The budget: < 1 ms p99 and ≤ 15 µs CPU per request on a hit.
import { generateKeyPairSync } from 'node:crypto'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { AdmissionRequest } from '../src/runtime/index.ts'
import type { SubscriptionRecord } from '../src/subscriptions/index.ts'
import {
  createAccessTokenCodec,
  createRevocationSet,
  createTokenCredentialCheck,
  parseSigningKey,
} from '../src/tokens/index.ts'

const ITERATIONS = Number(process.argv[2] ?? 200_000)
const TOKENS = 1_000
const nowSec = Math.floor(Date.now() / 1000)

const key = parseSigningKey(
  'bench',
  generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  'bench',
)
const codec = createAccessTokenCodec([key], { issuer: 'litgate', audience: 'litgate', clockSkewSeconds: 30 })
const rows = new Map<string, SubscriptionRecord>()
const tokens: string[] = []
for (let i = 0; i < TOKENS; i++) {
  const sub = `0x${i.toString(16).padStart(64, '0')}` as const
  rows.set(sub, {
    id: sub,
    state: 'active',
    owner: `0x${'11'.repeat(20)}`,
    beneficiary: `0x${'11'.repeat(20)}`,
    planId: 1,
    token: `0x${'22'.repeat(20)}`,
    startSec: nowSec - 100,
    endSec: nowSec + 86_400,
    chainStatus: 'live',
    chainBlock: 1,
    version: 1,
    updatedAtSec: nowSec,
    paymentDigests: [],
    beforeLastPayment: null,
    operatorHold: null,
  })
  tokens.push(
    await codec.sign({
      iss: 'litgate',
      aud: 'litgate',
      sub,
      plan: 'pro',
      tier: 'pro',
      lv: '0123456789abcdef',
      fam: `family-${i}`,
      jti: `jti-${i}`,
      iat: nowSec,
      nbf: nowSec,
      exp: nowSec + 900,
    }),
  )
}
const revocations = createRevocationSet(960_000)
for (let i = 0; i < 1000; i++) revocations.revokeFamily(`revoked-${i}`, Date.now())
const check = createTokenCredentialCheck(
  {
    cacheMaxEntries: 100_000,
    upstreamHeaders: { subscription: 'x-litgate-subscription', plan: 'x-litgate-plan' },
  },
  {
    codec,
    revocations,
    subscriptions: {
      peek: (id) => rows.get(id),
      get: async (id) => rows.get(id),
      isAllowed: (row, now) => row !== undefined && now < row.endSec * 1000 && now >= row.startSec * 1000,
    },
    passAuthorization: () => false,
    nowMs: Date.now,
  },
)
const requests: AdmissionRequest[] = tokens.map((t) => ({
  requestId: 'bench',
  routeId: 'paid',
  method: 'GET',
  path: '/api/items',
  clientAddress: '127.0.0.1',
  headers: { authorization: `Bearer ${t}`, host: 'api.example' },
  isUpgrade: false,
}))
const plans = ['pro']

// Cold: every token once (jose verification on a miss, then cached).
const coldStart = performance.now()
for (const r of requests) {
  const v = await check(r, plans)
  if (v === false || !('grant' in v)) throw new Error('cold check did not admit')
}
const coldUs = ((performance.now() - coldStart) * 1000) / TOKENS

// Warm-up, then the batch mean (cpu and wall) and individual timings for the percentiles.
for (let i = 0; i < 50_000; i++) void check(requests[i % TOKENS] as AdmissionRequest, plans)
const cpu0 = process.cpuUsage()
const t0 = performance.now()
for (let i = 0; i < ITERATIONS; i++) {
  const v = check(requests[i % TOKENS] as AdmissionRequest, plans)
  if (v instanceof Promise) throw new Error('a cache hit went async')
}
const wallUs = ((performance.now() - t0) * 1000) / ITERATIONS
const cpu = process.cpuUsage(cpu0)
const cpuUs = (cpu.user + cpu.system) / ITERATIONS
const samples = new Float64Array(ITERATIONS / 10)
for (let i = 0; i < samples.length; i++) {
  const s = performance.now()
  void check(requests[i % TOKENS] as AdmissionRequest, plans)
  samples[i] = (performance.now() - s) * 1000
}
samples.sort()
const pct = (p: number) =>
  (samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] as number).toFixed(2)
console.log(
  JSON.stringify({
    bench: 'token-check',
    tokens: TOKENS,
    iterations: ITERATIONS,
    hitMeanUs: Number(wallUs.toFixed(3)),
    hitCpuUs: Number(cpuUs.toFixed(3)),
    hitP50Us: Number(pct(0.5)),
    hitP99Us: Number(pct(0.99)),
    hitMaxUs: Number((samples[samples.length - 1] as number).toFixed(2)),
    missMeanUs: Number(coldUs.toFixed(1)),
    loadavg: loadavg().map((l) => Number(l.toFixed(2))),
  }),
)
