// Dead letters: filter, select some or every match, replay or discard
// after a confirmation that states the dry run's count. Pages by keyset
// (the `next` cursor), so the thousandth page costs what the first does.
'use strict';

(() => {
  const { el, api, register, go, notice, failed, confirm, ago, eventLink } = Console;

  const AGES = [['', 'any time'], ['1h', 'last hour'], ['24h', 'last 24 h'], ['7d', 'last 7 days'], ['30d', 'last 30 days']];

  /** The filter as the page's URL holds it. */
  function filterOf(params) {
    return {
      type: params.get('type') || '',
      since: params.get('since') || '',
      error: params.get('error') || '',
      account: params.get('account') || '',
    };
  }

  function query(filter, after) {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value) q.set(key, value);
    if (after) q.set('after', after);
    return q;
  }

  register('dead-letters', (main, _arg, params) => {
    const filter = filterOf(params);
    const selected = new Set();
    let allMatching = false;
    let letters = [];
    const pages = [params.get('after') || ''];

    const typeInput = el('input', { id: 'filter-type', name: 'type', value: filter.type, placeholder: 'payment_intent.succeeded' });
    const sinceSelect = el('select', { id: 'filter-since', name: 'since' },
      AGES.map(([value, label]) => el('option', { value, selected: value === filter.since, text: label })));
    const errorInput = el('input', { id: 'filter-error', name: 'error', value: filter.error, placeholder: 'text in the error' });
    const accountInput = el('input', { id: 'filter-account', name: 'account', value: filter.account, placeholder: 'acct_...' });
    const form = el('form', {
      class: 'toolbar', role: 'search',
      onsubmit: (event) => {
        event.preventDefault();
        go('dead-letters', '', query({
          type: typeInput.value.trim(), since: sinceSelect.value, error: errorInput.value.trim(), account: accountInput.value.trim(),
        }));
      },
    },
      el('label', {}, 'Event type', typeInput),
      el('label', {}, 'Died', sinceSelect),
      el('label', {}, 'Error contains', errorInput),
      el('label', {}, 'Connected account', accountInput),
      el('button', { type: 'submit', id: 'apply-filter', text: 'Filter' }),
      el('button', { type: 'button', text: 'Clear', onclick: () => go('dead-letters') }));

    const status = el('div', { id: 'dlq-status', role: 'status' });
    const replayButton = el('button', { type: 'button', id: 'replay', class: 'primary', text: 'Replay…', disabled: true, onclick: () => act('replay') });
    const discardButton = el('button', { type: 'button', id: 'discard', text: 'Discard…', disabled: true, onclick: () => act('discard') });
    const allButton = el('button', { type: 'button', id: 'select-all-matching', text: 'Select all matching the filter', onclick: () => { allMatching = !allMatching; drawSelection(); } });
    const selection = el('span', { id: 'selection', class: 'muted' });
    const tableHolder = el('div', { id: 'dlq-table' });
    const pager = el('div', { class: 'toolbar' });

    function drawSelection() {
      const any = allMatching || selected.size > 0;
      replayButton.disabled = !any;
      discardButton.disabled = !any;
      allButton.textContent = allMatching ? 'Select only checked rows' : 'Select all matching the filter';
      allButton.setAttribute('aria-pressed', String(allMatching));
      selection.textContent = allMatching ? 'every dead letter matching the filter'
        : selected.size ? `${selected.size} selected` : 'nothing selected';
      for (const box of tableHolder.querySelectorAll('input[data-id]')) {
        box.checked = allMatching || selected.has(box.dataset.id);
        box.disabled = allMatching;
      }
    }

    /** The request body naming what is selected. */
    function selectionBody() {
      if (allMatching) {
        const body = { all: true };
        if (filter.type) body.type = filter.type;
        if (filter.since) body.since = filter.since;
        if (filter.error) body.error = filter.error;
        if (filter.account) body.account = filter.account;
        return body;
      }
      return { ids: [...selected] };
    }

    async function act(action) {
      status.replaceChildren();
      try {
        const body = selectionBody();
        const dry = await api('dead-letters/' + action, { method: 'POST', body: { ...body, dry_run: true } });
        const count = action === 'replay' ? dry.replayed : dry.discarded;
        const what = count === 1 ? '1 dead letter' : `${count} dead letters`;
        const text = action === 'replay'
          ? `Replay ${what}? Each goes back on the queue with its attempts reset; an event already applied is logged as a duplicate.`
          : `Discard ${what}? Each is logged "discarded" and never retried.`;
        if (!(await confirm(action === 'replay' ? 'Replay dead letters' : 'Discard dead letters', text,
          `${action === 'replay' ? 'Replay' : 'Discard'} ${count}`))) return;
        const done = await api('dead-letters/' + action, { method: 'POST', body });
        const n = action === 'replay' ? done.replayed : done.discarded;
        selected.clear();
        allMatching = false;
        await load(pages[pages.length - 1]);
        status.replaceChildren(notice(`${action === 'replay' ? 'Replayed' : 'Discarded'} ${n} dead letter${n === 1 ? '' : 's'}.`));
      } catch (error) {
        failed(status, error);
      }
    }

    function row(letter) {
      const box = el('input', {
        type: 'checkbox', 'data-id': letter.id, 'aria-label': 'select ' + letter.id,
        onchange: (event) => {
          if (event.target.checked) selected.add(letter.id); else selected.delete(letter.id);
          drawSelection();
        },
      });
      return el('tr', { 'data-letter': letter.id },
        el('td', {}, box),
        el('td', {}, eventLink(letter.id)),
        el('td', { text: letter.event_type || '-' }),
        el('td', { class: 'account', text: letter.account || '-' }),
        el('td', {}, letter.object_id ? el('a', { href: '#/search?q=' + encodeURIComponent(letter.object_id), text: letter.object_id }) : '-'),
        el('td', { class: 'num', text: letter.attempts }),
        el('td', { class: 'error', text: letter.last_error || '-' }),
        el('td', { text: ago(letter.died_at) }));
    }

    async function load(after) {
      try {
        const page = await api('dead-letters?' + query(filter, after).toString());
        letters = page.letters;
        const pageBox = el('input', {
          type: 'checkbox', id: 'select-page', 'aria-label': 'select every letter on this page',
          onchange: (event) => {
            for (const l of letters) if (event.target.checked) selected.add(l.id); else selected.delete(l.id);
            drawSelection();
          },
        });
        tableHolder.replaceChildren(letters.length
          ? Console.table([{ text: '' }, 'event', 'type', 'account', 'object', { class: 'num', text: 'attempts' }, 'last error', 'died'],
            letters.map(row), { id: 'letters' })
          : el('p', { class: 'muted', id: 'no-letters',
            text: page.next ? 'None of the letters read so far match; older ones may (Older →).' : 'No dead letters match.' }));
        const head = tableHolder.querySelector('thead th');
        if (head) head.append(pageBox);
        pager.replaceChildren(
          el('button', {
            type: 'button', id: 'previous-page', text: '← Newer', disabled: pages.length < 2,
            onclick: () => { pages.pop(); load(pages[pages.length - 1]); },
          }),
          el('button', {
            type: 'button', id: 'next-page', text: 'Older →', disabled: !page.next,
            onclick: () => { pages.push(page.next); load(page.next); },
          }),
          el('span', { class: 'muted', text: `page ${pages.length}` }));
        drawSelection();
      } catch (error) {
        failed(tableHolder, error);
      }
    }

    main.append(
      el('h1', { text: 'Dead letters' }),
      form,
      el('div', { class: 'toolbar' }, replayButton, discardButton, allButton, selection),
      status,
      tableHolder,
      pager);
    load(pages[0]);
  });
})();
