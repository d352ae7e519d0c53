import { HEALTH_COMPONENTS, type HealthReport } from '../app/health.js';
import type { AlarmRecord } from '../domain/alarm.js';
import type { Counts } from '../http/live.js';
import { asCommand, callDaemon, daemonTarget } from './daemon-client.js';
import { EXIT, parseCommandLine, usageError, type CliIo } from './io.js';

const STATUS_USAGE = 'usage: lineside status [--config FILE | --url URL] [--json]';

interface Status {
  line_id: string;
  run_id: string;
  health: HealthReport;
  alarms: AlarmRecord[];
  run: Counts;
  last_hour: Counts;
  model: { name: string; version: string; executionProvider: string } | null;
}

function counts(c: Counts): string {
  const y = c.yieldPercent === null ? '–' : `${c.yieldPercent.toFixed(1)}%`;
  return `${c.parts} parts, ${c.ok} pass, ${c.reject} reject, yield ${y}, ${c.ratePerMin.toFixed(1)}/min`;
}

/** One screen: health with a reason per component, counts, open alarms. */
export function renderStatus(s: Status): string {
  const lines = [
    `line ${s.line_id}  run ${s.run_id}  ${s.health.ready ? 'READY' : 'DEGRADED'}`,
    s.model ? `model ${s.model.name} ${s.model.version} on ${s.model.executionProvider}` : 'model not loaded',
    `this run:  ${counts(s.run)}`,
    `last hour: ${counts(s.last_hour)}`,
    'health:',
  ];
  for (const name of HEALTH_COMPONENTS) {
    const c = s.health.components[name];
    lines.push(`  ${c.healthy ? 'ok  ' : 'FAIL'} ${name.padEnd(13)} ${c.reason}`);
  }
  if (s.alarms.length === 0) lines.push('alarms: none open');
  else {
    lines.push(`alarms (${s.alarms.length} open; acknowledge with lineside ack [KIND|ID]):`);
    for (const a of s.alarms) lines.push(`  ${a.id}  ${a.kind}  ${a.raisedAt}  ${a.message}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `lineside status`: the running daemon's health, counters and alarms. Exit 0 ready, 1 degraded, 69 no daemon. */
export async function runStatus(argv: string[], io: CliIo): Promise<number> {
  const line = parseCommandLine(argv, {
    config: { type: 'string' },
    url: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (line.problem !== undefined) return usageError(io, line.problem, STATUS_USAGE);
  const { config, url, json } = line.values;
  return asCommand(io, async () => {
    const target = await daemonTarget({ config, url }, io);
    const { status, body } = await callDaemon(target, 'api/status');
    if (status !== 200) {
      io.stderr.write(`lineside: the daemon answered ${status}: ${JSON.stringify(body)}\n`);
      return EXIT.FAILURE;
    }
    const s = body as Status;
    io.stdout.write(json ? `${JSON.stringify(s)}\n` : renderStatus(s));
    return s.health.ready ? EXIT.OK : EXIT.FAILURE;
  });
}
