import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App, type AppDrivers } from '../../src/app.js';
import type { Inspector } from '../../src/domain/ports.js';
import { WorkerInspector } from '../../src/inference/worker-inspector.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { waitFor } from '../wait.js';
import { DATASET, ROOT, labelledFolder, lineConfig, memoryLogger, tempDir } from './harness.js';

/** Debian's chromium, driven by playwright-core (scripts/install-test-deps.sh installs it). */
const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};
/** Screenshots for a person to look at; git-ignored. */
const OUTPUT = path.join(ROOT, 'test-output');
/** Files the shipped model judges correctly (`lineside classify` says defective 1.000 and ok 0.004). */
const DEFECTIVE = path.join(DATASET, 'def_front/cast_def_0_0.jpeg');
const OK = path.join(DATASET, 'ok_front/cast_ok_0_1.jpeg');

let browser: Browser;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  browser = await chromium.launch(LAUNCH);
  dir = await tempDir('operator');
  await mkdir(OUTPUT, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await dir?.remove();
});

async function sim(
  name: string,
  over: Partial<ConfigInput> & { maxParts?: number; drivers?: Partial<AppDrivers> } = {},
) {
  const { maxParts, drivers, ...config } = over;
  const images = await labelledFolder(path.join(dir.path, name), 4);
  const loaded = lineConfig({ images, mqttUrl: 'embedded', outbox: path.join(dir.path, `outbox-${name}`), ...config });
  const mqtt = { url: 'embedded', embedded_port: 0, outbox_dir: path.join(dir.path, `outbox-${name}`) } as const;
  const log = memoryLogger();
  const app = createApp({
    loaded: { ...loaded, config: { ...loaded.config, mqtt: { ...loaded.config.mqtt, ...mqtt } } },
    logger: log.logger,
    env: {},
    ...(maxParts ? { maxParts } : {}),
    ...(drivers ? { drivers } : {}),
  });
  await app.start(new AbortController().signal);
  return { app, log };
}

async function openPage(app: App, file = ''): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${app.httpUrl ?? ''}${file}`);
  return page;
}

const count = async (page: Page, id: string): Promise<number> => Number(await page.locator(`#${id}`).textContent());

