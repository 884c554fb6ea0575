export type DeltaOptions = { segmentBytes: number; dictionaryBytes: number; level: number; hashLog: number; chainLog: number }
export const DEFAULT_DELTA_OPTIONS: Readonly<DeltaOptions>
/** Writes to `outPath` (a new file) a patch that turns `oldPath` into `newPath` (make-delta.mjs). */
export function makeDelta(
  oldPath: string,
  newPath: string,
  outPath: string,
  options?: Partial<DeltaOptions>,
): Promise<{ size: number; segments: number; oldSize: number; newSize: number }>
