/**
 * Config variants of the bench's simulated line (the demo config, src/bench/line.ts), interleaved so that a
 * machine whose load changes affects each alike: trigger-to-verdict percentiles, fail-safe rejects, and the
 * process CPU time per part (all threads), which load distorts far less than wall times.
 *
 *   node --import tsx benchmarks/line-variants.ts [--rate 50] [--parts 500] [--rounds 2] [--variants demo,spin2,loop,inflight16]
 */
import { parseArgs } from 'node:util';
import { runLine } from '../src/bench/line.js';
import { percentiles } from '../src/bench/stats.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '50' },
    parts: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '2' },
    variants: { type: 'string', default: 'demo,spin2,loop,inflight16' },
  },
});

const ALL: Record<string, Record<string, Record<string, unknown>>> = {
  demo: {},
  spin2: { gate: { spin_ms: 2 } },
  spin0: { gate: { spin_ms: 0 } },
  loop: { gate: { timer: 'loop' } },
  inflight16: { pipeline: { max_in_flight: 16 } },
  spin2inflight16: { gate: { spin_ms: 2 }, pipeline: { max_in_flight: 16 } },
};

for (let round = 0; round < Number(values.rounds); round++) {
  for (const name of values.variants.split(',')) {
    const overrides = ALL[name];
    if (overrides === undefined) throw new Error(`unknown variant ${name} (${Object.keys(ALL).join(', ')})`);
    const run = await runLine({ partsPerSecond: Number(values.rate), parts: Number(values.parts), overrides });
    const p = percentiles(run.verdictMs);
    console.log(
      `${name.padEnd(16)} ${values.rate}/s: cpu ${run.cpuMsPerPart.toFixed(2)} ms/part, verdict p50 ${p.p50.toFixed(2)} p99 ${p.p99.toFixed(2)} ms, failsafe ${JSON.stringify(run.failsafe)}, lost ${run.lost}`,
    );
  }
}
