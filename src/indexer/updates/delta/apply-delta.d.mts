/** Applies a delta patch to the old file, handing the new file's bytes to `write` in order (apply-delta.mjs). */
export function applyDelta(oldPath: string, patchPath: string, write: (chunk: Buffer) => Promise<void> | void): Promise<{ size: number }>
/** Applies a patch and hashes the result without storing it. */
export function hashPatched(oldPath: string, patchPath: string): Promise<{ size: number; sha256: string }>
