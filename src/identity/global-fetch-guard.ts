// Loading undici (which @atproto-labs/fetch-node does, for versions 6, 7 and 8) installs its
// own Agent as the process's global fetch dispatcher, in place of Node's: undici 8's then
// refuses requests Node's fetch accepts, such as one that sets its own Content-Length
// ("invalid content-length header", nodejs/undici#5500).
// This module is imported before fetch-node, so it sees the slots as they were; safe-fetch
// puts them back once fetch-node has loaded. Our own fetches name their dispatcher.
const SLOTS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')]
const slots = globalThis as unknown as Record<symbol, unknown>
// Node's own fetch sets its dispatcher when its undici first loads, which any fetch class
// triggers: load it now, so that what is recorded (and restored) is Node's dispatcher, whatever
// order the modules are evaluated in (a bundle's order is not the ESM loader's)
new Headers()
const before = SLOTS.map((slot) => slots[slot])

export function restoreGlobalFetchDispatcher(): void {
  SLOTS.forEach((slot, i) => {
    if (slots[slot] !== before[i]) slots[slot] = before[i]
  })
}
