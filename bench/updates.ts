// npm run bench -- updates: app updates against the compiled server in a child process.
// - checkForUpdates: one publisher with 1,000 releases across 10 products (3 platforms each, a
//   delta from the previous version, some betas, pre-releases, yanked and staged releases),
//   asked by random devices (product, version, platform, arch, channel, device id) one at a time,
//   once the server is idle; bar p99 <= 5 ms; also the server's CPU time per request and the
//   machine's load, which the p99 follows on a shared machine;
// - createDelta of a ~50 MB artifact with 1 % of it changed (tests/_update-artifacts.ts: a tarball
//   of native executables, addons and bundles; edits that overwrite and insert bytes of other real
//   files): time and patch size (bar <= 5 % of the artifact), the server's RSS growth and the delta
//   worker's peak RSS (bar: growth <= 100 MB, counting the whole worker process as growth);
// - the codec candidates on the same 50 MB pair, a program build (two V8 startup snapshots of a
//   small program) and a source tarball with 3 files edited: this server's segmented zstd at three
//   levels, one zstd frame with the whole old file as dictionary (what Node's zlib offers for
//   "patch from"), and the zstd CLI's --patch-from when `zstd` is on PATH. Each runs in a process
//   of its own; peak RSS is that process's.
// Figures are medians over RUNS runs. BENCH_RUNS (3), BENCH_REQUESTS (2000 checkForUpdates per
// run), BENCH_ARTIFACT_MB (50), BENCH_CANDIDATES (1; 0 skips the codec comparison).
import { fork, spawn, spawnSync } from 'node:child_process'
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { mulberry32 } from '../tests/_random-data.ts'
import { largeArtifacts, programBuilds, sourceTarballs } from '../tests/_update-artifacts.ts'
import { artifact, RELEASE, type BlobJson, type Uploaded } from '../tests/_updates.ts'
import { request, xrpcPost } from './_client.ts'
import { createAccount, median, percentile, readStatusKb, startBenchServer, type BenchServer, type Session } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000)
const ARTIFACT_MB = Number(process.env.BENCH_ARTIFACT_MB ?? 50)
const CANDIDATES = process.env.BENCH_CANDIDATES !== '0'
const WORKER = join(import.meta.dirname, '..', 'src', 'indexer', 'updates', 'delta', 'delta-worker.mjs')

/** uploadBlob of a file, streamed from disk. */
function uploadFile(url: string, token: string, path: string): Promise<Uploaded> {
  const size = statSync(path).size
  return new Promise((resolve, reject) => {
    const u = new URL(`${url}/xrpc/com.atproto.repo.uploadBlob`)
    const req = http.request(
      { host: '127.0.0.1', port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString()
          if (res.statusCode !== 200) return reject(new Error(`uploadBlob: ${res.statusCode} ${body}`))
          const blob = (JSON.parse(body) as { blob: BlobJson }).blob
          // a blob's CID is the SHA-256 of its bytes
          resolve({ blob, sha256: Buffer.from(CID.parse(blob.ref.$link).multihash.digest).toString('hex'), size })
        })
      },
    )
    req.on('error', reject)
    createReadStream(path).pipe(req)
  })
}

/** 1,000 releases: 10 products x 100 versions. */
async function publishCatalogue(url: string, s: Session, files: Uploaded[]): Promise<{ products: string[]; versions: string[] }> {
  const products = Array.from({ length: 10 }, (_, i) => `product-${i}`)
  const versions: string[] = []
  for (let i = 0; i < 100; i++) versions.push(i % 10 === 9 ? `1.${Math.floor(i / 10)}.${i % 10}-beta.1` : `1.${Math.floor(i / 10)}.${i % 10}`)
  const writes = products.flatMap((product) =>
    versions.map((version, i) => ({
      $type: 'com.atproto.repo.applyWrites#create',
      collection: RELEASE,
      rkey: `${product}:${version}`,
      value: {
        $type: RELEASE,
        product,
        version,
        channel: version.includes('beta') ? 'beta' : 'stable',
        updateType: i % 25 === 0 ? 'major' : 'minor',
        priority: i % 5,
        changelog: `Changes in ${version}: faster search, fixes.`,
        artifacts: [artifact(files[0]!, 'linux', 'x64'), artifact(files[1]!, 'windows', 'x64'), artifact(files[2]!, 'macos', 'universal')],
        deltas: i > 0 ? [{ fromVersion: versions[i - 1], platform: 'linux', arch: 'x64', format: 'carrel-zstd-segments-1', blob: files[2]!.blob, sha256: files[2]!.sha256, size: files[2]!.size }] : [],
        rollbackSupported: i % 3 === 0,
        rolloutPercent: i % 7 === 0 ? 50 : 100,
        yanked: i % 20 === 13,
        publishedAt: new Date().toISOString(),
      },
    })),
  )
  for (let i = 0; i < writes.length; i += 200) await xrpcPost(url, 'com.atproto.repo.applyWrites', s.accessJwt, { repo: s.did, writes: writes.slice(i, i + 200) })
  return { products, versions }
}

