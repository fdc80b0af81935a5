// The console's frame: the session (sign-in, the CSRF token every POST
// carries), calls to /console/api/, the router over `#/page/arg?query`,
// a DOM builder that only ever sets text (no HTML from data), and the
// confirmation dialog. Each page registers itself from its own file.
'use strict';

const Console = (() => {
  const pages = {};
  let csrf = null;
  let leave = null;

  /** Builds an element: attributes (`on*` are listeners), then children. */
  function el(tag, attrs = {}, ...children) {
    const node = tag === 'svg' || attrs.svg
      ? document.createElementNS('http://www.w3.org/2000/svg', tag)
      : document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === 'svg' || value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'text') node.textContent = value;
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Replaces `root`'s children, skipping the absent ones. */
  function fill(root, ...children) {
    root.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  class SignedOut extends Error {}

  async function api(path, { method = 'GET', body } = {}) {
    const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (method !== 'GET') {
      init.headers['Content-Type'] = 'application/json';
      init.headers['X-CSRF-Token'] = csrf || '';
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch('/console/api/' + path, init);
    const data = await response.json().catch(() => ({}));
    if (response.status === 401 && !path.startsWith('session')) {
      signIn();
      throw new SignedOut('signed out');
    }
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function register(name, render) {
    pages[name] = render;
  }

  /** `#/dead-letters?type=x` -> { name, arg, params }. */
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [path, query = ''] = raw.split('?');
    const [name, ...rest] = path.split('/');
    return {
      name: name || 'overview',
      arg: rest.length ? decodeURIComponent(rest.join('/')) : '',
      params: new URLSearchParams(query),
    };
  }

  function go(name, arg = '', params = null) {
    const query = params && params.toString() ? '?' + params.toString() : '';
    location.hash = '#/' + name + (arg ? '/' + encodeURIComponent(arg) : '') + query;
  }

  function route() {
    if (leave) { leave(); leave = null; }
    const { name, arg, params } = parseHash();
    const render = pages[name] || pages.overview;
    for (const link of document.querySelectorAll('#nav a')) {
      if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const main = document.getElementById('main');
    main.replaceChildren();
    try {
      leave = render(main, arg, params) || null;
    } catch (error) {
      main.append(notice(error.message, true));
    }
  }

  function notice(text, bad = false) {
    return el('p', { class: bad ? 'notice bad' : 'notice', role: bad ? 'alert' : 'status', text });
  }

  /** Shows `error` in `root`, unless it only means the session ended. */
  function failed(root, error) {
    if (error instanceof SignedOut) return;
    root.replaceChildren(notice(error.message, true));
  }

  function signedIn(yes) {
    document.getElementById('nav').hidden = !yes;
    document.getElementById('sign-out').hidden = !yes;
  }

  function signIn() {
    if (leave) { leave(); leave = null; }
    signedIn(false);
    const main = document.getElementById('main');
    const input = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true });
    const message = el('p', { id: 'signin-message', role: 'alert' });
    const form = el('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        message.textContent = '';
        try {
          const session = await api('session', { method: 'POST', body: { token: input.value } });
          csrf = session.csrf;
          input.value = '';
          signedIn(true);
          route();
        } catch (error) {
          message.textContent = error.message;
          message.className = 'notice bad';
        }
      },
    },
      el('label', { for: 'token', text: 'Admin token (TETHER_ADMIN_TOKEN)' }),
      input,
      el('button', { type: 'submit', class: 'primary', id: 'sign-in', text: 'Sign in' }),
      message);
    main.replaceChildren(el('section', { class: 'signin card' }, el('h1', { text: 'Sign in' }), form));
    input.focus();
  }

  async function signOut() {
    await api('session/end', { method: 'POST' }).catch(() => {});
    const session = await api('session');
    csrf = session.csrf;
    signIn();
  }

  /** Asks the confirmation dialog; resolves true on Confirm. */
  function confirm(title, text, action) {
    const dialog = document.getElementById('confirm');
    document.getElementById('confirm-title').textContent = title;
    document.getElementById('confirm-text').textContent = text;
    document.getElementById('confirm-ok').textContent = action;
    dialog.returnValue = '';
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    });
  }

  // Formatting shared by the pages.
  function ago(iso) {
    if (!iso) return '-';
    const secs = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    return duration(secs) + ' ago';
  }
  function duration(secs) {
    if (secs === null || secs === undefined) return '-';
    if (secs < 90) return secs.toFixed(secs < 10 ? 1 : 0) + ' s';
    if (secs < 5400) return (secs / 60).toFixed(0) + ' min';
    if (secs < 172800) return (secs / 3600).toFixed(1) + ' h';
    return (secs / 86400).toFixed(1) + ' d';
  }
  function time(iso) {
    return iso ? new Date(iso).toLocaleString() : '-';
  }
  function eventLink(id) {
    return el('a', { href: '#/event/' + encodeURIComponent(id), text: id });
  }
  function table(headers, rows, attrs = {}) {
    return el('table', attrs,
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', typeof h === 'string' ? { text: h } : h)))),
      el('tbody', {}, rows));
  }

  async function start() {
    document.getElementById('sign-out').addEventListener('click', signOut);
    window.addEventListener('hashchange', () => { if (csrf && !document.getElementById('nav').hidden) route(); });
    document.addEventListener('keydown', (event) => {
      const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
      if (event.key === '/' && !typing && !document.getElementById('nav').hidden) {
        event.preventDefault();
        go('search');
      }
    });
    try {
      const session = await api('session');
      csrf = session.csrf;
      if (session.signed_in) { signedIn(true); route(); } else signIn();
    } catch (error) {
      document.getElementById('main').replaceChildren(notice(error.message, true));
    }
  }

  document.addEventListener('DOMContentLoaded', start);

  return { el, fill, api, register, go, notice, failed, confirm, ago, duration, time, eventLink, table };
})();
