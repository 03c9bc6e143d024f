import { RateLimitConfigError } from '../limits.js';
import type { LimitCheck } from './store.js';

/** The part of a key Redis Cluster hashes: the first non-empty `{...}`, else the whole key. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/**
 * `keys` per Cluster slot (all in slot 0 outside a Cluster), in parts of at most `most` keys: what
 * one script call may name.
 */
export function partsBySlot(
  keys: readonly string[],
  cluster: boolean,
  most: number,
): { slot: number; keys: string[] }[] {
  const parts: { slot: number; keys: string[] }[] = [];
  const filling = new Map<number, string[]>();
  for (const key of keys) {
    const slot = cluster ? clusterSlotOf(key) : 0;
    let part = filling.get(slot);
    if (part === undefined || part.length === most) {
      part = [];
      filling.set(slot, part);
      parts.push({ slot, keys: part });
    }
    part.push(key);
  }
  return parts;
}

const CRC16_TABLE = buildCrc16Table();

/** The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, modulo 16384. */
export function clusterSlotOf(key: string): number {
  let crc = 0;
  for (const byte of Buffer.from(hashTagOf(key), 'utf8')) {
    crc = ((crc << 8) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]) & 0xffff;
  }
  return crc % 16384;
}

function buildCrc16Table(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[byte] = crc;
  }
  return table;
}

/**
 * The Cluster slot of a call. All keys of a call must live in one slot for the script to see them
 * together; a call that spans slots is refused on its own, never failing the calls batched with it.
 */
export function slotOfCall(checks: readonly LimitCheck[]): number {
  const slot = clusterSlotOf(checks[0].key);
  const tag = hashTagOf(checks[0].key);
  for (const check of checks) {
    if (hashTagOf(check.key) === tag || clusterSlotOf(check.key) === slot) continue;
    throw new RateLimitConfigError(
      `RedisStore: the keys of one call are in different Redis Cluster slots (${checks.map((other) => other.key).join(', ')}); limits of one call with their own key() must map to the same subject in a Cluster`,
    );
  }
  return slot;
}