/**
 * Waits (at most 15 s) until the server has used under 10 ms of CPU in half a second: what the
 * catalogue's writes and the previous run's createDelta leave behind (WAL checkpoints, collections
 * of their garbage) is not checkForUpdates' latency. Returns how long it waited.
 */
async function serverIdle(server: BenchServer): Promise<number> {
  const started = performance.now()
  while (performance.now() - started < 15_000) {
    const before = server.cpuMs()
    await new Promise((r) => setTimeout(r, 500))
    if (server.cpuMs() - before < 10) break
  }
  return performance.now() - started
}

/**
 * Latencies of checkForUpdates, one request at a time, and the server's CPU time per request: on
 * the shared machine the p99 follows the load of other processes (also printed), the CPU time
 * hardly does.
 */
async function checkLatencies(
  server: BenchServer,
  did: string,
  products: string[],
  versions: string[],
): Promise<{ p50: number; p99: number; updates: number; cpuUs: number; load: number; idleWaitMs: number }> {
  const url = server.url
  // mulberry32: the low bits of a power-of-two LCG repeat with short periods, which tied each
  // platform to one arch and left some combinations (windows/arm64: no artifact) never asked
  const next = mulberry32(42)
  const rand = (n: number) => Math.floor(next() * n)
  const query = () =>
    new URLSearchParams({
      publisher: did,
      product: products[rand(products.length)]!,
      platform: ['linux', 'windows', 'macos'][rand(3)]!,
      arch: ['x64', 'arm64'][rand(2)]!,
      currentVersion: versions[rand(versions.length)]!,
      channel: rand(5) === 0 ? 'beta' : 'stable',
      device: `device-${rand(100000)}`,
    })
  const idleWaitMs = await serverIdle(server)
  for (let i = 0; i < 200; i++) await request(`${url}/xrpc/app.carrel.update.checkForUpdates?${query()}`) // warm-up
  const samples: number[] = []
  let updates = 0
  const cpuBefore = server.cpuMs()
  for (let i = 0; i < REQUESTS; i++) {
    const q = query()
    const t = performance.now()
    const res = await request(`${url}/xrpc/app.carrel.update.checkForUpdates?${q}`)
    samples.push(performance.now() - t)
    if (res.status !== 200) throw new Error(`checkForUpdates: ${res.status} ${res.body.toString()}`)
    if (res.body.includes('"status":"update"')) updates++
  }
  const cpuUs = ((server.cpuMs() - cpuBefore) * 1000) / REQUESTS
  samples.sort((a, b) => a - b)
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), updates, cpuUs, load: loadavg()[0]!, idleWaitMs }
}

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, 'utf8')
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid
      } catch {
        return false
      }
    })
    .map(Number)
}

