import type { AccessOutput } from '../../auth/verifier.js'
import type { RateLimitCall, RateLimitSpec } from './spec.js'

/** What one record op costs against an account's write budget (as the reference counts). */
export const WRITE_POINTS = { create: 3, update: 2, delete: 1 } as const

/**
 * The repo write budgets (points per hour and per day, per account) a write method draws on,
 * charged `cost(call)` points before the write is done: a refused write changes nothing.
 */
export function repoWriteLimits(cost: (call: RateLimitCall<AccessOutput>) => number): RateLimitSpec<AccessOutput>[] {
  const key = ({ auth }: RateLimitCall<AccessOutput>) => auth.credentials.did
  return [
    { shared: 'repo-write-hour', key, cost },
    { shared: 'repo-write-day', key, cost },
  ]
}

const APPLY_WRITES_POINTS: Record<string, number> = {
  'com.atproto.repo.applyWrites#create': WRITE_POINTS.create,
  'com.atproto.repo.applyWrites#update': WRITE_POINTS.update,
  'com.atproto.repo.applyWrites#delete': WRITE_POINTS.delete,
}

/** applyWrites costs the sum of its ops. */
export function applyWritesPoints({ input }: RateLimitCall<AccessOutput>): number {
  const writes = (input?.body as { writes?: { $type?: string }[] } | undefined)?.writes ?? []
  let points = 0
  for (const w of writes) points += APPLY_WRITES_POINTS[w.$type ?? ''] ?? WRITE_POINTS.create
  return points
}
