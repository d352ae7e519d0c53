import type { Logger } from '../log.js';
import type { Notifier } from '../notify.js';
import { unhealthyReasons, type HealthCheck } from './health.js';
import type { Stage } from './stages.js';

/**
 * The systemd watchdog as a stage: pings at half of WATCHDOG_USEC, and only while the health check passes, so
 * a stuck pipeline (not merely a live event loop) gets restarted. Nothing to do without a watchdog configured.
 * The check is the one /healthz reports (health.ts), so a withheld ping names the same reasons.
 */
export function watchdogStage(deps: { notifier: Notifier | undefined; health: HealthCheck; logger: Logger }): Stage {
  let timer: NodeJS.Timeout | undefined;
  return {
    name: 'watchdog',
    start: () => {
      const watchdogMs = deps.notifier?.watchdogMs ?? null;
      if (watchdogMs === null) return Promise.resolve();
      timer = setInterval(() => {
        if (deps.health.healthy()) deps.notifier?.send({ WATCHDOG: '1' });
        else {
          const report = deps.health.report?.();
          const reasons = report ? unhealthyReasons(report) : [];
          deps.logger.warn({ code: 'LS_WATCHDOG', reasons }, 'pipeline not making progress; withholding watchdog ping');
        }
      }, watchdogMs / 2);
      timer.unref();
      return Promise.resolve();
    },
    stop: () => {
      if (timer) clearInterval(timer);
      timer = undefined;
      return Promise.resolve();
    },
  };
}
