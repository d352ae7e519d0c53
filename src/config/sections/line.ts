import { z } from 'zod';
import { inputLine, outputLine } from './common.js';

export const triggerSection = inputLine
  .extend({
    debounce_ms: z
      .number()
      .min(0)
      .max(1000)
      .default(2)
      .describe('Milliseconds: photo-eye edges closer than this are contact bounce.'),
    min_spacing_ms: z
      .number()
      .min(0)
      .max(60_000)
      .default(50)
      .describe(
        'Milliseconds: a trigger closer than this to the previous part is counted as a missed/double trigger and ignored.',
      ),
  })
  .describe('The photo-eye that starts one inspection per part.');

export const gateSection = outputLine
  .extend({
    pulse_ms: z
      .number()
      .min(1)
      .max(10_000)
      .default(80)
      .describe('Milliseconds the reject gate stays active per reject.'),
    min_gap_ms: z
      .number()
      .min(0)
      .max(10_000)
      .default(20)
      .describe('Milliseconds the gate stays inactive between two pulses.'),
    merge: z.boolean().default(true).describe('Back-to-back rejects closer than pulse + gap become one longer pulse.'),
    lead_ms: z
      .number()
      .min(0)
      .max(10_000)
      .default(10)
      .describe('Milliseconds the actuator needs: it is fired this early.'),
    energised_position: z
      .enum(['reject', 'pass'])
      .default('reject')
      .describe(
        "What the actuator does while the output is active (energised): 'reject' = air blast/pusher (de-energised passes parts, not fail-safe alone); " +
          "'pass' = diverter held in pass while energised, so a dead daemon or lost power rejects (fail-safe, recommended; see docs/tracking.md).",
      ),
    timer: z
      .enum(['thread', 'loop'])
      .default('thread')
      .describe(
        "What times the reject edge: 'thread' = a worker thread of its own switches the output at the due time (sub-millisecond even while the event loop is busy; sim and onoff drivers; with gpiod, whose switches go through a supervisor process, lineside falls back to 'loop' and says so); 'loop' = the event loop, holding it for hold_ms before each edge.",
      ),
    spin_ms: z
      .number()
      .min(0)
      .max(20)
      .default(8)
      .describe(
        "timer 'thread': milliseconds before a reject edge at which the gate threads stop sleeping and spin on the clock (a sleeping thread, or an idle virtual CPU, can take milliseconds to run again). Costs up to that much of one core per thread per reject, never the event loop; benchmarks/gate-timing.ts compares 2 and 8.",
      ),
    threads: z
      .number()
      .int()
      .min(1)
      .max(4)
      .default(2)
      .describe(
        "timer 'thread': gate threads racing for each reject edge, each pinned to its own CPU (at most the CPUs the daemon may use minus one, which stays free for inference and the event loop; at least 1); the first to reach the due time switches. A CPU can be kept from running any thread for milliseconds (virtual CPUs, SMIs: measured >1 ms about twice a second on the development VM) but rarely two at once. Each spins up to spin_ms per reject.",
      ),
    rt_priority: z
      .number()
      .int()
      .min(0)
      .max(99)
      .default(50)
      .describe(
        "timer 'thread': SCHED_FIFO priority of the gate thread alone (the rest of the daemon stays at normal priority), so busy threads cannot delay it; needs LimitRTPRIO (systemd/lineside.service grants it), otherwise lineside warns and runs it at normal priority. 0 = normal priority.",
      ),
    hold_ms: z
      .number()
      .min(0)
      .max(20)
      .default(8)
      .describe(
        "timer 'loop', and every part's gate moment: milliseconds before the edge during which the scheduler holds the event loop to fire on time; must exceed the longest blocking task to guarantee sub-ms timing (benchmarks/gate-timing.ts). 0 = plain timer.",
      ),
    max_lateness_ms: z
      .number()
      .min(0)
      .max(10_000)
      .default(20)
      .describe(
        "Milliseconds a gate activation may come after its planned time and still count as a hit; later, the part is recorded with tracking.outcome 'fired_late' (it may have passed) and the gate_late alarm is raised.",
      ),
  })
  .describe('The reject gate (air blast, pusher, diverter).');