describe('the dashboard in a browser, on the sim line', () => {
  it('shows the part count rising, reject images, and acknowledges an alarm', async () => {
    // Two rejects in a row raise consecutive_rejects: the sim folder holds defective castings.
    const { app, log } = await sim('dash', { alarms: { consecutive_rejects: 2 } });
    try {
      const page = await openPage(app);
      await page.waitForFunction("document.querySelector('#health-status')?.textContent.includes('READY')");
      const first = await count(page, 'parts-run');
      await page.waitForFunction(
        `Number(document.querySelector('#parts-run').textContent) >= ${first + 3}`,
        undefined,
        {
          timeout: 30_000,
        },
      );
      expect(await count(page, 'parts-run')).toBeGreaterThan(first);

      const reject = page.locator('#rejects .reject img').first();
      await reject.waitFor({ timeout: 30_000 });
      await page.waitForFunction("document.querySelector('#rejects .reject img')?.naturalWidth > 0");
      expect(await page.locator('#rejects .reject .score').first().textContent()).toMatch(/✖ .* \d\.\d{3}/);

      const alarm = page.locator('.alarm').first();
      await alarm.waitFor({ timeout: 30_000 });
      const id = await alarm.getAttribute('data-alarm-id');
      expect(id).toMatch(/-A\d+$/);
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-alarm.png') });
      await alarm.locator('button.ack').click();
      await page.waitForFunction(`!document.querySelector('.alarm[data-alarm-id="${id ?? ''}"]')`);
      await waitFor(() =>
        log.records().some((r) => r.msg === 'alarm acknowledged' && r.alarm === id && r.by === 'dashboard'),
      );
      expect(app.health().components.line.healthy).toBe(true);
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard.png') });
      if (process.env.LINESIDE_UPDATE_DOCS_IMG === '1') {
        // For the picture in the README: a latency chart with a few points, and every thumbnail loaded.
        await page.waitForFunction("Number(document.querySelector('#latency').dataset.points) >= 3", undefined, {
          timeout: 60_000,
        });
        await page.waitForFunction('[...document.images].every((i) => i.complete && i.naturalWidth > 0)');
        await page.screenshot({ path: path.join(ROOT, 'docs/img/dashboard.png') });
      }
      await page.close();
    } finally {
      await app.stop();
    }
  }, 120_000);

  it('the upload page judges a defective and an ok casting, and they never count as parts', async () => {
    const { app } = await sim('upload', { maxParts: 2 });
    try {
      await app.done;
      // Both parts settled (alarms included) and every message acknowledged by the broker: from here on nothing the
      // line did changes the counters.
      await waitFor(() => app.summary().mqtt?.queued === 0 && (app.summary().mqtt?.sent ?? 0) >= 2, 30_000);
      const before = app.summary();
      const page = await openPage(app, 'upload.html');
      await page.setInputFiles('#files', [DEFECTIVE, OK]);
      await page.waitForFunction("document.querySelectorAll('.result[data-verdict]').length === 2", undefined, {
        timeout: 30_000,
      });
      const verdicts = await page.evaluate<[string, string][]>(
        "[...document.querySelectorAll('.result')].map((c) => [c.dataset.file, c.dataset.verdict])",
      );
      expect(Object.fromEntries(verdicts)).toEqual({
        [path.basename(DEFECTIVE)]: 'defective',
        [path.basename(OK)]: 'ok',
      });
      expect(await page.locator('.result .v').allTextContents()).toEqual(
        expect.arrayContaining(['✖ DEFECTIVE', '✔ OK']),
      );
      // Without CAM outputs in the bundle the page says so instead of drawing a map (the next test draws one).
      const { cam } = (await (await fetch(new URL('/api/status', app.httpUrl))).json()) as { cam: boolean };
      const note = cam ? /^Heat map: red is where/ : /has no class-activation map \(CAM\): verdicts only/;
      expect(await page.locator('#cam-note').textContent()).toMatch(note);
      expect(await page.locator('.result canvas[data-heatmap]').count()).toBe(cam ? 2 : 0);
      await page.screenshot({ path: path.join(OUTPUT, 'upload.png') });
      const after = app.summary();
      expect([after.parts, after.ok, after.reject, after.mqtt?.sent]).toEqual([
        before.parts,
        before.ok,
        before.reject,
        before.mqtt?.sent,
      ]);
      await page.close();
    } finally {
      await app.stop();
    }
  }, 120_000);

  it('the upload page draws the heat map where the bundle explains its verdicts', async () => {
    // The shipped bundle has no CAM outputs yet: a stand-in explain() with the real verdict and a left-to-right ramp.
    const width = 8;
    const ramp = new Float32Array(width * width).map((_, i) => (i % width) / (width - 1));
    const inspector: AppDrivers['inspector'] = (deps) => {
      const real = new WorkerInspector(deps);
      const explain: NonNullable<Inspector['explain']> = async (image, signal) => ({
        inspection: await real.inspect(image, signal),
        heatmap: { width, height: width, values: ramp },
      });
      return Object.assign(real, { explain });
    };
    const { app } = await sim('cam', { maxParts: 1, drivers: { inspector } });
    try {
      const page = await openPage(app, 'upload.html');
      await page.setInputFiles('#files', [OK]);
      await page.locator('.result canvas[data-heatmap="drawn"]').waitFor({ timeout: 30_000 });
      expect(await page.locator('.result').getAttribute('data-verdict')).toBe('ok');
      expect(await page.locator('#cam-note').textContent()).toMatch(/^Heat map: red is where the model looked/);
      expect(await page.locator('#cam-note').isVisible()).toBe(true);
      // Blue where the map is 0 (left edge), red where it is 1 (right edge), over the grey casting.
      const [left, right] = await page.evaluate<[number[], number[]]>(`(() => {
        const ctx = document.querySelector('.result canvas').getContext('2d');
        const px = (x) => [...ctx.getImageData(x, 256, 1, 1).data];
        return [px(2), px(509)];
      })()`);
      expect(left[2]).toBeGreaterThan(left[0]!);
      expect(right[0]).toBeGreaterThan(right[2]!);
      await page.screenshot({ path: path.join(OUTPUT, 'upload-heatmap.png') });
      await page.close();
    } finally {
      await app.stop();
    }
  }, 120_000);
});
