/**
 * MQTT 5 PUBACK/PUBREC reason codes that say the broker will never take this message as it is (not authorised,
 * topic name invalid, packet too large, payload format invalid, retain or QoS not supported). Retrying cannot help.
 */
const PERMANENT_REFUSALS = new Set([0x87, 0x90, 0x95, 0x99, 0x9a, 0x9b]);

/** Refusals remembered at most: entries dropped from the outbox while waiting leave their count behind. */
const MAX_REMEMBERED = 1000;

/** The MQTT 5 reason code mqtt.js attaches to a refused publish (ErrorWithReasonCode.code), if any. */
export function reasonCodeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * A message the broker refuses for good would otherwise block every later one: it is dropped at once for a
 * permanent reason code, or after `maxRefusals` refusals for one that might pass (quota exceeded, unspecified).
 * Errors without a reason code (connection trouble) never drop a message.
 */
export class Refusals {
  private readonly counts = new Map<number, number>();

  constructor(private readonly maxRefusals: number) {}

  /** True when outbox entry n, refused with err, is to be dropped as rejected. */
  isFinal(n: number, err: unknown): boolean {
    const reasonCode = reasonCodeOf(err);
    if (reasonCode === undefined || reasonCode < 0x80) return false;
    if (PERMANENT_REFUSALS.has(reasonCode)) return true;
    const count = (this.counts.get(n) ?? 0) + 1;
    if (count >= this.maxRefusals) return true;
    this.counts.set(n, count);
    if (this.counts.size > MAX_REMEMBERED) {
      const oldest = this.counts.keys().next();
      if (!oldest.done) this.counts.delete(oldest.value);
    }
    return false;
  }

  /** Entry n was delivered or dropped. */
  forget(n: number): void {
    this.counts.delete(n);
  }
}
