/** Test-only access to a dev account's signing key outside the sender (simulates another key holder). */
import { mnemonicToAccount } from 'viem/accounts'

export function accountFromMnemonicForTest(mnemonic: string, index: number) {
  return mnemonicToAccount(mnemonic, { addressIndex: index })
}
