// Intake: deliveries ingest refused after their signature checked out
// (`tether rejected`), and how far `tether backfill` (per kind) and
// `tether follow` have come.
'use strict';

(() => {
  const { el, api, register, failed, time } = Console;

  register('intake', (main) => {
    const body = el('div', {}, el('p', { class: 'muted', text: 'Loading…' }));
    main.append(el('h1', { text: 'Intake' }), body);
    (async () => {
      try {
        const intake = await api('intake');
        const rejected = intake.rejected.map((r) => el('tr', {},
          el('td', { text: time(r.received_at) }),
          el('td', {}, el('code', { text: r.event_id || '-' })),
          el('td', { text: r.type || '-' }),
          el('td', { class: 'error', text: r.reason }),
          el('td', { class: 'num', text: r.body_bytes })));
        const kinds = intake.progress.backfill.map((k) => el('tr', {},
          el('td', { text: k.kind }),
          el('td', { class: 'num', text: k.objects }),
          el('td', { text: time(k.started_at) }),
          el('td', { text: k.finished_at ? 'finished ' + time(k.finished_at) : 'in progress or interrupted' }),
          el('td', {}, el('code', { text: k.starting_after || '-' }))));
        const cursor = intake.progress.follow_cursor;
        Console.fill(body, 
          el('h2', { text: 'Rejected deliveries' }),
          rejected.length
            ? Console.table(['received', 'event', 'type', 'reason', { class: 'num', text: 'bytes' }], rejected, { id: 'rejected' })
            : el('p', { class: 'muted', id: 'no-rejected', text: 'No rejected deliveries.' }),
          el('h2', { text: 'Backfill, per kind' }),
          kinds.length
            ? Console.table(['kind', { class: 'num', text: 'objects' }, 'started', 'state', 'resumes after'], kinds, { id: 'backfill' })
            : el('p', { class: 'muted', text: 'No backfill has run.' }),
          el('h2', { text: 'Following Stripe\'s event log' }),
          el('p', { id: 'follow-cursor', text: cursor ? 'read up to events created ' + time(cursor) : 'Not following (no cursor saved).' }));
      } catch (error) {
        failed(body, error);
      }
    })();
  });
})();
