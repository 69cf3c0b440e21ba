// Which addresses an outgoing webhook may reach. Agents choose webhook URLs, so a URL must never
// make Parley call into its own network: private, loopback, link-local, unique-local, multicast
// and unspecified addresses are refused (IPv4, IPv6 and IPv4 inside IPv6) unless the operator
// lists the host or a CIDR in PARLEY_WEBHOOK_ALLOW.
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'

const DENIED_V4: [string, number][] = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
]
const DENIED_V6: [string, number][] = [
  ['::', 128], // unspecified
  ['::1', 128],
  ['fe80::', 10], // link-local
  ['fec0::', 10], // old site-local
  ['fc00::', 7], // unique-local
  ['ff00::', 8], // multicast
]

const denied = new BlockList()
for (const [net, bits] of DENIED_V4) denied.addSubnet(net, bits, 'ipv4')
for (const [net, bits] of DENIED_V6) denied.addSubnet(net, bits, 'ipv6')

/** The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address, if there is one. */
function embeddedV4(v6: string): string | null {
  const m = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(v6)
  if (!m) return null
  if (m[1]) return m[1]
  const hi = Number.parseInt(m[2]!, 16)
  const lo = Number.parseInt(m[3]!, 16)
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.')
}

/** An address normalised to the family it really reaches. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const bare = address.replace(/^\[|\]$/g, '')
  if (isIP(bare) === 4) return { address: bare, family: 'ipv4' }
  const v4 = embeddedV4(bare)
  return v4 ? { address: v4, family: 'ipv4' } : { address: bare, family: 'ipv6' }
}

export class WebhookPolicy {
  private readonly hosts = new Set<string>()
  private readonly allowed = new BlockList()

  /** `allow`: hostnames, addresses or CIDRs (PARLEY_WEBHOOK_ALLOW). */
  constructor(allow: readonly string[] = []) {
    for (const entry of allow) {
      const [net, bits] = entry.split('/')
      const { address, family } = normalise(net ?? '')
      if (isIP(address)) {
        const max = family === 'ipv4' ? 32 : 128
        const prefix = bits === undefined ? max : Number(bits)
        if (Number.isInteger(prefix) && prefix >= 0 && prefix <= max)
          this.allowed.addSubnet(address, prefix, family)
      } else {
        this.hosts.add(entry.toLowerCase())
      }
    }
  }

  /** Whether `address` may be called, for a URL whose host is `host`. */
  permits(host: string, address: string): boolean {
    if (this.hosts.has(host.toLowerCase())) return true
    const a = normalise(address)
    if (this.allowed.check(a.address, a.family)) return true
    return !denied.check(a.address, a.family)
  }

  /**
   * Resolves the URL's host and returns the address to connect to, or the reason it is refused.
   * Every resolved address must pass: a name that resolves to one public and one private address
   * is refused rather than trusted to pick the public one.
   */
  async resolve(
    url: URL,
  ): Promise<{ ok: true; address: string } | { ok: false; reason: string; retry: boolean }> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { ok: false, reason: `webhook URL must be http or https, not ${url.protocol}`, retry: false }
    }
    const host = url.hostname.replace(/^\[|\]$/g, '')
    let addresses: string[]
    if (isIP(host)) addresses = [host]
    else {
      try {
        addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address)
      } catch (err) {
        // A name that does not exist will not start to; a failing resolver may recover.
        const code = (err as { code?: string }).code
        return {
          ok: false,
          reason: `cannot resolve ${host}: ${(err as Error).message}`,
          retry: code !== 'ENOTFOUND',
        }
      }
    }
    const refused = addresses.find((a) => !this.permits(host, a))
    if (refused !== undefined || addresses.length === 0) {
      return {
        ok: false,
        reason: `webhook host ${host} resolves to a private address (${refused ?? 'none'})`,
        retry: false,
      }
    }
    return { ok: true, address: addresses[0]! }
  }
}
