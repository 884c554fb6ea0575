import { createPrivateKey, sign, type KeyObject } from 'node:crypto'
import { Secp256k1Keypair, SECP256K1_JWT_ALG } from '@atproto/crypto'

// secp256k1 group order n and n/2, for low-S normalisation
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const HALF_N = N >> 1n

function toBigInt(bytes: Uint8Array): bigint {
  return BigInt('0x' + Buffer.from(bytes).toString('hex'))
}

function toBytes32(n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(64, '0'), 'hex')
}

/**
 * An account's secp256k1 repo signing key. Signs with node:crypto (native OpenSSL, several
 * times faster than the pure-JS signer) and normalises to the low-S compact form that atproto
 * requires. Satisfies @atproto/crypto's Keypair interface, so @atproto/repo can use it.
 */
export class SigningKey {
  readonly jwtAlg = SECP256K1_JWT_ALG
  private constructor(
    private readonly keyObject: KeyObject,
    private readonly didKey: string,
    private readonly privateKey: Uint8Array,
  ) {}

  static async fromPrivateKey(privateKey: Uint8Array): Promise<SigningKey> {
    const kp = await Secp256k1Keypair.import(privateKey, { exportable: true })
    const keyObject = createPrivateKey({
      key: Buffer.concat([
        // SEC1 ECPrivateKey DER for secp256k1: SEQUENCE { 1, OCTET STRING d, [0] OID secp256k1 }
        Buffer.from('302e0201010420', 'hex'),
        Buffer.from(privateKey),
        Buffer.from('a00706052b8104000a', 'hex'),
      ]),
      format: 'der',
      type: 'sec1',
    })
    return new SigningKey(keyObject, kp.did(), privateKey)
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
    const sig = sign('sha256', msg, { key: this.keyObject, dsaEncoding: 'ieee-p1363' })
    const s = toBigInt(sig.subarray(32, 64))
    if (s <= HALF_N) return new Uint8Array(sig)
    return new Uint8Array(Buffer.concat([sig.subarray(0, 32), toBytes32(N - s)]))
  }
}
