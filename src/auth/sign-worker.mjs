// Runs in a worker thread: signs service-auth tokens ahead of the calls that will use them
// (service-token-mint.ts), so that a proxied call does not spend its ~45 us of secp256k1 on the
// main thread. Plain JavaScript with no loader, like the checkpoint worker. The signature is
// the one SigningKey.signSync makes: libsecp256k1 over the SHA-256 of the input, RFC 6979 nonces,
// always low-S (tests/service-token-mint.test.ts compares the two byte for byte).
import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import secp256k1 from 'secp256k1'

parentPort.on('message', ({ id, key, inputs }) => {
  const sigs = inputs.map((input) => secp256k1.ecdsaSign(createHash('sha256').update(input).digest(), key).signature)
  parentPort.postMessage({ id, sigs })
})
