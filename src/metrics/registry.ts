// Counters, gauges and histograms, written in the Prometheus text exposition format (0.0.4):
// https://prometheus.io/docs/instrumenting/exposition_formats/. Small enough to keep by hand
// (prom-client is not a dependency); tests/metrics.test.ts parses what it writes.

export type Labels = Record<string, string>

/** A metric family: its samples as text lines (no HELP/TYPE header). */
interface Family {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge' | 'histogram'
  lines(): string[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

export function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Infinity) return '+Inf'
  if (n === -Infinity) return '-Inf'
  return String(n)
}

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i]!)}"`)
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

function checkNames(name: string, labelNames: readonly string[]) {
  if (!NAME.test(name)) throw new Error(`bad metric name ${name}`)
  for (const l of labelNames) if (!LABEL_NAME.test(l) || l.startsWith('__') || l === 'le') throw new Error(`bad label name ${l}`)
}

/** Label values in `labelNames` order, as one map key. */
function keyOf(labelNames: readonly string[], labels: Labels | undefined): { key: string; values: string[] } {
  const values = labelNames.map((n) => {
    const v = labels?.[n]
    if (v === undefined) throw new Error(`label ${n} missing`)
    return v
  })
  return { key: values.join('\u0000'), values }
}

export class Counter implements Family {
  readonly type = 'counter'
  private readonly series = new Map<string, { values: string[]; n: number }>()

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[] = [],
  ) {
    checkNames(name, labelNames)
  }

  inc(labels?: Labels, by = 1): void {
    const { key, values } = keyOf(this.labelNames, labels)
    const s = this.series.get(key)
    if (s) s.n += by
    else this.series.set(key, { values, n: by })
  }

  lines(): string[] {
    return [...this.series.values()].map((s) => `${this.name}${labelText(this.labelNames, s.values)} ${formatValue(s.n)}`)
  }
}

/** A value read when scraped: one number, or one per label set. */
export class Gauge implements Family {
  readonly type = 'gauge'

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | [Labels, number][],
    private readonly labelNames: readonly string[] = [],
  ) {
    checkNames(name, labelNames)
  }

  lines(): string[] {
    const v = this.read()
    if (typeof v === 'number') return [`${this.name} ${formatValue(v)}`]
    return v.map(([labels, n]) => `${this.name}${labelText(this.labelNames, keyOf(this.labelNames, labels).values)} ${formatValue(n)}`)
  }
}

/** Like a gauge, read when scraped, but a value that only grows (CPU seconds). */
export class CounterReading implements Family {
  readonly type = 'counter'

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {
    checkNames(name, [])
  }

  lines(): string[] {
    return [`${this.name} ${formatValue(this.read())}`]
  }
}

export class Histogram implements Family {
  readonly type = 'histogram'
  private readonly counts: number[]
  private sum = 0
  private count = 0

  /** `buckets`: upper bounds, ascending; +Inf is added */
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {
    checkNames(name, [])
    for (let i = 1; i < buckets.length; i++) if (!(buckets[i]! > buckets[i - 1]!)) throw new Error('histogram buckets must ascend')
    this.counts = buckets.map(() => 0)
  }

  observe(value: number): void {
    this.sum += value
    this.count++
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]!++
  }

  lines(): string[] {
    const out = this.buckets.map((le, i) => `${this.name}_bucket{le="${formatValue(le)}"} ${this.counts[i]}`)
    out.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${formatValue(this.sum)}`, `${this.name}_count ${this.count}`)
    return out
  }
}

export class MetricsRegistry {
  private readonly families: Family[] = []

  add<F extends Family>(family: F): F {
    if (this.families.some((f) => f.name === family.name)) throw new Error(`metric ${family.name} registered twice`)
    this.families.push(family)
    return family
  }

  /** Every family with its HELP and TYPE lines, in the order they were added. */
  render(): string {
    let out = ''
    for (const f of this.families) {
      out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`
      for (const line of f.lines()) out += line + '\n'
    }
    return out
  }
}
