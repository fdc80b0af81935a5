// One event: its facts, its attempt timeline with each error, the raw
// body pretty-printed (with a copy button), its synced row, a link to it
// in Stripe's dashboard, and, while it is a dead letter, replay/discard.
'use strict';

(() => {
  const { el, api, register, notice, failed, confirm, time, eventLink } = Console;

  function dashboardUrl(event) {
    const mode = event.livemode ? '' : 'test/';
    return `https://dashboard.stripe.com/${mode}events/${encodeURIComponent(event.id)}`;
  }

  function pretty(detail) {
    if (detail.payload !== null && detail.payload !== undefined && !detail.body) {
      return JSON.stringify(detail.payload, null, 2);
    }
    return detail.body || '';
  }

  function copyButton(text) {
    const button = el('button', {
      type: 'button', id: 'copy-body', text: 'Copy body',
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          button.textContent = 'Copied';
        } catch {
          button.textContent = 'Copy failed: select the text instead';
        }
      },
    });
    return button;
  }

  function deadLetterBox(letter, reload) {
    const status = el('div', { role: 'status' });
    async function act(action) {
      try {
        const body = { ids: [letter.id] };
        const dry = await api('dead-letters/' + action, { method: 'POST', body: { ...body, dry_run: true } });
        const count = action === 'replay' ? dry.replayed : dry.discarded;
        const verb = action === 'replay' ? 'Replay' : 'Discard';
        if (!(await confirm(`${verb} this dead letter`, `${verb} ${count} dead letter (${letter.id})?`, `${verb} ${count}`))) return;
        await api('dead-letters/' + action, { method: 'POST', body });
        reload(`${action === 'replay' ? 'Replayed' : 'Discarded'} ${letter.id}.`);
      } catch (error) {
        failed(status, error);
      }
    }
    return el('section', { class: 'card', id: 'dead-letter' },
      el('h2', { text: `Dead letter after ${letter.attempts} attempts` }),
      el('p', { class: 'error', id: 'last-error', text: letter.last_error || '(no error recorded)' }),
      el('div', { class: 'toolbar' },
        el('button', { type: 'button', class: 'primary', id: 'replay-letter', text: 'Replay…', onclick: () => act('replay') }),
        el('button', { type: 'button', id: 'discard-letter', text: 'Discard…', onclick: () => act('discard') })),
      status);
  }

  function draw(root, d, reload, message) {
    const state = d.dead_letter ? 'dead letter' : d.processed_at ? 'processed ' + time(d.processed_at) : 'not processed yet';
    const timeline = d.history.length
      ? el('ol', { class: 'timeline', id: 'timeline' }, d.history.map((a) => el('li', {},
        el('strong', { class: 'status-' + a.status, text: a.status }),
        a.attempt ? ` attempt ${a.attempt}` : '',
        el('span', { class: 'muted', text: ' · ' + time(a.at) }),
        a.error ? el('div', { class: 'error', text: a.error }) : null)))
      : el('p', { class: 'muted', text: 'No attempt logged yet.' });
    const body = pretty(d);
    const object = d.object
      ? el('section', { id: 'synced-row' },
        el('h2', { text: 'Synced row' }),
        el('p', {}, el('code', { text: d.object.table }), ' · ',
          d.object.last_event_id === d.id ? 'written by this event'
            : el('span', {}, 'last written by ', d.object.last_event_id && d.object.last_event_id.startsWith('evt_')
              ? eventLink(d.object.last_event_id) : el('code', { text: d.object.last_event_id || '-' }))),
        el('pre', { text: JSON.stringify(d.object.row, null, 2) }))
      : el('section', { id: 'synced-row' }, el('h2', { text: 'Synced row' }),
        el('p', { class: 'muted', text: 'No synced row for this event\'s object.' }));
    Console.fill(root, 
      el('h1', {}, el('code', { id: 'event-id', text: d.id })),
      message ? notice(message) : null,
      el('dl', { class: 'facts card' },
        el('dt', { text: 'type' }), el('dd', { id: 'event-type', text: d.event_type }),
        el('dt', { text: 'state' }), el('dd', { id: 'event-state', text: state }),
        el('dt', { text: 'object' }), el('dd', {}, d.object_id
          ? el('a', { href: '#/search?q=' + encodeURIComponent(d.object_id), text: d.object_id }) : '-'),
        el('dt', { text: 'created' }), el('dd', { text: time(d.created) }),
        el('dt', { text: 'received' }), el('dd', { text: time(d.received_at) + (d.polled_at ? ' (read from Stripe\'s event log)' : '') }),
        el('dt', { text: 'mode' }), el('dd', { text: d.livemode ? 'live' : 'test' }),
        el('dt', { text: 'account' }), el('dd', { text: d.account || 'platform' }),
        el('dt', { text: 'API version' }), el('dd', { text: d.api_version || '-' }),
        el('dt', { text: 'Stripe' }), el('dd', {},
          el('a', { href: dashboardUrl(d), id: 'stripe-link', rel: 'noopener noreferrer', target: '_blank', text: 'Open in Stripe\'s dashboard' }))),
      d.dead_letter ? deadLetterBox(d.dead_letter, reload) : null,
      el('div', { class: 'grid2' },
        el('section', {}, el('h2', { text: 'Attempts (webhook_logs)' }), timeline),
        object),
      el('h2', { text: 'Body' }),
      el('div', { class: 'toolbar' }, copyButton(body),
        d.body ? el('span', { class: 'muted', text: 'shown as stored: PostgreSQL\'s jsonb refuses it' }) : null),
      el('pre', { id: 'event-body', tabindex: '0', text: body }));
  }

  register('event', (main, id) => {
    async function load(message) {
      try {
        draw(main, await api('events/' + encodeURIComponent(id)), load, message);
      } catch (error) {
        failed(main, error);
      }
    }
    if (!id) {
      main.append(notice('No event id given; use Search.', true));
      return;
    }
    load();
  });
})();
