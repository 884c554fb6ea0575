import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Counter, CounterReading, Gauge, Histogram, MetricsRegistry } from './registry.js'

/** What the metrics read from the running server when scraped. */
export type MetricSources = {
  version: string
  /** subscribeRepos connections (replaying or live) */
  firehoseSubscribers(): number
  /** the SQLite database file and its write-ahead log, in bytes */
  databaseFiles(): { main: number; wal: number }
  /** bytes of every blob stored */
  blobBytes(): number
}

/** Seconds; commits are ~1 ms alone, tens of ms under load, and a 200-write batch more. */
const COMMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Carrel's metrics, named and described once. Requests are counted by XRPC method (or web path)
 * and status; a commit is timed from the write path's first hook check (the repo lock held,
 * swaps checked) until its #commit event is published after COMMIT.
 */
export class CarrelMetrics {
  readonly registry = new MetricsRegistry()
  private readonly requests: Counter
  private readonly commitDuration: Histogram
  private readonly events: Counter
  /** when each DID's commit under way started (one at a time per DID: the write path's lock) */
  private readonly commitStarts = new Map<string, bigint>()
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 })

  constructor(sources: MetricSources) {
    const r = this.registry
    r.add(new Gauge('carrel_info', 'Carrel version (always 1).', () => [[{ version: sources.version }, 1]], ['version']))
    this.requests = r.add(
      new Counter(
        'carrel_requests_total',
        'HTTP requests answered, by XRPC method (or web path) and status; status "aborted" when the connection closed before the answer ended.',
        ['method', 'status'],
      ),
    )
    this.commitDuration = r.add(
      new Histogram('carrel_commit_duration_seconds', 'Repo commits, from the write lock to the published #commit event (after COMMIT).', COMMIT_BUCKETS),
    )
    r.add(new Gauge('carrel_firehose_subscribers', 'subscribeRepos connections open now.', () => sources.firehoseSubscribers()))
    this.events = r.add(
      new Counter('carrel_firehose_events_total', 'Events sequenced for the firehose, by type (events per second: rate() of this).', ['type']),
    )
    r.add(
      new Gauge(
        'carrel_database_bytes',
        'Size of the SQLite database file and of its write-ahead log.',
        () => {
          const f = sources.databaseFiles()
          return [
            [{ file: 'main' }, f.main],
            [{ file: 'wal' }, f.wal],
          ]
        },
        ['file'],
      ),
    )
    r.add(new Gauge('carrel_blob_bytes', 'Bytes of the blobs stored (temporary uploads included).', () => sources.blobBytes()))
    r.add(new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss()))
    r.add(new Gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', () => process.memoryUsage().heapUsed))
    r.add(
      new CounterReading('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', () => {
        const { user, system } = process.cpuUsage()
        return (user + system) / 1e6
      }),
    )
    const started = Math.round(Date.now() / 1000 - process.uptime())
    r.add(new Gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', () => started))
    this.loopDelay.enable()
    r.add(
      new Gauge(
        'carrel_event_loop_delay_seconds',
        'Event loop delay since the previous scrape (p99 and max): how long a synchronous step (a transaction, a big answer) held every request up.',
        () => {
          const d = this.loopDelay
          const out: [Record<string, string>, number][] = [
            [{ stat: 'p99' }, d.count > 0 ? d.percentile(99) / 1e9 : 0],
            [{ stat: 'max' }, d.count > 0 ? d.max / 1e9 : 0],
          ]
          d.reset()
          return out
        },
        ['stat'],
      ),
    )
  }

  request(method: string, status: string): void {
    this.requests.inc({ method, status })
  }

  commitStarted(did: string): void {
    this.commitStarts.set(did, process.hrtime.bigint())
  }

  eventSequenced(type: string, did: string): void {
    this.events.inc({ type: type.startsWith('#') ? type.slice(1) : type })
    if (type !== '#commit') return
    const start = this.commitStarts.get(did)
    if (start === undefined) return // a repo's first commit (createAccount) or an import: not timed
    this.commitStarts.delete(did)
    this.commitDuration.observe(Number(process.hrtime.bigint() - start) / 1e9)
  }

  render(): string {
    return this.registry.render()
  }

  close(): void {
    this.loopDelay.disable()
  }
}