/** createDelta of the large pair through the server: time, patch size, RSS of the server and of its delta worker. */
async function createDeltaRun(server: BenchServer, s: Session, files: { v1: string; v2: string }, run: number) {
  const up1 = await uploadFile(server.url, s.accessJwt, files.v1)
  const up2 = await uploadFile(server.url, s.accessJwt, files.v2)
  const product = `big-${run}`
  for (const [version, f, rollout] of [['1.0.0', up1, 100], ['1.0.1', up2, 0]] as const) {
    await xrpcPost(server.url, 'com.atproto.repo.putRecord', s.accessJwt, {
      repo: s.did,
      collection: RELEASE,
      rkey: `${product}:${version}`,
      record: { $type: RELEASE, product, version, channel: 'stable', updateType: 'minor', rolloutPercent: rollout, artifacts: [artifact(f, 'linux', 'x64')], publishedAt: new Date().toISOString() },
    })
  }
  // the server's peak RSS from here on (writing 5 to clear_refs resets VmHWM)
  try {
    writeFileSync(`/proc/${server.pid}/clear_refs`, '5')
  } catch {
    // not allowed here: the peak then covers the whole run so far
  }
  const before = server.rss().currentMb
  let workerPeakKb = 0
  const poll = setInterval(() => {
    for (const pid of childrenOf(server.pid)) workerPeakKb = Math.max(workerPeakKb, readStatusKb(pid, 'VmHWM'))
  }, 10)
  const t = performance.now()
  const delta = await xrpcPost(server.url, 'app.carrel.update.createDelta', s.accessJwt, {
    release: `at://${s.did}/${RELEASE}/${product}:1.0.1`,
    fromVersion: '1.0.0',
    platform: 'linux',
    arch: 'x64',
  })
  const ms = performance.now() - t
  clearInterval(poll)
  return { ms, size: delta.size as number, artifactSize: up2.size, serverGrowthMb: server.rss().peakMb - before, workerPeakMb: workerPeakKb / 1024 }
}

type Measured = { ms: number; size: number; peakMb: number; ok: boolean }

/** Runs a command, sampling its peak RSS (VmHWM) until it exits. */
function measured(cmd: string, args: string[]): Promise<{ ms: number; peakMb: number; code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t = performance.now()
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] })
    let peak = 0
    let stdout = ''
    child.stdout.on('data', (d) => (stdout += d))
    const poll = setInterval(() => (peak = Math.max(peak, readStatusKb(child.pid!, 'VmHWM'))), 5)
    child.on('error', reject)
    child.on('close', (code) => {
      clearInterval(poll)
      resolve({ ms: performance.now() - t, peakMb: peak / 1024, code, stdout })
    })
  })
}

const sha256File = (path: string) => spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0]

/** This server's codec with `options`, through its worker (which measures its own peak RSS). */
async function segmented(oldPath: string, newPath: string, out: string, options: Record<string, number>): Promise<Measured> {
  const child = fork(WORKER, [], { execArgv: ['--expose-gc'], env: { ...process.env, MALLOC_ARENA_MAX: '1' }, serialization: 'json' })
  const t = performance.now()
  const reply = await new Promise<any>((resolve) => {
    child.once('message', resolve)
    child.send({ oldPath, newPath, outPath: out, options })
  })
  const ms = performance.now() - t
  await new Promise((r) => child.once('exit', r))
  if (!reply.ok) throw new Error(reply.error)
  return { ms, size: reply.size, peakMb: reply.peakRssBytes / 1048576, ok: reply.result.sha256 === sha256File(newPath) }
}

/** One zstd frame, the whole old file as dictionary, long-distance matching: patch-from as Node's zlib offers it. */
async function wholeFileDictionary(oldPath: string, newPath: string, out: string, level: number): Promise<Measured> {
  const script = `
const z = require('zlib'), fs = require('fs'), C = z.constants
const old = fs.readFileSync(${JSON.stringify(oldPath)}), nw = fs.readFileSync(${JSON.stringify(newPath)})
const p = z.zstdCompressSync(nw, { dictionary: old, pledgedSrcSize: nw.length, params: { [C.ZSTD_c_compressionLevel]: ${level}, [C.ZSTD_c_windowLog]: 27, [C.ZSTD_c_enableLongDistanceMatching]: 1 } })
fs.writeFileSync(${JSON.stringify(out)}, p)
const back = z.zstdDecompressSync(p, { dictionary: old, params: { [C.ZSTD_d_windowLogMax]: 27 } })
console.log(back.equals(nw) ? 'ok' : 'wrong')`
  const r = await measured(process.execPath, ['-e', script])
  return { ms: r.ms, size: statSync(out).size, peakMb: r.peakMb, ok: r.stdout.trim() === 'ok' }
}

