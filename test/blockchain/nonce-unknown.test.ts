/**
 * A broadcast whose outcome is unknown (the node received the transaction, its answer was lost) keeps its
 * nonce: the next send must take nonce + 1, never the same nonce, or it would replace or collide with a
 * transaction that may be mined. Real anvil behind a loopback JSON-RPC relay that forwards the first
 * eth_sendRawTransaction and then drops the connection instead of answering.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import {
  ANVIL_LOCAL,
  createChain,
  loadSigner,
  secretFromEnv,
  type Chain,
} from '../../src/blockchain/index.ts'
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { FAST_RPC, FAST_TX, testDeps } from './support.ts'

let anvil: AnvilInstance
let relay: Server
let relayUrl: string
let dropped = 0
const chains: Chain[] = []
const SINK = '0x000000000000000000000000000000000000dEaD'

before(async () => {
  anvil = await startAnvil({ chainId: 31337 })
  relay = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      const isSend = body.includes('"eth_sendRawTransaction"')
      void fetch(anvil.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
        async (r) => {
          const answer = await r.text()
          if (isSend && dropped === 0) {
            dropped++
            req.socket.destroy() // delivered to the node, answer lost
            return
          }
          res.writeHead(r.status, { 'content-type': 'application/json' }).end(answer)
        },
      )
    })
  })
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r))
  relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`
})
after(async () => {
  await Promise.all(chains.map((c) => c.close()))
  relay.closeAllConnections()
  await new Promise<void>((r) => relay.close(() => r()))
  await anvil.stop()
})

void test('a broadcast with an unknown outcome keeps its nonce: the next send gets nonce + 1 and both are mined', async () => {
  const signer = await loadSigner({
    kind: 'mnemonic',
    phrase: secretFromEnv('TEST_MNEMONIC', ANVIL_MNEMONIC),
    index: 3,
  })
  const chain = createChain(
    {
      chain: {
        ...ANVIL_LOCAL,
        rpc: [{ name: 'relay', http: relayUrl }],
        confirmation: { tag: 'latest', confirmations: 1 },
      },
      rpc: FAST_RPC,
      tx: FAST_TX,
    },
    { ...testDeps(), signer },
  )
  chains.push(chain)
  await chain.start()
  const first = await chain.sender!.send({ to: SINK, value: 1n })
  assert.equal(dropped, 1, 'the first broadcast lost its answer')
  const second = await chain.sender!.send({ to: SINK, value: 2n })
  assert.equal(first.nonce, 0)
  assert.equal(second.nonce, 1, 'the nonce of the unknown broadcast was not handed out again')
  assert.equal((await first.wait({ timeoutMs: 10_000 })).status, 'success')
  assert.equal((await second.wait({ timeoutMs: 10_000 })).status, 'success')
  const count = await anvil.rpc<string>('eth_getTransactionCount', [signer.address, 'latest'])
  assert.equal(Number(count), 2)
})
