import type { AlarmRecord } from '../domain/alarm.js';
import { asCommand, callDaemon, daemonTarget } from './daemon-client.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';

const ACK_USAGE =
  'usage: lineside ack [KIND|ID] [--by NAME] [--config FILE | --url URL]   (no KIND or ID: every open alarm)';

/**
 * `lineside ack`: acknowledge alarms on the running daemon, by occurrence id, by kind, or all. Exit 0 when at least
 * one was acknowledged, 1 when none matched, 69 when no daemon answers.
 */
export async function runAck(argv: string[], io: CliIo): Promise<number> {
  const options = { by: { type: 'string' }, config: { type: 'string' }, url: { type: 'string' } } as const;
  const line = parseCommandLine(argv, options, { positionals: true });
  if (line.problem !== undefined) return usageError(io, line.problem, ACK_USAGE);
  const [target, ...extra] = line.positionals;
  if (extra.length > 0) return usageError(io, `unexpected argument: ${extra.join(' ')}`, ACK_USAGE);
  const { config, url } = line.values;
  const by = line.values.by ?? io.env.SUDO_USER ?? io.env.USER ?? 'cli';
  return asCommand(io, async () => {
    const daemon = await daemonTarget({ config, url }, io);
    const { status, body } = await callDaemon(daemon, 'api/alarms/ack', {
      method: 'POST',
      body: { ...(target === undefined ? {} : { target }), by },
    });
    const acked = (body as { acknowledged?: AlarmRecord[] }).acknowledged ?? [];
    if (status !== 200 || acked.length === 0) {
      const why =
        (body as { error?: string }).error ?? (target === undefined ? 'no open alarms' : `no open alarm ${target}`);
      io.stderr.write(`lineside: nothing acknowledged: ${why}\n`);
      return EXIT.FAILURE;
    }
    for (const alarm of acked) io.stdout.write(`acknowledged ${alarm.id} ${alarm.kind} (by ${by})\n`);
    return EXIT.OK;
  });
}