/** The zstd CLI's --patch-from (long mode, single thread), and its apply to check it. */
async function zstdCli(oldPath: string, newPath: string, out: string, level: number): Promise<Measured> {
  const r = await measured('zstd', ['-q', '-f', '-T1', `-${level}`, `--patch-from=${oldPath}`, newPath, '-o', out])
  if (r.code !== 0) throw new Error('zstd --patch-from failed')
  const back = `${out}.back`
  spawnSync('zstd', ['-q', '-f', '-d', '--long=31', `--patch-from=${oldPath}`, out, '-o', back])
  const ok = sha256File(back) === sha256File(newPath)
  rmSync(back, { force: true })
  return { ms: r.ms, size: statSync(out).size, peakMb: r.peakMb, ok }
}

export default async function run(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'carrel-bench-updates-'))
  const server = await startBenchServer({ PDS_BLOB_UPLOAD_LIMIT: String((ARTIFACT_MB + 20) * 1024 * 1024) })
  try {
    const large = largeArtifacts(work, ARTIFACT_MB * 1024 * 1024, 0.01)
    const s = await createAccount(server.url, 'updatesbench')
    const small = []
    for (let i = 0; i < 3; i++) {
      const path = join(work, `small-${i}`)
      writeFileSync(path, Buffer.alloc(10_000 + i, i))
      small.push(await uploadFile(server.url, s.accessJwt, path))
    }
    const { products, versions } = await publishCatalogue(server.url, s, small)
    const checks = []
    const deltas = []
    for (let r = 0; r < RUNS; r++) {
      checks.push(await checkLatencies(server, s.did, products, versions))
      deltas.push(await createDeltaRun(server, s, large, r))
    }
    const med = <T>(xs: T[], pick: (x: T) => number) => median(xs.map(pick))
    const check = { p50: med(checks, (x) => x.p50), p99: med(checks, (x) => x.p99), updates: med(checks, (x) => x.updates), cpuUs: med(checks, (x) => x.cpuUs) }
    const delta = {
      ms: med(deltas, (x) => x.ms),
      size: med(deltas, (x) => x.size),
      artifactSize: deltas[0]!.artifactSize,
      serverGrowthMb: med(deltas, (x) => x.serverGrowthMb),
      workerPeakMb: med(deltas, (x) => x.workerPeakMb),
    }
    const patchPercent = (100 * delta.size) / delta.artifactSize
    const growthMb = delta.serverGrowthMb + delta.workerPeakMb
    console.log(`\napp.carrel.update.* (medians of ${RUNS} runs; server in a child process)`)
    console.log(`checkForUpdates, 1,000 releases in 10 products: p50 ${check.p50.toFixed(2)} ms, p99 ${check.p99.toFixed(2)} ms (bar p99 <= 5 ms); ${check.updates} of ${REQUESTS} answers offered an update`)
    const each = <T>(xs: T[], pick: (x: T) => number, digits: number) => xs.map((x) => pick(x).toFixed(digits)).join(' / ')
    console.log(`  server CPU ${check.cpuUs.toFixed(0)} µs per request`)
    console.log(
      `  per run: p50 ${each(checks, (x) => x.p50, 2)} ms; p99 ${each(checks, (x) => x.p99, 2)} ms; server CPU ${each(checks, (x) => x.cpuUs, 0)} µs/request; ` +
        `machine load (1 min, ${cpus().length} cores) ${each(checks, (x) => x.load, 1)}; waited for the server to be idle ${each(checks, (x) => x.idleWaitMs / 1000, 1)} s`,
    )
    console.log(
      `createDelta, ${(delta.artifactSize / 1e6).toFixed(1)} MB artifact, 1 % changed: ${(delta.ms / 1000).toFixed(2)} s, patch ${(delta.size / 1e3).toFixed(0)} kB = ${patchPercent.toFixed(2)} % (bar <= 5 %); ` +
        `server RSS +${delta.serverGrowthMb.toFixed(0)} MB, delta worker peak ${delta.workerPeakMb.toFixed(0)} MB, together ${growthMb.toFixed(0)} MB (bar <= 100 MB)`,
    )
    console.log(
      `  per run: ${each(deltas, (x) => x.ms / 1000, 2)} s; patch ${each(deltas, (x) => x.size / 1e3, 0)} kB; ` +
        `server RSS +${each(deltas, (x) => x.serverGrowthMb, 0)} MB; worker peak ${each(deltas, (x) => x.workerPeakMb, 0)} MB`,
    )

    const candidates: Record<string, Record<string, Measured & { pct: number }>> = {}
    if (CANDIDATES) {
      const pairs = { 'program build': programBuilds(work), 'source tarball': sourceTarballs(work), [`${ARTIFACT_MB} MB tarball`]: large }
      const zstdOnPath = spawnSync('zstd', ['--version']).status === 0
      const kinds: [string, (o: string, n: string, out: string) => Promise<Measured>][] = [
        ['segmented zstd -3 (carrel)', (o, n, out) => segmented(o, n, out, { level: 3 })],
        ['segmented zstd -9 (carrel, default)', (o, n, out) => segmented(o, n, out, {})],
        ['segmented zstd -19 (carrel)', (o, n, out) => segmented(o, n, out, { level: 19, chainLog: 22 })],
        ['one frame, whole-file dictionary -3 (node zlib)', (o, n, out) => wholeFileDictionary(o, n, out, 3)],
        ...(zstdOnPath
          ? ([
              ['zstd CLI --patch-from -3', (o, n, out) => zstdCli(o, n, out, 3)],
              ['zstd CLI --patch-from -19', (o, n, out) => zstdCli(o, n, out, 19)],
            ] as [string, (o: string, n: string, out: string) => Promise<Measured>][])
          : []),
      ]
      for (const [pairName, pair] of Object.entries(pairs)) {
        const newSize = statSync(pair.v2).size
        candidates[pairName] = {}
        for (const [name, make] of kinds) {
          const results: Measured[] = []
          for (let r = 0; r < RUNS; r++) {
            const out = join(work, `candidate-${r}`)
            rmSync(out, { force: true })
            results.push(await make(pair.v1, pair.v2, out))
            rmSync(out, { force: true })
          }
          const m = { ms: median(results.map((x) => x.ms)), size: median(results.map((x) => x.size)), peakMb: median(results.map((x) => x.peakMb)), ok: results.every((x) => x.ok) }
          candidates[pairName]![name] = { ...m, pct: (100 * m.size) / newSize }
        }
        console.log(`\ncodec candidates, ${pairName} (${(newSize / 1e6).toFixed(1)} MB new file; time and peak RSS of the process that makes the patch; carrel's rows include applying it to check it)`)
        console.log(`${'codec'.padEnd(48)}${'patch'.padStart(12)}${'%'.padStart(8)}${'time'.padStart(10)}${'peak RSS'.padStart(11)}  applies`)
        for (const [name, c] of Object.entries(candidates[pairName]!)) {
          console.log(
            `${name.padEnd(48)}${`${(c.size / 1e3).toFixed(1)} kB`.padStart(12)}${c.pct.toFixed(2).padStart(8)}${`${(c.ms / 1000).toFixed(2)} s`.padStart(10)}${`${c.peakMb.toFixed(0)} MB`.padStart(11)}  ${c.ok ? 'yes' : 'NO'}`,
          )
        }
      }
    }
    console.log(
      JSON.stringify({
        bench: 'updates',
        runs: RUNS,
        checkForUpdates: { p50: +check.p50.toFixed(2), p99: +check.p99.toFixed(2), serverCpuUsPerRequest: Math.round(check.cpuUs) },
        createDelta: {
          artifactBytes: delta.artifactSize,
          ms: Math.round(delta.ms),
          patchBytes: delta.size,
          patchPercent: +patchPercent.toFixed(2),
          serverRssGrowthMb: +delta.serverGrowthMb.toFixed(1),
          workerPeakRssMb: +delta.workerPeakMb.toFixed(1),
        },
        candidates,
        targets: { checkForUpdatesP99Ms: 5, patchPercent: 5, rssGrowthMb: 100 },
        pass: { checkForUpdates: check.p99 <= 5, patchSize: patchPercent <= 5, rss: growthMb <= 100 },
      }),
    )
  } finally {
    await server.stop()
    rmSync(work, { recursive: true, force: true })
  }
}
