// Loading undici (which @atproto-labs/fetch-node does, for versions 6, 7 and 8) installs its
// own Agent as the process's global fetch dispatcher, in place of Node's: undici 8's then
// refuses requests Node's fetch accepts, such as one that sets its own Content-Length
// ("invalid content-length header", nodejs/undici#5500). Our own outbound fetches name their
// dispatcher; everything else must keep Node's.
const SLOTS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')]
const slots = globalThis as unknown as Record<symbol, unknown>

/** Runs `load` (synchronously, so no fetch can start in between) and puts the global dispatchers back. */
export function keepingGlobalFetchDispatcher<T>(load: () => T): T {
  // Node's own fetch sets its dispatcher when its undici first loads, which any fetch class
  // triggers: load it now, so that what is recorded (and restored) is Node's dispatcher
  new Headers()
  const before = SLOTS.map((slot) => slots[slot])
  try {
    return load()
  } finally {
    SLOTS.forEach((slot, i) => {
      if (slots[slot] !== before[i]) slots[slot] = before[i]
    })
  }
}
