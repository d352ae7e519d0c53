/** The bench's figures: one flat JSON object (snake_case, like the run summary) and the table printed above it. */
import type { BenchResults } from './bench.js';
import type { LineRun } from './line.js';
import { percentiles, round, slope } from './stats.js';

export interface BenchJson {
  pps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  p999_ms: number | null;
  gate_err_p50_ms: number | null;
  gate_err_p99_ms: number | null;
  gate_err_p999_ms: number | null;
  rss_mb: number | null;
  rss_start_mb: number | null;
  rss_end_mb: number | null;
  rss_growth_mb_per_10k_parts: number | null;
  lag_p99_start_ms: number | null;
  lag_p99_end_ms: number | null;
  lag_growth_ms_per_10k_parts: number | null;
  baseline_pps: number | null;
  baseline_threads: number | null;
  ratio: number | null;
  inspector_pps_1: number | null;
  inspector_pps_4: number | null;
  preprocess_p50_ms: number | null;
  baseline_preprocess_p50_ms: number | null;
  inference_p50_ms: number | null;
  baseline_inference_p50_ms: number | null;
  stages_p50_ms: Record<string, number | null>;
  /** Process CPU time per part at 20 parts/s (all threads), ms. */
  cpu_ms_per_part: number | null;
  gate_realtime: boolean | null;
  gate_threads: number;
  cold_start_ms: number | null;
  execution_provider: string;
  baseline_note: string | null;
  quick: boolean;
  machine: BenchResults['machine'];
  trials: BenchResults['search']['trials'];
}

const MIN_PARTS_FOR_GROWTH = 2000;

/** Median of each stage over the parts of one run. */
export function stageMedians(run: LineRun): Record<string, number | null> {
  const keys = [...new Set(run.stagesMs.flatMap((s) => Object.keys(s)))];
  return Object.fromEntries(
    keys.map((key) => {
      const values = run.stagesMs.map((s) => (s as Record<string, number | undefined>)[key]);
      return [key, round(percentiles(values.filter((v): v is number => v !== undefined)).p50, 3)];
    }),
  );
}

function resources(
  run: LineRun | undefined,
): Pick<
  BenchJson,
  | 'rss_mb'
  | 'rss_start_mb'
  | 'rss_end_mb'
  | 'rss_growth_mb_per_10k_parts'
  | 'lag_p99_start_ms'
  | 'lag_p99_end_ms'
  | 'lag_growth_ms_per_10k_parts'
> {
  const samples = run?.resources ?? [];
  const first = samples[0];
  const last = samples.at(-1);
  // Growth per 10,000 parts from a run of a few hundred parts is mostly GC noise scaled up: not given below 2,000.
  const enough = (last?.parts ?? 0) >= MIN_PARTS_FOR_GROWTH;
  return {
    rss_mb: round(Math.max(...samples.map((s) => s.rssMb)), 1),
    rss_start_mb: round(first?.rssMb ?? Number.NaN, 1),
    rss_end_mb: round(last?.rssMb ?? Number.NaN, 1),
    rss_growth_mb_per_10k_parts: enough
      ? round(slope(samples.map((s) => ({ x: s.parts, y: s.rssMb }))) * 10_000, 2)
      : null,
    lag_p99_start_ms: round(samples[1]?.lagP99Ms ?? Number.NaN, 2),
    lag_p99_end_ms: round(samples.at(-2)?.lagP99Ms ?? Number.NaN, 2),
    lag_growth_ms_per_10k_parts: enough
      ? round(slope(samples.slice(1).map((s) => ({ x: s.parts, y: s.lagP99Ms }))) * 10_000, 3)
      : null,
  };
}

export function toJson(r: BenchResults): BenchJson {
  const sustained = r.search.sustained;
  const latency = percentiles(r.latency.verdictMs);
  const gate = percentiles(r.gate.errorMs);
  const single = r.inspector.find((i) => i.inFlight === 1);
  const four = r.inspector.find((i) => i.inFlight === 4);
  const base = r.baseline.available ? r.baseline.best : undefined;
  const pps = sustained?.partsPerSecond ?? null;
  return {
    pps,
    p50_ms: round(latency.p50),
    p99_ms: round(latency.p99),
    p999_ms: round(latency.p999),
    gate_err_p50_ms: round(gate.p50, 3),
    gate_err_p99_ms: round(gate.p99, 3),
    gate_err_p999_ms: round(gate.p999, 3),
    ...resources(sustained),
    baseline_pps: base ? round(base.pps, 1) : null,
    baseline_threads: base?.threads ?? null,
    ratio: base && pps !== null ? round(pps / base.pps, 2) : null,
    inspector_pps_1: single ? round(single.pps, 1) : null,
    inspector_pps_4: four ? round(four.pps, 1) : null,
    preprocess_p50_ms: single ? round(percentiles(single.preprocessMs).p50, 3) : null,
    baseline_preprocess_p50_ms: base ? round(base.preprocess_p50_ms, 3) : null,
    inference_p50_ms: single ? round(percentiles(single.inferenceMs).p50, 3) : null,
    baseline_inference_p50_ms: base ? round(base.inference_p50_ms, 3) : null,
    stages_p50_ms: stageMedians(r.latency),
    cpu_ms_per_part: round(r.latency.cpuMsPerPart, 2),
    gate_realtime: r.gate.realtime,
    gate_threads: r.gate.threads,
    cold_start_ms: r.coldStartMs === null ? null : round(r.coldStartMs, 0),
    execution_provider: r.latency.executionProvider,
    baseline_note: r.baseline.available ? `torch ${r.baseline.torch}` : r.baseline.why,
    quick: r.quick,
    machine: r.machine,
    trials: r.search.trials,
  };
}

