// Search by event id or object id (cus_..., sub_..., pi_...): the object's
// synced row and every stored event that touched it, newest first.
'use strict';

(() => {
  const { el, api, register, go, failed, time, eventLink } = Console;

  function events(list) {
    if (!list.length) return el('p', { class: 'muted', text: 'No stored event names this object.' });
    return Console.table(['event', 'type', 'created', 'processed'], list.map((e) => el('tr', {},
      el('td', {}, eventLink(e.id)),
      el('td', { text: e.event_type }),
      el('td', { text: time(e.created) }),
      el('td', { text: e.processed_at ? time(e.processed_at) : 'no' }))), { id: 'object-events' });
  }

  register('search', (main, _arg, params) => {
    const q = params.get('q') || '';
    const input = el('input', { id: 'search-q', name: 'q', value: q, size: 40, placeholder: 'evt_…, cus_…, sub_…, pi_…', 'aria-label': 'event or object id' });
    const results = el('div', { id: 'search-results' });
    main.append(
      el('h1', { text: 'Search' }),
      el('form', {
        class: 'toolbar', role: 'search',
        onsubmit: (event) => {
          event.preventDefault();
          const p = new URLSearchParams();
          if (input.value.trim()) p.set('q', input.value.trim());
          go('search', '', p);
        },
      }, input, el('button', { type: 'submit', class: 'primary', text: 'Search' })),
      results);
    input.focus();
    if (!q) return;
    (async () => {
      try {
        const found = await api('search?q=' + encodeURIComponent(q));
        Console.fill(results, 
          found.event ? el('p', {}, 'Event ', eventLink(found.event.id), ` (${found.event.event_type})`) : null,
          el('h2', { text: 'Synced row' }),
          found.object
            ? el('div', {}, el('p', {}, el('code', { text: found.object.table })),
              el('pre', { id: 'object-row', text: JSON.stringify(found.object.row, null, 2) }))
            : el('p', { class: 'muted', text: 'No synced row with this id.' }),
          el('h2', { text: 'Events, newest first' }),
          events(found.events));
      } catch (error) {
        failed(results, error);
      }
    })();
  });
})();
