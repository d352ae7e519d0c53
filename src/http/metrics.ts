import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { HEALTH_COMPONENTS } from '../app/health.js';
import type { PartRecord } from '../domain/part.js';
import type { OperatorDeps } from './types.js';

/** Seconds: from a fast CPU inference (a few ms) to a camera timeout. */
const STAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Seconds: gate activation minus its plan; negative is early. Tight around zero, where a good gate lives. */
const LATENESS_BUCKETS = [-0.005, -0.001, 0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

const STAGES = [
  ['capture', 'Seconds from the capture request to the image in memory, per part.'],
  ['preprocess', 'Seconds decoding and preprocessing the image for the model, per part.'],
  ['inference', 'Seconds running the model, per part.'],
  ['trigger_to_verdict', 'Seconds from the photo-eye edge to the verdict (or the fail-safe decision), per part.'],
] as const;
type Stage = (typeof STAGES)[number][0];

type Sources = Pick<OperatorDeps, 'alarms' | 'mqtt' | 'model' | 'health'>;

/**
 * The daemon's Prometheus metrics (docs/operator.md lists each). One registry per app, never prom-client's global
 * one, so two apps in one process (tests) keep their own. Part metrics are observed as parts settle; the rest are
 * read from the daemon when scraped.
 */
export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly parts: Counter<'decision' | 'reason'>;
  /** One histogram per stage (not a `stage` label): each reads on its own, and simple parsers take them whole. */
  private readonly stages: Record<Stage, Histogram>;
  private readonly lateness: Histogram;
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  constructor(private readonly sources: Sources) {
    const registers = [this.registry];
    this.parts = new Counter({
      name: 'lineside_parts_total',
      help: 'Parts completed, by gate decision and why: "model" for a model verdict, else the fail-safe reason.',
      labelNames: ['decision', 'reason'],
      registers,
    });
    this.stages = Object.fromEntries(
      STAGES.map(([stage, help]) => [
        stage,
        new Histogram({ name: `lineside_${stage}_seconds`, help, buckets: STAGE_BUCKETS, registers }),
      ]),
    ) as Record<Stage, Histogram>;
    this.lateness = new Histogram({
      name: 'lineside_gate_lateness_seconds',
      help: 'Reject gate activation minus its planned time (negative: early).',
      buckets: LATENESS_BUCKETS,
      registers,
    });
    this.scraped(registers);
  }

  start(): void {
    this.loopDelay.enable();
  }

  stop(): void {
    this.loopDelay.disable();
  }

  part(record: PartRecord): void {
    this.parts.inc({ decision: record.decision, reason: record.failsafeReason ?? 'model' });
    const { capture, preprocess, inference } = record.stagesMs;
    const observe = (stage: Stage, ms: number | undefined): void => {
      if (ms !== undefined) this.stages[stage].observe(ms / 1000);
    };
    observe('capture', capture);
    observe('preprocess', preprocess);
    observe('inference', inference);
    observe('trigger_to_verdict', record.verdictLatencyMs);
    if (record.tracking.gateLatenessMs !== undefined) this.lateness.observe(record.tracking.gateLatenessMs / 1000);
  }

  /** Metrics read from the daemon at scrape time. */
  private scraped(registers: Registry[]): void {
    const { sources, loopDelay } = this;
    new Gauge({
      name: 'lineside_event_loop_lag_seconds',
      help: 'Event loop delay since the last scrape, by quantile (0.5, 0.99, 1 = max).',
      labelNames: ['quantile'],
      registers,
      collect() {
        const s = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
        this.set({ quantile: '0.5' }, s(loopDelay.percentile(50)));
        this.set({ quantile: '0.99' }, s(loopDelay.percentile(99)));
        this.set({ quantile: '1' }, s(loopDelay.max));
        loopDelay.reset();
      },
    });
    new Gauge({
      name: 'lineside_outbox_depth',
      help: 'Verdict and alarm messages waiting in the MQTT outbox for the broker to acknowledge.',
      registers,
      collect() {
        this.set(sources.mqtt()?.queued ?? 0);
      },
    });
    new Counter({
      name: 'lineside_outbox_dropped_total',
      help: 'Oldest unsent messages dropped because the outbox was full (LS_MQTT_OUTBOX_FULL).',
      registers,
      collect() {
        this.reset();
        this.inc(sources.mqtt()?.dropped ?? 0);
      },
    });
    this.health(registers);
  }

  private health(registers: Registry[]): void {
    const { sources } = this;
    new Gauge({
      name: 'lineside_alarms_active',
      help: 'Alarms raised and not yet acknowledged.',
      registers,
      collect() {
        this.set(sources.alarms().length);
      },
    });
    new Gauge({
      name: 'lineside_up',
      help: '1 while /healthz says ready, else 0.',
      registers,
      collect() {
        this.set(sources.health().ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'lineside_component_healthy',
      help: 'Per component of /healthz: 1 healthy, 0 not.',
      labelNames: ['component'],
      registers,
      collect() {
        const report = sources.health();
        for (const c of HEALTH_COMPONENTS) this.set({ component: c }, report.components[c].healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'lineside_model_info',
      help: 'The loaded model: its name, version and the execution provider in use (always 1).',
      labelNames: ['name', 'version', 'execution_provider'],
      registers,
      collect() {
        this.reset();
        const model = sources.model();
        if (model)
          this.set({ name: model.name, version: model.version, execution_provider: model.executionProvider }, 1);
      },
    });
  }
}
