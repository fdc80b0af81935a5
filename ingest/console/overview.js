// Overview: what `tether status` and `status --check` say (the admin
// API's /admin/status, the same code), refreshed every few seconds until
// paused (the button, or the `p` key).
'use strict';

(() => {
  const { el, api, register, failed, duration } = Console;
  const EVERY_MS = 3000;

  function metric(label, value, id, href) {
    const shown = href ? el('a', { href, text: value }) : value;
    return el('div', { class: 'card metric' },
      el('div', { class: 'value', id }, shown),
      el('div', { class: 'label', text: label }));
  }

  /** Applied and failed outcomes per event type, as horizontal bars. */
  function chart(byType) {
    const rows = Object.entries(byType).map(([type, outcomes]) => {
      let applied = 0;
      let errors = 0;
      for (const [status, n] of Object.entries(outcomes)) {
        if (['success', 'stale', 'duplicate', 'ignored'].includes(status)) applied += n;
        if (['error', 'dead'].includes(status)) errors += n;
      }
      return { type, applied, errors };
    }).sort((a, b) => (b.applied + b.errors) - (a.applied + a.errors)).slice(0, 12);
    if (!rows.length) return el('p', { class: 'muted', text: 'Nothing applied in the last 15 minutes.' });
    const most = Math.max(...rows.map((r) => r.applied + r.errors), 1);
    const barHeight = 18;
    const label = 230;
    const width = 520;
    const svg = el('svg', {
      class: 'chart', width: label + width + 80, height: rows.length * (barHeight + 6),
      role: 'img', 'aria-label': 'Outcomes by event type, last 15 minutes',
    });
    rows.forEach((row, i) => {
      const y = i * (barHeight + 6);
      const applied = (row.applied / most) * width;
      const errors = (row.errors / most) * width;
      svg.append(
        el('text', { svg: true, x: 0, y: y + 13, text: row.type }),
        el('rect', { svg: true, class: 'applied', x: label, y, width: applied, height: barHeight }),
        el('rect', { svg: true, class: 'errors', x: label + applied, y, width: errors, height: barHeight }),
        el('text', { svg: true, x: label + applied + errors + 6, y: y + 13, text: `${row.applied} / ${row.errors}` }),
      );
    });
    return svg;
  }

  function draw(root, status) {
    const q = status.queue;
    const attention = status.needs_attention;
    const check = attention
      ? el('div', { class: 'check bad', id: 'check', role: 'status' }, 'status --check fails: ' + attention)
      : el('div', { class: 'check ok', id: 'check', role: 'status' }, 'status --check passes: nothing needs a person');
    const windows = status.windows.map((w) => el('tr', {},
      el('td', { text: `last ${w.minutes} min` }),
      el('td', { class: 'num', text: w.received }),
      el('td', { class: 'num', text: (w.received / w.minutes).toFixed(1) }),
      el('td', { class: 'num', text: w.applied }),
      el('td', { class: 'num', text: (w.applied / w.minutes).toFixed(1) }),
      el('td', { class: 'num', text: w.errors }),
      el('td', { class: 'num', text: (w.error_rate * 100).toFixed(1) + ' %' })));
    const last = status.windows[status.windows.length - 1] || { by_type: {} };
    const byType = Object.entries(last.by_type).map(([type, outcomes]) => el('tr', {},
      el('td', { text: type }),
      el('td', {}, Object.entries(outcomes).map(([s, n]) => el('span', { class: 'status-' + s, text: `${s} ${n}  ` })))));
    Console.fill(root, 
      check,
      el('div', { class: 'cards' },
        metric('pending', q.pending, 'queue-pending'),
        metric('running', q.running, 'queue-running'),
        metric('retrying', q.retrying, 'queue-retrying'),
        metric('dead letters', q.dead, 'queue-dead', '#/dead-letters'),
        metric('oldest pending', duration(q.oldest_pending_secs), 'oldest-pending'),
        metric('live workers', status.live_workers.length, 'live-workers')),
      el('h2', { text: 'Throughput' }),
      Console.table(['window', { class: 'num', text: 'received' }, { class: 'num', text: 'received / min' },
        { class: 'num', text: 'applied' }, { class: 'num', text: 'applied / min' },
        { class: 'num', text: 'errors' }, { class: 'num', text: 'error rate' }], windows, { id: 'windows' }),
      el('h2', { text: 'Applied / failed by type, last 15 minutes' }),
      chart(last.by_type),
      Console.table(['event type', 'outcomes'], byType, { id: 'by-type' }),
      el('h2', { text: 'Live workers' }),
      status.live_workers.length
        ? el('ul', {}, status.live_workers.map((w) => el('li', {}, el('code', { text: w }))))
        : el('p', { class: 'muted', text: 'No worker has sent a heartbeat in the last minute.' }));
  }

  register('overview', (main) => {
    let paused = false;
    let timer = null;
    const body = el('div', { id: 'overview' });
    const updated = el('span', { class: 'muted', id: 'updated' });
    const pause = el('button', {
      type: 'button', id: 'pause', 'aria-pressed': 'false', text: 'Pause',
      onclick: () => toggle(),
    });
    function toggle() {
      paused = !paused;
      pause.textContent = paused ? 'Resume' : 'Pause';
      pause.setAttribute('aria-pressed', String(paused));
      if (!paused) refresh();
    }
    async function refresh() {
      clearTimeout(timer);
      try {
        draw(body, await api('status'));
        updated.textContent = 'updated ' + new Date().toLocaleTimeString() + (paused ? ' (paused)' : '');
      } catch (error) {
        failed(body, error);
      }
      if (!paused) timer = setTimeout(refresh, EVERY_MS);
    }
    const onKey = (event) => {
      if (event.key === 'p' && !/^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName)) toggle();
    };
    document.addEventListener('keydown', onKey);
    main.append(
      el('div', { class: 'toolbar' }, el('h1', { text: 'Overview' }), pause, updated),
      body);
    refresh();
    return () => {
      clearTimeout(timer);
      paused = true;
      document.removeEventListener('keydown', onKey);
    };
  });
})();
