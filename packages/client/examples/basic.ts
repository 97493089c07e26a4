import { createWalletClient, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { anvil } from 'viem/chains'
import {
  createLitgateFetch,
  ChainUnavailableError,
  InsufficientBalanceError,
  PaymentNotConfirmedError,
  QuoteExpiredError,
} from '@litgate/client'

const wallet = createWalletClient({
  account: privateKeyToAccount(process.env.BUYER_KEY as `0x${string}`),
  chain: anvil, // the chain the gateway sells on
  transport: http('http://127.0.0.1:8545'),
})

const paidFetch = createLitgateFetch({
  gateway: 'http://127.0.0.1:8080',
  wallet,
  plan: 'pro',
  payWith: '0x5FbDB2315678afecb367f032d93F642f64180aa3', // optional: the plan's first token by default
  onEvent: (e) => console.log(e.type, 'txHash' in e ? e.txHash : ''),
})

try {
  const res = await paidFetch('http://127.0.0.1:8080/api/data') // 402 → quote → pay → token → 200
  console.log(res.status, await res.json())
  const again = await paidFetch('http://127.0.0.1:8080/api/more') // Bearer sent up front, no payment
  console.log(again.status)
} catch (err) {
  if (err instanceof InsufficientBalanceError) console.error(`fund ${err.payer}: ${err.required} needed`)
  else if (err instanceof ChainUnavailableError) console.error('gateway cannot reach its chain, try later')
  else if (err instanceof QuoteExpiredError) console.error('quote expired before it was paid')
  else if (err instanceof PaymentNotConfirmedError) console.error(`paid (${err.txHash}), not active yet`)
  else throw err
}