const fmt = (v: number | null, unit = ''): string => (v === null ? 'n/a' : `${v}${unit}`);

/** The human table: one line per figure, with its target where issue 14 sets one. */
export function table(j: BenchJson): string[] {
  const x = (a: number | null, b: number | null): string =>
    a === null || b === null || b === 0 ? 'n/a' : `${Math.round((a / b) * 100) / 100}x`;
  const rows: [string, string, string][] = [
    [
      'trigger->verdict at 20 parts/s p50/p99/p99.9',
      `${fmt(j.p50_ms)} / ${fmt(j.p99_ms)} / ${fmt(j.p999_ms)} ms`,
      'p99 <= 5 ms',
    ],
    [
      'stage medians at 20 parts/s',
      Object.entries(j.stages_p50_ms)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', '),
      '',
    ],
    ['process CPU per part at 20 parts/s', `${fmt(j.cpu_ms_per_part)} ms`, ''],
    ['highest rate held (0 fail-safe, 0 lost)', `${fmt(j.pps)} parts/s`, '>= 400'],
    [
      'gate edge error at 200 parts/s p50/p99/p99.9',
      `${fmt(j.gate_err_p50_ms)} / ${fmt(j.gate_err_p99_ms)} / ${fmt(j.gate_err_p999_ms)} ms (${j.gate_threads} thread(s), ${j.gate_realtime === true ? 'SCHED_FIFO' : 'normal priority'})`,
      '',
    ],
    [
      'RSS start/end/max over the held run',
      `${fmt(j.rss_start_mb)} / ${fmt(j.rss_end_mb)} / ${fmt(j.rss_mb)} MB`,
      '<= 256 MB, flat',
    ],
    ['RSS growth per 10,000 parts', `${fmt(j.rss_growth_mb_per_10k_parts)} MB`, '~0'],
    ['event-loop lag p99 start/end', `${fmt(j.lag_p99_start_ms)} / ${fmt(j.lag_p99_end_ms)} ms`, ''],
    ['cold start to READY', `${fmt(j.cold_start_ms)} ms`, '<= 1500 ms'],
    ['inspector images/s, 1 / 4 in flight', `${fmt(j.inspector_pps_1)} / ${fmt(j.inspector_pps_4)}`, ''],
    [
      'preprocess p50: sharp / PIL',
      `${fmt(j.preprocess_p50_ms)} / ${fmt(j.baseline_preprocess_p50_ms)} ms (${x(j.preprocess_p50_ms, j.baseline_preprocess_p50_ms)})`,
      '<= 1.5x',
    ],
    ['inference p50: onnxruntime / torch', `${fmt(j.inference_p50_ms)} / ${fmt(j.baseline_inference_p50_ms)} ms`, ''],
    ['Python baseline images/s', `${fmt(j.baseline_pps)} (${fmt(j.baseline_threads)} torch threads)`, ''],
    ['ratio: held rate / baseline', j.ratio === null ? `n/a (${j.baseline_note ?? ''})` : `${j.ratio}x`, '>= 5x'],
    ['ratio: inspector 1 in flight / baseline', x(j.inspector_pps_1, j.baseline_pps), ''],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  const w2 = Math.max(...rows.map((r) => r[1].length));
  return [
    `lineside bench${j.quick ? ' --quick' : ''}: ${j.machine.cpus} x ${j.machine.cpu}, load ${j.machine.loadavg.join(' ')}, node ${j.machine.node}, execution provider ${j.execution_provider}`,
    ...rows.map(([a, b, c]) => `${a.padEnd(w)}  ${b.padEnd(w2)}  ${c ? `target ${c}` : ''}`.trimEnd()),
    `rate trials: ${j.trials.map((t) => `${t.partsPerSecond}/s ${t.seconds}s ${t.held ? 'held' : `failed (${JSON.stringify(t.failsafe)} lost ${t.lost} missing ${t.missing})`}`).join('; ')}`,
  ];
}