export const trackingSection = z
  .discriminatedUnion('mode', [
    z.strictObject({
      mode: z.literal('time'),
      distance_mm: z.number().min(0).default(500).describe('Millimetres from the photo-eye to the gate.'),
      belt_speed_mm_s: z.number().gt(0).default(1000).describe('Belt speed in millimetres per second.'),
    }),
    z.strictObject({
      mode: z.literal('encoder'),
      counts_to_gate: z.number().int().min(1).describe('Encoder counts from the photo-eye to the gate.'),
      encoder: inputLine.describe('Encoder pulse input.'),
      max_wait_ms: z
        .number()
        .min(1)
        .default(60_000)
        .describe(
          'Milliseconds a part may wait for its verdict on a stopped belt before it is marked late (gate fires at arrival).',
        ),
      stall_triggers: z
        .number()
        .int()
        .min(2)
        .max(1000)
        .default(3)
        .describe(
          "Triggers (parts) in a row with no encoder count between them at which the encoder is declared stalled: the encoder_stalled alarm is raised, the line reports unhealthy, the gate is held in its reject position and every part on the belt is rejected 'encoder_stalled'. Keep it above the number of parts that can pass the photo-eye within one encoder count.",
        ),
    }),
  ])
  .default({ mode: 'time', distance_mm: 500, belt_speed_mm_s: 1000 })
  .describe('How a part is followed from the camera to the gate.');

export const confirmSection = inputLine
  .extend({
    window_ms: z
      .number()
      .min(1)
      .max(60_000)
      .default(500)
      .describe('Milliseconds after the gate fires within which the confirm sensor must see the part.'),
  })
  .describe('Optional reject-confirm sensor (part seen in the reject bin/chute).');

export const alarmsSection = z
  .strictObject({
    consecutive_rejects: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe('Alarm after this many rejects in a row; 0 = off.'),
    reject_rate_percent: z
      .number()
      .min(0)
      .max(100)
      .default(0)
      .describe('Alarm when rejects exceed this percentage of the rolling window; 0 = off.'),
    reject_rate_window: z.number().int().min(1).default(100).describe('Parts in the rolling reject-rate window.'),
    output: outputLine.optional().describe('Output driven while an alarm is active (stack light, line stop).'),
    bin_full: inputLine.optional().describe('Input that is active while the reject bin is full (raises an alarm).'),
  })
  .default({ consecutive_rejects: 10, reject_rate_percent: 0, reject_rate_window: 100 })
  .describe('Alarms: published on MQTT, logged at error level, acknowledged explicitly.');

export const heartbeatSection = outputLine
  .extend({
    period_ms: z
      .number()
      .min(10)
      .max(60_000)
      .default(500)
      .describe('Milliseconds between toggles while the pipeline is healthy.'),
  })
  .describe('Optional heartbeat output for a PLC or watchdog relay.');

export const pipelineSection = z
  .strictObject({
    max_in_flight: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(4)
      .describe('Parts being captured/inspected at once; a trigger beyond it is an overrun (fail-safe reject).'),
    drain_ms: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .default(3000)
      .describe('Milliseconds to finish in-flight parts on shutdown before they are rejected fail-safe.'),
  })
  .default({ max_in_flight: 4, drain_ms: 3000 })
  .describe('Inspection pipeline bounds.');

export type TriggerConfig = z.infer<typeof triggerSection>;
export type GateConfig = z.infer<typeof gateSection>;
export type TrackingConfig = z.infer<typeof trackingSection>;
export type ConfirmConfig = z.infer<typeof confirmSection>;
export type AlarmsConfig = z.infer<typeof alarmsSection>;
export type HeartbeatConfig = z.infer<typeof heartbeatSection>;
export type PipelineConfig = z.infer<typeof pipelineSection>;
