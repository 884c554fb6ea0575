import Database from 'better-sqlite3'
const db = new Database('/tmp/carrel-prof.sqlite', { readonly: true })
const did = 'did:plc:abcdefghijklmnopqrstuvwx'
const time = (name: string, sql: string) => { const st = db.prepare(sql).raw(true); const ts = []; for (let r = 0; r < 11; r++) { const t = performance.now(); let last = ''; for (;;) { const row = st.get(did, last, 1000) as any[]; if (!row[3]) break; last = row[4] } ts.push(performance.now() - t) } ts.sort((a,b)=>a-b); console.log(ts[5].toFixed(1), name) }
time('agg', `SELECT group_concat(cid, ','), group_concat(length(content), ','), CAST(group_concat(content, '') AS BLOB), count(*), max(cid) FROM (SELECT cid, content FROM repo_block WHERE did = ? AND cid > ? ORDER BY cid LIMIT ?)`)
time('agg+window', `SELECT group_concat(cid, ','), group_concat(length(content), ','), CAST(group_concat(content, '') AS BLOB), count(*), max(cid) FROM (SELECT cid, content, size, sum(size) OVER (ORDER BY cid ROWS UNBOUNDED PRECEDING) AS upto FROM (SELECT cid, content, size FROM repo_block WHERE did = ? AND cid > ? ORDER BY cid LIMIT ?)) WHERE upto - size < 4000000`)
time('agg, no blob', `SELECT group_concat(cid, ','), group_concat(length(content), ','), 1, count(*), max(cid) FROM (SELECT cid, content FROM repo_block WHERE did = ? AND cid > ? ORDER BY cid LIMIT ?)`)
time('count only', `SELECT 1, 1, 1, count(*), max(cid) FROM (SELECT cid, content FROM repo_block WHERE did = ? AND cid > ? ORDER BY cid LIMIT ?)`)
