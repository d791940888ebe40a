/**
 * The client address of a request behind trusted proxies
 * (`TRUSTED_PROXIES`): only when the peer is one of them is the address
 * taken from `Forwarded` (RFC 7239, preferred) or `X-Forwarded-For`, and
 * then it is the rightmost hop that is not itself a trusted proxy (hops
 * further left were written by the client and prove nothing). From any
 * other peer those headers are ignored, so they cannot be spoofed.
 * @module
 */
import type { Context } from "hono";
import { type ClientAddress, defaultClientAddress } from "./connection_limit.ts";

/** An IP address as a number, IPv4-mapped IPv6 addresses folded to IPv4. */
interface Ip {
  v6: boolean;
  value: bigint;
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  let head = text;
  let tail: bigint[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const value = parseIpv4(v4[1]);
    if (value === undefined) return undefined;
    tail = [value >> 16n, value & 0xffffn];
    head = text.slice(0, -v4[1].length);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const words = (half: string) => half === "" ? [] : half.split(":");
  const left = words(halves[0]);
  const right = halves.length === 2 ? words(halves[1]) : [];
  const missing = 8 - tail.length - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...left, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...right];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  for (const word of tail) value = (value << 16n) | word;
  return value;
}

/** Parses an IPv4 or IPv6 address (IPv6 may be in brackets); `undefined` when it is neither. */
export function parseIp(text: string): Ip | undefined {
  const bare = text.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const v4 = parseIpv4(bare);
  if (v4 !== undefined) return { v6: false, value: v4 };
  if (!bare.includes(":")) return undefined;
  const v6 = parseIpv6(bare);
  if (v6 === undefined) return undefined;
  // ::ffff:a.b.c.d is the IPv4 address a.b.c.d.
  if (v6 >> 32n === 0xffffn) return { v6: false, value: v6 & 0xffffffffn };
  return { v6: true, value: v6 };
}

/** A parsed `TRUSTED_PROXIES` entry. */
interface Cidr {
  ip: Ip;
  bits: number;
}

function parseCidr(entry: string): Cidr | undefined {
  const [address, prefix, extra] = entry.split("/");
  const ip = parseIp(address);
  if (!ip || extra !== undefined) return undefined;
  const max = ip.v6 ? 128 : 32;
  if (prefix === undefined) return { ip, bits: max };
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return undefined;
  return { ip, bits: Number(prefix) };
}

/** True for an IP address or a CIDR (`10.0.0.0/8`, `fd00::/8`). */
export function isAddressOrCidr(entry: string): boolean {
  return parseCidr(entry) !== undefined;
}

function contains(cidr: Cidr, ip: Ip): boolean {
  if (cidr.ip.v6 !== ip.v6) return false;
  const shift = BigInt((ip.v6 ? 128 : 32) - cidr.bits);
  return (cidr.ip.value >> shift) === (ip.value >> shift);
}

/** The hops of `Forwarded` (its `for=` values) or else `X-Forwarded-For`, leftmost first. */
function forwardedHops(c: Context): string[] {
  const forwarded = c.req.header("forwarded");
  if (forwarded) {
    return forwarded.split(",").map((element) => {
      const pair = element.split(";").map((p) => p.trim()).find((p) => /^for=/i.test(p));
      return hostOf(pair ? pair.slice(4).replace(/^"(.*)"$/, "$1") : "unknown");
    });
  }
  const xff = c.req.header("x-forwarded-for");
  return xff ? xff.split(",").map((hop) => hostOf(hop.trim())) : [];
}

/** Strips a port: `1.2.3.4:80` and `[::1]:80` become `1.2.3.4` and `::1`. */
function hostOf(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1];
  const v4Port = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4Port ? v4Port[1] : hop;
}

/**
 * Reads the client address behind the trusted proxies `trusted`
 * (addresses or CIDRs); with none, the peer address.
 */
export function clientAddressFrom(
  trusted: readonly string[],
  peer: ClientAddress = defaultClientAddress,
): ClientAddress {
  const cidrs = trusted.map(parseCidr).filter((cidr): cidr is Cidr => cidr !== undefined);
  const isTrusted = (address: string) => {
    const ip = parseIp(address);
    return ip !== undefined && cidrs.some((cidr) => contains(cidr, ip));
  };
  if (cidrs.length === 0) return peer;
  return (c) => {
    const address = peer(c);
    if (!isTrusted(address)) return address;
    const hops = forwardedHops(c);
    for (let i = hops.length - 1; i >= 0; i--) {
      if (!isTrusted(hops[i])) return hops[i];
    }
    return hops[0] ?? address;
  };
}

/**
 * `address`, read once per request: the guards that need the client
 * address share the first reading (the peer address is a system call on
 * Bun, and proxy headers are parsed once).
 */
export function oncePerRequest(address: ClientAddress): ClientAddress {
  const read = new WeakMap<Request, string>();
  return (c) => {
    let value = read.get(c.req.raw);
    if (value === undefined) {
      value = address(c);
      read.set(c.req.raw, value);
    }
    return value;
  };
}
