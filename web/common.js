// Shared by the pages: API calls with the token (asked for once when the server wants one) and small helpers.
'use strict';
window.lineside = {
  async api(path, options = {}) {
    const send = () => {
      const headers = { ...(options.headers || {}) };
      const token = localStorage.getItem('lineside-token');
      if (token) headers.authorization = `Bearer ${token}`;
      return fetch(path, { ...options, headers });
    };
    let res = await send();
    if (res.status === 401) {
      const token = window.prompt('This lineside needs its API token:');
      if (token) {
        localStorage.setItem('lineside-token', token);
        res = await send();
      }
    }
    const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
    if (!res.ok) throw new Error((body && body.error) || `HTTP ${res.status}`);
    return body;
  },
  el(tag, props = {}, children = []) {
    const node = Object.assign(document.createElement(tag), props);
    for (const child of [].concat(children)) node.append(child);
    return node;
  },
  pct(x) {
    return x === null || x === undefined ? '–' : `${x.toFixed(1)}%`;
  },
  score(x) {
    return x === null || x === undefined ? '–' : x.toFixed(3);
  },
};
