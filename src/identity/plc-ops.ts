import { check } from '@atproto/common'
import { parseDidKey } from '@atproto/crypto'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type * as plc from '@did-plc/lib'
import { plcLib } from './plc-lib.js'

/** What a DID document should hold for an account served here (getRecommendedDidCredentials). */
export type DidCredentials = {
  rotationKeys: string[]
  alsoKnownAs: string[]
  verificationMethods: Record<string, string>
  services: Record<string, { type: string; endpoint: string }>
}

export const PDS_SERVICE_ID = 'atproto_pds'
export const PDS_SERVICE_TYPE = 'AtprotoPersonalDataServer'

/** A did:plc lists at most this many rotation keys (the PLC spec). */
const MAX_ROTATION_KEYS = 5

/** The handle an operation names: its first `at://` alias. */
export function handleOfOp(op: Pick<plc.UnsignedOperation, 'alsoKnownAs'>): string | undefined {
  return op.alsoKnownAs.find((aka) => aka.startsWith('at://'))?.slice('at://'.length)
}

/** Whether an operation keeps (or puts) the account on the PDS at `publicUrl`. */
export function opPointsAt(op: Pick<plc.UnsignedOperation, 'services'>, publicUrl: string): boolean {
  const pds = op.services[PDS_SERVICE_ID]
  return pds?.type === PDS_SERVICE_TYPE && pds.endpoint === publicUrl
}

function isDidKey(value: unknown): boolean {
  if (typeof value !== 'string') return false
  try {
    parseDidKey(value)
    return true
  } catch {
    return false
  }
}

/**
 * The fields a client asks signPlcOperation to change, checked and reduced to what a PLC
 * operation holds (an unknown field inside a service is dropped, not signed). Absent = keep.
 */
export function requestedChanges(input: {
  rotationKeys?: unknown
  alsoKnownAs?: unknown
  verificationMethods?: unknown
  services?: unknown
}): Partial<DidCredentials> {
  const out: Partial<DidCredentials> = {}
  if (input.rotationKeys !== undefined) {
    const keys = input.rotationKeys as unknown[]
    if (keys.length < 1 || keys.length > MAX_ROTATION_KEYS || !keys.every(isDidKey) || new Set(keys).size !== keys.length) {
      throw new InvalidRequestError(`rotationKeys must be 1 to ${MAX_ROTATION_KEYS} different did:key values`)
    }
    out.rotationKeys = keys as string[]
  }
  if (input.alsoKnownAs !== undefined) out.alsoKnownAs = input.alsoKnownAs as string[]
  if (input.verificationMethods !== undefined) {
    const methods = input.verificationMethods as Record<string, unknown>
    if (!Object.values(methods).every(isDidKey)) {
      throw new InvalidRequestError('verificationMethods must map names to did:key values')
    }
    out.verificationMethods = methods as Record<string, string>
  }
  if (input.services !== undefined) {
    const services: DidCredentials['services'] = {}
    for (const [id, svc] of Object.entries(input.services as Record<string, unknown>)) {
      const { type, endpoint } = (svc ?? {}) as { type?: unknown; endpoint?: unknown }
      if (typeof type !== 'string' || typeof endpoint !== 'string') {
        throw new InvalidRequestError(`services.${id} must have a string type and endpoint`)
      }
      services[id] = { type, endpoint }
    }
    out.services = services
  }
  return out
}

/** The next operation after `last` with `changes` applied, signed with `signer` (a rotation key). */
export async function signedUpdate(
  last: plc.CompatibleOp,
  signer: Parameters<typeof plc.createUpdateOp>[1],
  changes: Partial<DidCredentials>,
): Promise<plc.Operation> {
  const op = await plcLib().createUpdateOp(last, signer, (normalized) => ({ ...normalized, ...changes }))
  if (!check.is(op, plcLib().def.operation)) throw new InvalidRequestError('The requested changes do not make a valid PLC operation')
  return op
}

/** Refuses an operation that drops this server's rotation key: we could no longer change the DID. */
export function assertKeepsRotationKey(op: plc.Operation, rotationKey: string): void {
  if (!op.rotationKeys.includes(rotationKey)) {
    throw new InvalidRequestError("Rotation keys do not include server's rotation key")
  }
}

/** Refuses an operation that does not point the account at this server. */
export function assertPointsHere(op: plc.Operation, publicUrl: string): void {
  const pds = op.services[PDS_SERVICE_ID]
  if (pds?.type !== PDS_SERVICE_TYPE) throw new InvalidRequestError('Incorrect type on atproto_pds service')
  if (pds.endpoint !== publicUrl) throw new InvalidRequestError('Incorrect endpoint on atproto_pds service')
}

/**
 * Refuses an operation for an account served here that drops its repo signing key (its commits
 * would stop verifying) or names another handle first.
 */
export function assertKeepsAccount(op: plc.Operation, account: { signingKey: string; handle: string }): void {
  if (op.verificationMethods.atproto !== account.signingKey) throw new InvalidRequestError('Incorrect signing key')
  if (op.alsoKnownAs[0] !== `at://${account.handle}`) throw new InvalidRequestError('Incorrect handle in alsoKnownAs')
}
