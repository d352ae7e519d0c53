import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../../../errors.js';

/** Sparkplug seq and bdSeq both count 0..255 and wrap to 0. */
const WRAP = 256;

/** The message sequence of one edge node: NBIRTH is 0, every later message of the node and its devices +1, 255 -> 0. */
export class SeqCounter {
  private value = 0;

  /** A birth restarts the sequence: returns 0. */
  birth(): number {
    this.value = 0;
    return 0;
  }

  next(): number {
    this.value = (this.value + 1) % WRAP;
    return this.value;
  }

  get current(): number {
    return this.value;
  }
}

/**
 * The birth/death sequence (bdSeq): one per MQTT CONNECT, the same in the CONNECT's will (NDEATH) and in the NBIRTH
 * that follows, so a host can tell a late death of an old session from the death of the current one. Kept in a small
 * file so that it goes on incrementing across daemon restarts, as the spec asks.
 */
export class BdSeqFile {
  private last: number | undefined;

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  /**
   * The bdSeq for the next CONNECT, saved before it is used. Synchronous: a few bytes, once per connection (never
   * on the part path). An unreadable file starts at 0; a file that cannot be written is logged, and the value is
   * still used, so only the continuity across a restart is lost.
   */
  next(): number {
    this.last ??= this.read();
    this.last = (this.last + 1) % WRAP;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, `${JSON.stringify({ bdSeq: this.last })}\n`);
      renameSync(tmp, this.file);
    } catch (err) {
      this.log.warn(
        { code: 'LS_MQTT_OUTBOX', file: this.file, err: errorMessage(err) },
        'Sparkplug bdSeq could not be saved; it restarts after a daemon restart',
      );
    }
    return this.last;
  }

  /** The last value saved, -1 when there is none (so the first is 0). */
  private read(): number {
    try {
      const { bdSeq } = JSON.parse(readFileSync(this.file, 'utf8')) as { bdSeq?: unknown };
      return typeof bdSeq === 'number' && Number.isInteger(bdSeq) && bdSeq >= 0 && bdSeq < WRAP ? bdSeq : -1;
    } catch {
      return -1;
    }
  }
}
