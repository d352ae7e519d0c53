// Upload and classify: each image goes to POST /api/classify; where the bundle has a class-activation map, the
// map is drawn over the image on a canvas (red where the model looked for its verdict).
'use strict';
(() => {
  const { api, el, score } = window.lineside;
  const $ = (id) => document.getElementById(id);

  function floats(base64) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new Float32Array(bytes.buffer);
  }

  /** Blue (0) to red (1), transparent where the model did not look. */
  function colour(v) {
    const r = Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 3))));
    const g = Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 2))));
    const b = Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 1))));
    return [r, g, b, Math.round(60 + 140 * v)];
  }

  function overlay(ctx, size, heatmap) {
    const values = floats(heatmap.values);
    const small = document.createElement('canvas');
    small.width = heatmap.width;
    small.height = heatmap.height;
    const img = small.getContext('2d').createImageData(heatmap.width, heatmap.height);
    values.forEach((v, i) => img.data.set(colour(v), i * 4));
    small.getContext('2d').putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(small, 0, 0, size, size);
  }

  async function draw(canvas, file, heatmap) {
    const bitmap = await createImageBitmap(file);
    const size = 512;
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(bitmap, 0, 0, size, size);
    if (heatmap) {
      overlay(ctx, size, heatmap);
      canvas.dataset.heatmap = 'drawn';
    }
  }

  async function classify(file) {
    const canvas = el('canvas');
    const verdict = el('div', { className: 'v', textContent: '…' });
    const detail = el('div', { textContent: file.name });
    const card = el('div', { className: 'result' }, [canvas, verdict, detail]);
    card.dataset.file = file.name;
    $('results').prepend(card);
    try {
      const r = await api('/api/classify', {
        method: 'POST',
        headers: { 'content-type': file.type || 'application/octet-stream' },
        body: file,
      });
      card.classList.add(r.verdict);
      card.dataset.verdict = r.verdict;
      verdict.textContent = r.verdict === 'defective' ? '✖ DEFECTIVE' : '✔ OK';
      detail.textContent = `${file.name} · score ${score(r.defectScore)} (threshold ${score(r.threshold)}) · ${(r.preprocessMs + r.inferenceMs).toFixed(0)} ms`;
      $('cam-note').textContent = r.cam
        ? 'Heat map: red is where the model looked for its verdict.'
        : 'This model bundle has no class-activation map (CAM): verdicts only, no heat map.';
      await draw(canvas, file, r.heatmap);
    } catch (err) {
      card.dataset.verdict = 'error';
      verdict.textContent = '⚠ not judged';
      detail.textContent = `${file.name}: ${err.message}`;
    }
  }

  async function handle(files) {
    for (const file of files) await classify(file);
  }

  const drop = $('drop');
  $('files').addEventListener('change', (e) => handle([...e.target.files]));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void handle([...e.dataTransfer.files]);
  });
  api('/api/status').then(
    (s) =>
      ($('model').textContent = s.model ? `${s.model.name} ${s.model.version} · ${s.model.executionProvider}` : ''),
    () => undefined,
  );
})();
