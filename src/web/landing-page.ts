import type { Config } from '../config.js'

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Only http(s) links are shown (a configured URL is the operator's, but never a javascript: one). */
function httpUrl(s: string | undefined): string | undefined {
  if (!s) return undefined
  try {
    const u = new URL(s)
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined
  } catch {
    return undefined
  }
}

/**
 * The page at `/`: what this server is, its version, and where to go from here. Built once at
 * start-up from the configuration; no scripts, no outside resources.
 */
export function landingPage(cfg: Config): string {
  const links: [string, string][] = [
    ['/xrpc/com.atproto.server.describeServer', 'Server description (XRPC, JSON)'],
    ['/xrpc/_health', 'Health check'],
    ['https://atproto.com', 'The AT Protocol'],
    ['https://atproto.com/guides/self-hosting', 'Self-hosting a PDS'],
  ]
  const privacy = httpUrl(cfg.privacyPolicyUrl)
  const terms = httpUrl(cfg.termsOfServiceUrl)
  if (privacy) links.push([privacy, 'Privacy policy'])
  if (terms) links.push([terms, 'Terms of service'])
  const contact = cfg.contactEmail
    ? `<p>Contact: <a href="mailto:${escapeHtml(cfg.contactEmail)}">${escapeHtml(cfg.contactEmail)}</a></p>\n`
    : ''
  const domains = cfg.serviceHandleDomains.map((d) => `<code>*${escapeHtml(d)}</code>`).join(', ')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(cfg.hostname)} · Carrel PDS</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2em}</style>
</head>
<body>
<h1>${escapeHtml(cfg.hostname)}</h1>
<p>This is an <a href="https://atproto.com">AT Protocol</a> Personal Data Server (PDS) running
<strong>Carrel ${escapeHtml(cfg.version)}</strong>. It hosts accounts: each one's signed repository of
records, its blobs and its identity, served over XRPC to apps, relays and other services. It also
carries the Carrel Library Manager's own records (books, synced devices, app updates).</p>
<p>There is nothing to browse here. To use an account on this server, sign in from an atproto app
with your handle (${domains}) and <code>https://${escapeHtml(cfg.hostname)}</code> as the hosting provider.</p>
<p>Service DID: <code>${escapeHtml(cfg.serviceDid)}</code></p>
${contact}<ul>
${links.map(([href, text]) => `<li><a href="${escapeHtml(href)}">${escapeHtml(text)}</a></li>`).join('\n')}
</ul>
</body>
</html>
`
}

/**
 * Search engines may read the landing page; the API is for atproto clients and relays, and
 * crawling it (exports, blobs) would only cost bandwidth.
 */
export const ROBOTS_TXT = `# Carrel: an AT Protocol Personal Data Server
User-agent: *
Disallow: /xrpc/
Disallow: /tls-check
`
