/**
 * The live page: one HTML file, a stylesheet and a script, served by the
 * exporter itself (no build step, no CDN: it works offline). The script
 * listens to `/events` (server-sent events, each a full state as JSON)
 * and builds the page with DOM calls only: every id, QOM path, node name
 * and error text goes in through `textContent`, never as markup. The
 * Content-Security-Policy the server sends allows scripts and styles from
 * the exporter only, no inline ones, as a second line of defence.
 */

export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>QEMU IOThreads</title>
<link rel="stylesheet" href="/page.css">
<script src="/page.js" defer></script>
</head>
<body>
<header>
<h1>QEMU IOThreads</h1>
<p id="status" class="status">connecting…</p>
<p id="summary" class="summary"></p>
</header>
<main id="vms"></main>
<noscript>This page needs JavaScript; the same data is at <a href="/metrics">/metrics</a> and \
<a href="/api/state">/api/state</a>.</noscript>
</body>
</html>
`;

export const PAGE_CSS = `:root { color-scheme: light dark; --ok: #2e7d32; --down: #c62828; --bar: #1565c0; \
--muted: #777; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; }
header h1 { margin: 0 0 .2em; font-size: 1.4em; }
.status, .summary { margin: .2em 0; color: var(--muted); }
.status.live::before { content: "● "; color: var(--ok); }
.status.lost::before { content: "● "; color: var(--down); }
section.vm { border: 1px solid #8884; border-radius: 6px; padding: .5em 1em; margin: 1em 0; }
section.vm h2 { font-size: 1.1em; margin: .2em 0; display: flex; gap: .8em; align-items: baseline; flex-wrap: wrap; }
.badge { font-size: .8em; font-weight: normal; padding: 0 .5em; border-radius: 3px; border: 1px solid currentColor; }
.badge.up { color: var(--ok); }
.badge.down { color: var(--down); }
.badge.pending { color: var(--muted); }
.meta { font-size: .8em; font-weight: normal; color: var(--muted); }
.error { color: var(--down); white-space: pre-wrap; word-break: break-all; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .25em .6em; border-bottom: 1px solid #8883; }
th { font-weight: 600; font-size: .85em; color: var(--muted); }
td.num { font-variant-numeric: tabular-nums; }
.bar { height: .9em; background: var(--bar); border-radius: 2px; min-width: 2px; }
.barcell { width: 20%; }
ul.holders { list-style: none; margin: 0; padding: 0; }
ul.holders li { font-family: ui-monospace, monospace; word-break: break-all; white-space: pre-wrap; }
.kind { font-family: system-ui, sans-serif; font-size: .75em; color: var(--muted); margin-right: .5em; }
.none { color: var(--muted); font-style: italic; }
`;

/** Runs in the browser; plain JavaScript, no modules, no dependencies. */
export const PAGE_JS = `'use strict';
(function () {
  var vmsEl = document.getElementById('vms');
  var statusEl = document.getElementById('status');
  var summaryEl = document.getElementById('summary');

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function renderIothreads(vm) {
    var table = el('table');
    var head = el('tr');
    ['IOThread', 'thread id', 'holders', 'balance', 'who'].forEach(function (h) { head.appendChild(el('th', '', h)); });
    table.appendChild(el('thead')).appendChild(head);
    var body = el('tbody');
    var most = 0;
    vm.iothreads.forEach(function (t) { if (t.entries > most) most = t.entries; });
    vm.iothreads.forEach(function (t) {
      var tr = el('tr', 'iothread');
      tr.dataset.iothread = t.id;
      tr.appendChild(el('td', 'id', t.id));
      tr.appendChild(el('td', 'num tid', t.threadId));
      tr.appendChild(el('td', 'num count', t.entries));
      var barCell = el('td', 'barcell');
      var bar = el('div', 'bar');
      bar.style.width = (most === 0 ? 0 : (100 * t.entries) / most) + '%';
      bar.title = t.entries + ' of ' + most;
      barCell.appendChild(bar);
      tr.appendChild(barCell);
      var who = el('td');
      if (t.holders.length === 0) who.appendChild(el('span', 'none', 'no holders'));
      else {
        var ul = el('ul', 'holders');
        t.holders.forEach(function (h) {
          var li = el('li', 'holder');
          li.dataset.type = h.type;
          li.appendChild(el('span', 'kind', h.type));
          li.appendChild(el('span', 'name', h.holder));
          if (h.count > 1) li.appendChild(el('span', 'kind', ' ×' + h.count));
          ul.appendChild(li);
        });
        who.appendChild(ul);
      }
      tr.appendChild(who);
      body.appendChild(tr);
    });
    table.appendChild(body);
    return table;
  }

  function renderVm(vm) {
    var section = el('section', 'vm');
    section.dataset.vm = vm.vm;
    var h2 = el('h2');
    h2.appendChild(el('span', 'name', vm.vm));
    var state = vm.up ? 'up' : vm.at === 0 ? 'pending' : 'down';
    h2.appendChild(el('span', 'badge ' + state, state === 'pending' ? 'first refresh under way' : state));
    var meta = vm.target + ' · ' + Math.round(vm.seconds * 1000) + ' ms';
    if (vm.up) {
      meta = (vm.source === 'reported' ? 'holders reported by QEMU' : 'holders derived from QOM') + ' · ' + meta;
    }
    h2.appendChild(el('span', 'meta', meta));
    section.appendChild(h2);
    if (state === 'down') section.appendChild(el('p', 'error', vm.error || 'down'));
    else if (state === 'pending') section.appendChild(el('p', 'none', 'waiting for its first answer'));
    else if (vm.iothreads.length === 0) section.appendChild(el('p', 'none', 'no IOThreads'));
    else section.appendChild(renderIothreads(vm));
    return section;
  }

  function render(state) {
    var frag = document.createDocumentFragment();
    var up = 0, threads = 0, idle = 0;
    state.vms.forEach(function (vm) {
      if (vm.up) up++;
      vm.iothreads.forEach(function (t) { threads++; if (t.entries === 0) idle++; });
      frag.appendChild(renderVm(vm));
    });
    vmsEl.replaceChildren(frag);
    summaryEl.textContent = state.vms.length + ' VMs (' + up + ' up), ' + threads + ' IOThreads, ' +
      idle + ' without holders · updated ' + new Date(state.at).toLocaleTimeString();
    document.body.dataset.updated = String(state.at);
  }

  function connect() {
    var source = new EventSource('/events');
    source.addEventListener('state', function (e) {
      statusEl.textContent = 'live';
      statusEl.className = 'status live';
      render(JSON.parse(e.data));
    });
    source.onerror = function () {
      statusEl.textContent = 'connection lost, retrying…';
      statusEl.className = 'status lost';
    };
  }
  connect();
})();
`;
