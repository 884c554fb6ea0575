import { createHash } from 'node:crypto'
import { Secp256k1Keypair, SECP256K1_JWT_ALG } from '@atproto/crypto'
import secp256k1 from 'secp256k1'

// secp256k1 group order n and n/2, for low-S normalisation
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const HALF_N = N >> 1n

function lowS(sig: Uint8Array): Uint8Array {
  // a top byte below 0x7f puts s under 0x7f·2^248 < n/2 (libsecp256k1 always gives low-S)
  if (sig[32]! < 0x7f) return sig
  const s = BigInt('0x' + Buffer.from(sig.subarray(32, 64)).toString('hex'))
  if (s <= HALF_N) return sig
  const out = new Uint8Array(64)
  out.set(sig.subarray(0, 32), 0)
  out.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), 32)
  return out
}

/**
 * An account's secp256k1 repo signing key. Signs with libsecp256k1 (the `secp256k1` package's
 * native binding; about 7x faster here than the pure-JS signer) and always returns the 64-byte
 * compact low-S form atproto requires. Satisfies @atproto/crypto's Keypair interface, so
 * @atproto/repo can use it.
 */
export class SigningKey {
  readonly jwtAlg = SECP256K1_JWT_ALG
  private constructor(
    private readonly privateKey: Uint8Array,
    private readonly didKey: string,
  ) {}

  static async fromPrivateKey(privateKey: Uint8Array): Promise<SigningKey> {
    const kp = await Secp256k1Keypair.import(privateKey, { exportable: true })
    return new SigningKey(new Uint8Array(privateKey), kp.did())
  }

  static async generate(): Promise<SigningKey> {
    const kp = await Secp256k1Keypair.create({ exportable: true })
    return SigningKey.fromPrivateKey(await kp.export())
  }

  did(): string {
    return this.didKey
  }

  exportPrivateKey(): Uint8Array {
    return this.privateKey
  }

  async sign(msg: Uint8Array): Promise<Uint8Array> {
    return this.signSync(msg)
  }

  signSync(msg: Uint8Array): Uint8Array {
    const hash = createHash('sha256').update(msg).digest()
    return lowS(secp256k1.ecdsaSign(hash, this.privateKey).signature)
  }
}
