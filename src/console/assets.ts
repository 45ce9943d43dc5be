/**
 * The console's own assets, served from /assets (no CDN: operators' machines may be offline).
 * Kept as text here so the build needs no copying step. The script only enhances: every page
 * works without it (forms post, links download); with it, lists and runs update themselves and the
 * CSR has a copy button.
 */

const CSS = `
:root { --fg:#1d2330; --muted:#5b6475; --line:#d8dde6; --bg:#f6f7f9; --accent:#0b5cad; --ok:#1e7a3c; --bad:#b3261e; --wait:#a15c00; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; align-items:center; gap:24px; padding:10px 20px; background:#14213d; color:#fff; }
header a { color:#fff; text-decoration:none; }
header .brand { font-weight:700; letter-spacing:.02em; }
nav { display:flex; align-items:center; gap:16px; flex:1; }
nav .who { margin-left:auto; color:#cfd6e4; }
main { max-width:1200px; margin:0 auto; padding:18px 20px 40px; }
h1 { font-size:20px; margin:4px 0 12px; }
h2 { font-size:16px; margin:22px 0 8px; }
table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef1f5; font-weight:600; font-size:12px; text-transform:uppercase; color:var(--muted); }
tr.waiting td { background:#fff6e5; }
code, pre, textarea { font:12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background:#fff; border:1px solid var(--line); padding:8px; overflow:auto; }
textarea { width:100%; min-height:120px; }
input[type=text], input[type=number], select { padding:4px 6px; min-width:220px; }
label { display:block; margin:6px 0 2px; font-weight:600; }
.hint { color:var(--muted); font-size:12px; }
.flash { padding:8px 12px; border-radius:4px; }
.flash.ok { background:#e6f4ea; border:1px solid #9bd3ae; }
.flash.error, .refusal { background:#fdecea; border:1px solid #f1aeaa; color:var(--bad); padding:8px 12px; border-radius:4px; }
.state-completed { color:var(--ok); font-weight:600; }
.state-failed, .state-cancelled { color:var(--bad); font-weight:600; }
.state-waiting-for-input { color:var(--wait); font-weight:600; }
.state-running { color:var(--accent); font-weight:600; }
.question { background:#fff; border:2px solid var(--wait); border-radius:6px; padding:10px 14px; margin:12px 0; }
.answers { display:grid; grid-template-columns:repeat(auto-fill, minmax(300px, 1fr)); gap:12px; }
.answers form, .card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:10px 12px; }
button { background:var(--accent); color:#fff; border:0; border-radius:4px; padding:6px 12px; cursor:pointer; font-weight:600; }
button.secondary { background:#e3e8ef; color:var(--fg); }
button.danger { background:var(--bad); }
button.link { background:none; color:#cfd6e4; padding:0; font-weight:400; text-decoration:underline; }
form.inline { display:inline; margin:0; }
.filters { display:flex; gap:10px; align-items:end; flex-wrap:wrap; margin-bottom:12px; }
.filters label { font-weight:400; font-size:12px; }
.verdict.accepted { border:2px solid var(--ok); }
.verdict.refused { border:2px solid var(--bad); }
.timeline { background:#fff; border:1px solid var(--line); }
.banner { background:var(--bad); color:#fff; padding:8px 12px; font-weight:700; border-radius:4px; }
.muted { color:var(--muted); }
.row { display:flex; gap:16px; flex-wrap:wrap; }
.row > * { flex:1; min-width:320px; }
`;

const JS = `
(function () {
  'use strict';
  var dirty = false;
  document.addEventListener('input', function () { dirty = true; });
  // Live updates: fetch the page again and swap the parts marked data-live, unless a form is being filled in.
  var refresh = document.body.getAttribute('data-refresh');
  if (refresh) {
    setInterval(function () {
      if (dirty || (document.activeElement && document.activeElement.form)) return;
      fetch(refresh, { credentials: 'same-origin', headers: { 'x-ekm-live': '1' } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) return;
          var next = new DOMParser().parseFromString(text, 'text/html');
          document.querySelectorAll('[data-live]').forEach(function (el) {
            var fresh = next.getElementById(el.id);
            if (fresh) el.innerHTML = fresh.innerHTML;
          });
        })
        .catch(function () {});
    }, 5000);
  }
  // Copy buttons: data-copy names the element whose text to copy.
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('[data-copy]');
    if (!button) return;
    var source = document.getElementById(button.getAttribute('data-copy'));
    if (!source) return;
    var text = source.value || source.textContent;
    var done = function () { button.textContent = 'Copied'; setTimeout(function () { button.textContent = 'Copy'; }, 2000); };
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, function () { source.select && source.select(); });
    else if (source.select) { source.select(); document.execCommand('copy'); done(); }
  });
  document.querySelectorAll('[data-copy]').forEach(function (b) { b.hidden = false; });
})();
`;

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#14213d"/><path d="M5 7V5a3 3 0 0 1 6 0v2h1v7H4V7zm2 0h2V5a1 1 0 0 0-2 0z" fill="#fff"/></svg>`;

export const ASSETS: Record<string, { type: string; body: string }> = {
  'console.css': { type: 'text/css; charset=utf-8', body: CSS },
  'console.js': { type: 'text/javascript; charset=utf-8', body: JS },
  'favicon.svg': { type: 'image/svg+xml', body: FAVICON },
};
