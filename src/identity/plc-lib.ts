import { createRequire } from 'node:module'
import type * as PlcLib from '@did-plc/lib'

let loaded: typeof PlcLib | undefined

/**
 * @did-plc/lib, loaded at the first PLC operation (account creation, the embedded directory)
 * instead of at start-up: with the axios it bundles it was about a tenth of a restart. It is
 * CommonJS, so a plain require loads it synchronously.
 */
export function plcLib(): typeof PlcLib {
  loaded ??= createRequire(import.meta.url)('@did-plc/lib') as typeof PlcLib
  return loaded
}
