// The dashboard: server-sent events from /api/events keep it live; actions go through the JSON API.
'use strict';
(() => {
  const { api, el, pct, score } = window.lineside;
  const $ = (id) => document.getElementById(id);
  const MAX_VERDICTS = 21;
  const latency = { t: [], p50: [], p90: [], p99: [] };
  let chart;
  let record = false;

  function say(text) {
    $('message').textContent = text;
  }

  function renderHealth(status) {
    const badge = $('health-status');
    const ready = status.health.ready;
    badge.textContent = ready ? '✔ READY' : '✖ DEGRADED';
    badge.className = `badge ${ready ? 'ok' : 'bad'}`;
    badge.dataset.ready = String(ready);
    const list = $('components');
    list.replaceChildren(
      ...Object.entries(status.health.components).map(([name, c]) =>
        el('li', { className: `component ${c.healthy ? 'ok' : 'bad'}`, title: c.reason }, [
          el('span', { className: 'sym', textContent: c.healthy ? '✔' : '✖' }),
          `${name.replace('_', ' ')}${c.healthy ? '' : `: ${c.reason}`}`,
        ]),
      ),
    );
  }

  function renderAlarms(alarms) {
    const box = $('alarms');
    $('ack-all').hidden = alarms.length === 0;
    if (alarms.length === 0) return box.replaceChildren(el('p', { className: 'none', textContent: 'No open alarms.' }));
    box.replaceChildren(
      ...alarms.map((a) => {
        const button = el('button', { className: 'ack', textContent: '✔ Acknowledge' });
        button.addEventListener('click', () => acknowledge(a.id));
        const div = el('div', { className: 'alarm' }, [
          el('b', { textContent: `⚠ ${a.kind}` }),
          a.message,
          el('br'),
          button,
        ]);
        div.dataset.alarmId = a.id;
        return div;
      }),
    );
  }

  function renderCounts(suffix, c) {
    $(`parts-${suffix}`).textContent = String(c.parts);
    $(`ok-${suffix}`).textContent = String(c.ok);
    $(`reject-${suffix}`).textContent = String(c.reject);
    $(`yield-${suffix}`).textContent = pct(c.yieldPercent);
    $(`rate-${suffix}`).textContent = c.ratePerMin.toFixed(c.ratePerMin < 10 ? 1 : 0);
  }

  function renderStatus(status) {
    record = status.record;
    $('line-id').textContent = status.line_id;
    $('model').textContent = status.model
      ? `${status.model.name} ${status.model.version} · ${status.model.executionProvider}`
      : '';
    renderHealth(status);
    renderAlarms(status.alarms);
    renderCounts('run', status.run);
    renderCounts('hour', status.last_hour);
  }

  function image(part) {
    if (!part.image) return el('div', { className: 'noimg', textContent: 'no image' });
    return el('img', {
      src: `/api/parts/${encodeURIComponent(part.id)}/image`,
      alt: `part ${part.seq}`,
    });
  }

  function verdictText(part) {
    if (part.decision === 'pass') return '✔ PASS';
    return part.reason ? `✖ ${part.reason}` : '✖ REJECT';
  }

  function addVerdict(part) {
    const box = $('verdicts');
    const tile = el('div', { className: `thumb ${part.decision}`, title: part.id }, [
      image(part),
      el('div', { className: 'verdict', textContent: verdictText(part) }),
      el('div', { textContent: `#${part.seq} · ${score(part.score)}` }),
    ]);
    box.prepend(tile);
    while (box.children.length > MAX_VERDICTS) box.lastChild.remove();
  }

  async function markWrong(part) {
    const label = part.verdict === 'defective' ? 'ok' : 'defective';
    try {
      await api(`/api/parts/${encodeURIComponent(part.id)}/label`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ label, by: 'dashboard' }),
      });
      say(`Part ${part.seq} labelled ${label}.`);
    } catch (err) {
      say(`Could not label part ${part.seq}: ${err.message}`);
    }
  }

  async function refreshRejects() {
    const rejects = (await api('/api/rejects')).filter((p) => p.image).slice(0, 4);
    const box = $('rejects');
    if (rejects.length === 0)
      return box.replaceChildren(el('p', { className: 'none', textContent: 'No rejects yet.' }));
    box.replaceChildren(
      ...rejects.map((p) => {
        const wrong = el('button', { className: 'wrong', textContent: '✎ Mark verdict wrong', disabled: !record });
        wrong.title = record ? 'Record that this part was not defective' : 'Needs the line record';
        wrong.addEventListener('click', () => markWrong(p));
        return el('div', { className: 'reject' }, [
          image(p),
          el('div', { className: 'score', textContent: `✖ ${p.reason ?? ''} ${score(p.score)}` }),
          el('div', { textContent: `#${p.seq} ${new Date(p.at).toLocaleTimeString()}` }),
          wrong,
        ]);
      }),
    );
  }

  async function acknowledge(target) {
    try {
      const body = JSON.stringify(target ? { target, by: 'dashboard' } : { by: 'dashboard' });
      const res = await api('/api/alarms/ack', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      say(`Acknowledged ${res.acknowledged.length} alarm(s).`);
      renderAlarms(await api('/api/alarms'));
    } catch (err) {
      say(`Could not acknowledge: ${err.message}`);
    }
  }

  function addLatency(point) {
    latency.t.push(point.t);
    for (const q of ['p50', 'p90', 'p99']) latency[q].push(point[q]);
    if (latency.t.length > 120) for (const key of Object.keys(latency)) latency[key].shift();
    chart?.setData([latency.t, latency.p50, latency.p90, latency.p99]);
    $('latency').dataset.points = String(latency.t.length);
  }

  function makeChart() {
    const box = $('latency');
    const series = (label, stroke, dash) => ({ label, stroke, width: 2, dash });
    chart = new uPlot(
      {
        width: box.clientWidth || 300,
        height: 150,
        series: [{}, series('p50', '#1b7f3b'), series('p90', '#b26a00', [6, 4]), series('p99', '#c62828', [2, 3])],
        axes: [{}, { size: 50 }],
        legend: { live: false },
      },
      [[], [], [], []],
      box,
    );
  }

  let rejectsPending = false;
  function onPart(part) {
    addVerdict(part);
    if (part.decision === 'reject' && !rejectsPending) {
      rejectsPending = true;
      setTimeout(() => refreshRejects().finally(() => (rejectsPending = false)), 500);
    }
  }

  function connect() {
    const events = new EventSource('/api/events');
    events.addEventListener('status', (e) => renderStatus(JSON.parse(e.data)));
    events.addEventListener('hello', (e) => {
      const hello = JSON.parse(e.data);
      $('verdicts').replaceChildren();
      for (const part of [...hello.parts].reverse()) addVerdict(part);
      for (const point of hello.latency) addLatency(point);
      void refreshRejects();
      say('');
    });
    events.addEventListener('part', (e) => onPart(JSON.parse(e.data)));
    events.addEventListener('latency', (e) => addLatency(JSON.parse(e.data)));
    events.onerror = () => say('Connection to the daemon lost; retrying…');
  }

  $('ack-all').addEventListener('click', () => acknowledge(undefined));
  makeChart();
  connect();
})();
