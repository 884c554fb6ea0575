import { isIPv6 } from 'node:net'
import type { IncomingMessage } from 'node:http'
import { clientIp } from '../client-ip.js'

/**
 * The key a per-address limit counts a client under: its IPv4 address, or the /64 network of its
 * IPv6 address. One IPv6 host is normally handed a whole /64, so counting single addresses
 * would give it 2^64 budgets.
 */
export function clientKey(req: IncomingMessage): string {
  return addressKey(clientIp(req))
}

export function addressKey(ip: string): string {
  if (!isIPv6(ip)) return ip
  const lower = ip.toLowerCase()
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7) // IPv4 seen on a dual-stack socket
  const [head, tail] = lower.split('::') as [string, string | undefined]
  const front = head === '' ? [] : head.split(':')
  const groups = tail === undefined ? front : [...front, ...Array(Math.max(0, 8 - front.length - tail.split(':').length)).fill('0')]
  while (groups.length < 4) groups.push('0')
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':') + '::/64'
}
