/**
 * Content sniffing for uploaded blobs: the type is decided by the bytes, not by what the
 * client declared, so a file named `.png` that is really HTML is stored (and served) as
 * text/html. Only the first SNIFF_BYTES bytes are looked at.
 */
export const SNIFF_BYTES = 512

function startsWith(buf: Uint8Array, sig: readonly number[], offset = 0): boolean {
  if (buf.length < offset + sig.length) return false
  for (let i = 0; i < sig.length; i++) if (buf[offset + i] !== sig[i]) return false
  return true
}

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0))
}

function asciiAt(buf: Uint8Array, offset: number, length: number): string {
  let out = ''
  for (let i = offset; i < offset + length && i < buf.length; i++) out += String.fromCharCode(buf[i]!)
  return out
}

const FTYP_IMAGE: Record<string, string> = {
  avif: 'image/avif',
  avis: 'image/avif',
  heic: 'image/heic',
  heix: 'image/heic',
  hevc: 'image/heic-sequence',
  hevx: 'image/heic-sequence',
  heim: 'image/heic',
  heis: 'image/heic',
  mif1: 'image/heif',
  msf1: 'image/heif-sequence',
}

const FTYP_OTHER: Record<string, string> = {
  'qt  ': 'video/quicktime',
  'M4A ': 'audio/mp4',
  'M4B ': 'audio/mp4',
  'M4V ': 'video/x-m4v',
  '3gp4': 'video/3gpp',
  '3gp5': 'video/3gpp',
  '3g2a': 'video/3gpp2',
}

function sniffFtyp(buf: Uint8Array): string | undefined {
  if (asciiAt(buf, 4, 4) !== 'ftyp') return undefined
  const boxSize = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0
  const brands = [asciiAt(buf, 8, 4)]
  // compatible brands follow the minor version
  for (let o = 16; o + 4 <= Math.min(boxSize, buf.length); o += 4) brands.push(asciiAt(buf, o, 4))
  for (const b of brands) if (FTYP_IMAGE[b]) return FTYP_IMAGE[b]
  if (FTYP_OTHER[brands[0]!]) return FTYP_OTHER[brands[0]!]
  return 'video/mp4'
}

// WHATWG MIME sniffing: tags that make a text resource "HTML", each followed by a
// tag-terminating byte (space or '>').
const HTML_TAGS = [
  '<!doctype html',
  '<html',
  '<head',
  '<script',
  '<iframe',
  '<h1',
  '<div',
  '<font',
  '<table',
  '<a',
  '<style',
  '<title',
  '<b',
  '<body',
  '<br',
  '<p',
  '<!--',
  '<meta',
  '<link',
  '<form',
  '<object',
  '<embed',
]

function isTagEnd(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x3e || byte === 0x09 || byte === 0x0a || byte === 0x0c || byte === 0x0d || byte === 0x2f
}

function sniffMarkup(buf: Uint8Array): string | undefined {
  let i = 0
  // UTF-8 BOM
  if (startsWith(buf, [0xef, 0xbb, 0xbf])) i = 3
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0c || buf[i] === 0x0d)) i++
  if (buf[i] !== 0x3c /* < */) return undefined
  const head = asciiAt(buf, i, buf.length - i).toLowerCase()
  if (head.startsWith('<?xml')) {
    return /<svg[\s>]/.test(head) ? 'image/svg+xml' : /<html[\s>]/.test(head) ? 'text/html' : 'application/xml'
  }
  if (head.startsWith('<svg') && isTagEnd(head.charCodeAt(4))) return 'image/svg+xml'
  for (const tag of HTML_TAGS) {
    if (head.startsWith(tag) && (tag === '<!--' || isTagEnd(head.charCodeAt(tag.length)))) return 'text/html'
  }
  return undefined
}

/** The MIME type the bytes say they are, or undefined when the first bytes are not conclusive. */
export function sniffMime(head: Uint8Array): string | undefined {
  const b = head
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (startsWith(b, ascii('GIF87a')) || startsWith(b, ascii('GIF89a'))) return 'image/gif'
  if (startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WEBP'), 8)) return 'image/webp'
  if (startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WAVE'), 8)) return 'audio/wav'
  if (startsWith(b, ascii('RIFF')) && startsWith(b, ascii('AVI '), 8)) return 'video/x-msvideo'
  const ftyp = sniffFtyp(b)
  if (ftyp) return ftyp
  if (startsWith(b, ascii('%PDF-'))) return 'application/pdf'
  if (startsWith(b, [0x50, 0x4b, 0x03, 0x04])) {
    // EPUB: the first entry is an uncompressed file "mimetype" holding the type
    if (asciiAt(b, 30, 8) === 'mimetype' && asciiAt(b, 38, 20) === 'application/epub+zip') return 'application/epub+zip'
    return 'application/zip'
  }
  if (startsWith(b, [0x1f, 0x8b])) return 'application/gzip'
  if (startsWith(b, [0x1a, 0x45, 0xdf, 0xa3])) return 'video/webm'
  if (startsWith(b, ascii('OggS'))) return 'audio/ogg'
  if (startsWith(b, ascii('fLaC'))) return 'audio/flac'
  if (startsWith(b, ascii('ID3'))) return 'audio/mpeg'
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return 'image/tiff'
  if (startsWith(b, [0x00, 0x00, 0x01, 0x00])) return 'image/x-icon'
  if (startsWith(b, ascii('BM')) && b.length >= 14 && b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0) return 'image/bmp'
  if (startsWith(b, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20])) return 'image/jp2'
  if (startsWith(b, [0xff, 0x0a])) return 'image/jxl'
  if (startsWith(b, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'image/jxl'
  if (startsWith(b, [0x28, 0xb5, 0x2f, 0xfd])) return 'application/zstd'
  if (startsWith(b, ascii('7z'), 0) && startsWith(b, [0xbc, 0xaf, 0x27, 0x1c], 2)) return 'application/x-7z-compressed'
  return sniffMarkup(b)
}

const MIME_RE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/

/**
 * The type to store for an upload: sniffed from the bytes when they are conclusive, else the
 * declared Content-Type (without parameters) when it is a well-formed concrete type, else
 * application/octet-stream.
 */
export function decideMime(head: Uint8Array, declared: string | undefined): string {
  const sniffed = sniffMime(head)
  if (sniffed) return sniffed
  const d = (declared ?? '').split(';')[0]!.trim().toLowerCase()
  if (!MIME_RE.test(d) || d.includes('*')) return 'application/octet-stream'
  // declared markup that the sniffer did not recognise is still markup: keep it, it is served sandboxed
  return d
}
