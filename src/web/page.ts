/**
 * The live view's single page: plain HTML, CSS and a small script, no build step. Everything
 * arrives over one WebSocket (`/ws`), pushed by the analyzer; the page never polls. The search box
 * asks the history (`POST /v1/ask`) only when a question is submitted.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Vigil live</title>
<style>
  :root { color-scheme: dark; --bg:#101418; --card:#1a2027; --fg:#e6edf3; --dim:#8b98a5; --accent:#4fb3ff; --warn:#f0b429; --bad:#ff6b6b; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--fg); }
  header { display:flex; gap:1rem; align-items:baseline; padding:.6rem 1rem; border-bottom:1px solid #263039; }
  header h1 { margin:0; font-size:1.1rem; }
  #conn { color:var(--dim); }
  #conn.up { color:#5fd068; }
  main { display:grid; grid-template-columns: 1fr 320px; gap:1rem; padding:1rem; }
  #grid { display:grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap:1rem; align-content:start; }
  #empty { color:var(--dim); }
  .card { background:var(--card); border-radius:8px; overflow:hidden; }
  .card h2 { margin:0; padding:.5rem .7rem; font-size:1rem; display:flex; justify-content:space-between; gap:.5rem; }
  .state { font-size:.8rem; padding:0 .4rem; border-radius:4px; background:#263039; }
  .state.live, .state.recovered { background:#1f4d2b; }
  .state.failed, .state.down { background:#5a1f1f; }
  .state.stalled { background:#5a4a1f; }
  .frame { position:relative; background:#000; aspect-ratio:16/9; }
  .frame img { width:100%; height:100%; object-fit:fill; display:block; }
  .box { position:absolute; border:2px solid var(--accent); pointer-events:none; }
  .label { position:absolute; font-size:.7rem; line-height:1.2; background:var(--accent); color:#000; padding:0 .2rem; white-space:nowrap; pointer-events:none; }
  .metrics { display:flex; gap:1rem; padding:.4rem .7rem; color:var(--dim); font-variant-numeric:tabular-nums; }
  .summary { padding:.2rem .7rem .7rem; min-height:2.8em; }
  .error { color:var(--bad); padding:0 .7rem .5rem; }
  aside h2 { font-size:1rem; margin:0 0 .5rem; }
  #events { list-style:none; margin:0; padding:0; max-height:80vh; overflow:auto; }
  #events li { background:var(--card); border-left:3px solid var(--accent); margin-bottom:.4rem; padding:.3rem .5rem; border-radius:4px; }
  #events li.warning { border-color:var(--warn); }
  #events li.critical { border-color:var(--bad); }
  #events .when { color:var(--dim); font-size:.8rem; }
  /* Ask the history (search box): its own section. */
  #ask { display:flex; gap:.4rem; flex:1; max-width:42rem; margin-left:auto; }
  #ask input { flex:1; background:var(--card); color:var(--fg); border:1px solid #263039; border-radius:4px; padding:.3rem .5rem; }
  #ask button { background:var(--accent); color:#000; border:0; border-radius:4px; padding:.3rem .8rem; }
  #answer { margin:0 1rem; padding:.6rem .8rem; background:var(--card); border-radius:8px; }
  #answer .sentence { margin:0 0 .5rem; }
  #answer ol { list-style:none; margin:0; padding:0; display:flex; flex-wrap:wrap; gap:.6rem; }
  #answer li { width:200px; }
  #answer li img { width:200px; aspect-ratio:16/9; object-fit:cover; background:#000; display:block; border-radius:4px; }
  #answer .when { color:var(--dim); font-size:.8rem; }
  #events li { display:flex; gap:.5rem; align-items:center; }
  #events .thumb { width:64px; height:auto; border-radius:3px; flex:0 0 auto; }
${languageStyle()}
</style>
</head>
<body>
<header><h1>Vigil</h1><span id="conn">connecting…</span><span id="count"></span>
<form id="ask" autocomplete="off"><input id="q" name="q" maxlength="2000" placeholder="Ask the history: when did a truck stop at the gate?" aria-label="Question"><button type="submit">Ask</button></form></header>
<section id="answer" hidden aria-live="polite"></section>
<main>
  <section id="grid"><p id="empty">No streams attached. Attach one with <code>vigil attach &lt;url&gt; --name NAME</code>.</p></section>
  <aside><h2>Events</h2><ul id="events"></ul></aside>
</main>
<script>
(() => {
  const MAX_EVENTS = 200;
  const grid = document.getElementById('grid');
  const empty = document.getElementById('empty');
  const eventsEl = document.getElementById('events');
  const conn = document.getElementById('conn');
  const count = document.getElementById('count');
  const cards = new Map();
  const token = new URLSearchParams(location.search).get('token');
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&':'&amp;', '<':'&lt;', '>':'&gt;', '"':'&quot;', "'":'&#39;' }[c]));
  const clock = (ns) => { const t = Math.max(0, Math.floor(ns / 1e9)); const m = Math.floor(t / 60), s = t % 60; return String(m).padStart(2,'0') + ':' + String(s).padStart(2,'0'); };

  function card(id) {
    let c = cards.get(id);
    if (c) return c;
    const el = document.createElement('article');
    el.className = 'card';
    el.dataset.stream = id;
    el.innerHTML = '<h2><span class="name"></span><span class="state"></span></h2>' +
      '<div class="frame"><img alt=""></div>' +
      '<div class="metrics"><span class="fps">– fps</span><span class="latency">– ms</span><span class="counts"></span></div>' +
      '<div class="summary">Waiting for the first summary…</div><div class="error" hidden></div>';
    el.querySelector('.name').textContent = id;
    grid.appendChild(el);
    c = { el, img: el.querySelector('img'), frame: el.querySelector('.frame') };
    // Labels are placed in pixels, so place them again whenever the frame's size changes (first image load, layout).
    const frame = c.frame;
    c.img.addEventListener('load', () => placeLabels(frame));
    if (window.ResizeObserver) new ResizeObserver(() => placeLabels(frame)).observe(frame);
    cards.set(id, c);
    empty.hidden = true;
    count.textContent = cards.size + ' stream' + (cards.size === 1 ? '' : 's');
    return c;
  }
  function info(s) {
    const c = card(s.id);
    const st = c.el.querySelector('.state');
    st.textContent = s.state; st.className = 'state ' + s.state;
    c.el.dataset.state = s.state;
    c.el.querySelector('.fps').textContent = (s.fps ?? 0).toFixed(1) + ' fps';
    c.el.querySelector('.latency').textContent = s.latencyMs == null ? '– ms' : Math.round(s.latencyMs) + ' ms';
    c.el.querySelector('.counts').textContent = s.counters.keyframes + ' keyframes, ' + s.counters.events + ' events';
    const err = c.el.querySelector('.error');
    err.hidden = !s.error; err.textContent = s.error ? s.error.code + ': ' + s.error.message : '';
  }
  function keyframe(k) {
    const c = card(k.streamId);
    c.img.src = 'data:image/jpeg;base64,' + k.jpeg;
    c.el.dataset.keyframe = k.keyframeId;
    c.frame.querySelectorAll('.box, .label').forEach((b) => b.remove());
    for (const d of k.detections) {
      const b = document.createElement('div');
      b.className = 'box';
      b.style.left = (100 * d.box.x / k.sourceWidth) + '%';
      b.style.top = (100 * d.box.y / k.sourceHeight) + '%';
      b.style.width = (100 * d.box.w / k.sourceWidth) + '%';
      b.style.height = (100 * d.box.h / k.sourceHeight) + '%';
      c.frame.appendChild(b);
      const l = document.createElement('span');
      l.className = 'label';
      l.textContent = d.label + ' ' + Math.round(d.score * 100) + '%';
      l.box = b;
      c.frame.appendChild(l);
    }
    placeLabels(c.frame);
  }
  // --- Box labels: placed so that no two overlap and each stays inside the frame (issue 18 §5). ---
  function placeLabels(frame) {
    const fr = frame.getBoundingClientRect();
    // Not laid out yet (image still loading): keep labels hidden rather than stacked at one spot.
    if (fr.width === 0 || fr.height === 0) { for (const l of frame.querySelectorAll('.label')) l.hidden = true; return; }
    const placed = [];
    const hit = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    const free = (r) => r.x >= 0 && r.y >= 0 && r.x + r.w <= fr.width && r.y + r.h <= fr.height && !placed.some((p) => hit(p, r));
    const labels = [...frame.querySelectorAll('.label')];
    // Measure every label shown: a hidden one measures 0×0 and would be placed on top of another.
    for (const l of labels) l.hidden = false;
    for (const l of labels) {
      const br = l.box.getBoundingClientRect();
      const w = Math.ceil(l.offsetWidth), h = Math.ceil(l.offsetHeight);
      const bx = br.left - fr.left, by = br.top - fr.top;
      const clampX = (x) => Math.max(0, Math.min(fr.width - w, x));
      const cands = [];
      for (const x of [clampX(bx), clampX(bx + br.width - w)])
        cands.push({ x, y: by - h, w, h }, { x, y: by, w, h }, { x, y: by + br.height, w, h }, { x, y: by + br.height - h, w, h });
      let best = cands.find(free) || null;
      if (!best) {
        let d0 = Infinity;
        for (let y = 0; y + h <= fr.height; y += Math.max(1, h / 4))
          for (let x = 0; x + w <= fr.width; x += Math.max(1, w / 4)) {
            const d = (x - bx) ** 2 + (y - by + h) ** 2;
            if (d < d0 && free({ x, y, w, h })) { best = { x, y, w, h }; d0 = d; }
          }
      }
      l.hidden = !best;
      if (!best) continue;
      placed.push(best);
      l.style.left = best.x + 'px';
      l.style.top = best.y + 'px';
    }
  }
  window.addEventListener('resize', () => { for (const c of cards.values()) placeLabels(c.frame); });
  function summary(s) {
    const c = card(s.streamId);
    c.el.querySelector('.summary').textContent = '[' + clock(s.startPtsNs) + '–' + clock(s.endPtsNs) + '] ' + s.text;
  }
  function event(e) {
    const li = document.createElement('li');
    li.className = 'event ' + e.severity;
    li.dataset.stream = e.streamId;
    li.dataset.type = e.type;
    li.innerHTML = eventHtml(e);
    eventsEl.prepend(li);
    while (eventsEl.children.length > MAX_EVENTS) eventsEl.lastChild.remove();
  }
  // --- Events as sentences with their keyframe's thumbnail (never raw nanosecond fields). ---
  function eventHtml(e) {
    const thumb = e.thumb ? '<img class="thumb" alt="" src="data:image/jpeg;base64,' + esc(e.thumb) + '">' : '';
    const text = e.sentence || (e.type + ' at ' + clock(e.ptsNs));
    return thumb + '<div><div class="sentence">' + esc(text) + '</div><div class="when">' + esc(e.streamId) + ' · ' + new Date(e.timeMs).toLocaleTimeString() + '</div></div>';
  }
  function remove(id) {
    const c = cards.get(id);
    if (c) { c.el.remove(); cards.delete(id); }
    empty.hidden = cards.size > 0;
    count.textContent = cards.size ? cards.size + ' stream' + (cards.size === 1 ? '' : 's') : '';
  }
  const handlers = {
    snapshot(m) { for (const id of [...cards.keys()]) remove(id); m.streams.forEach(info); m.keyframes.forEach(keyframe); m.summaries.forEach(summary); eventsEl.textContent = ''; m.events.forEach(event); },
    stream(m) { info(m.info); },
    stats(m) { m.streams.forEach(info); },
    detached(m) { remove(m.id); },
    keyframe, summary(m) { summary(m.summary); }, event(m) { event(m.event); },
  };
${languageScript()}
  let delay = 500;
  function open() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' + (token ? '?token=' + encodeURIComponent(token) : '');
    const ws = new WebSocket(url);
    ws.onopen = () => { conn.textContent = 'live'; conn.className = 'up'; delay = 500; };
    ws.onmessage = (ev) => { const m = JSON.parse(ev.data); const h = handlers[m.type]; if (h) h(m); };
    ws.onclose = () => { conn.textContent = 'disconnected, reconnecting…'; conn.className = ''; setTimeout(open, delay); delay = Math.min(10000, delay * 2); };
  }
  open();
})();
// ---- Ask the history: the search box (POST /v1/ask), the answer sentence with its evidence. ----
(() => {
  const MAX_ITEMS = 8, MAX_THUMBS = 2;
  const form = document.getElementById('ask');
  const input = document.getElementById('q');
  const out = document.getElementById('answer');
  const token = new URLSearchParams(location.search).get('token');
  const auth = token ? { authorization: 'Bearer ' + token } : {};
  const streamTime = (ms) => { const t = Math.max(0, ms) / 1000; const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = Math.floor(t % 60); return (h ? h + ':' + String(m).padStart(2, '0') : String(m)) + ':' + String(s).padStart(2, '0'); };
  let urls = [];
  let seq = 0;
  function reset() { for (const u of urls) URL.revokeObjectURL(u); urls = []; out.textContent = ''; }
  // Thumbnails need the bearer token: fetched, then shown from a blob: URL.
  async function thumbnail(img, url, mine) {
    const res = await fetch(url, { headers: auth }).catch(() => null);
    if (!res || !res.ok || mine !== seq) return;
    const u = URL.createObjectURL(await res.blob());
    urls.push(u);
    img.src = u;
  }
  function render(a, mine) {
    reset();
    out.hidden = false;
    out.dataset.empty = String(a.empty);
    const p = document.createElement('p');
    p.className = 'sentence';
    p.textContent = a.answer;
    out.appendChild(p);
    const list = document.createElement('ol');
    for (const e of a.evidence.slice(0, MAX_ITEMS)) {
      const li = document.createElement('li');
      li.className = 'evidence';
      li.dataset.stream = e.stream;
      li.dataset.startMs = String(e.startMs);
      li.dataset.endMs = String(e.endMs);
      for (const url of e.thumbnails.slice(0, MAX_THUMBS)) {
        const img = document.createElement('img');
        img.alt = e.stream + ' at ' + streamTime(e.startMs);
        li.appendChild(img);
        thumbnail(img, url, mine);
      }
      const when = document.createElement('div');
      when.className = 'when';
      when.textContent = e.stream + ' ' + streamTime(e.startMs) + (e.endMs > e.startMs ? '–' + streamTime(e.endMs) : '') + ' · ' + new Date(e.wallStart).toLocaleTimeString();
      const text = document.createElement('div');
      text.className = 'text';
      text.textContent = e.text;
      li.append(when, text);
      list.appendChild(li);
    }
    out.appendChild(list);
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const question = input.value.trim();
    if (!question) return;
    const mine = ++seq;
    out.hidden = false;
    out.dataset.state = 'asking';
    try {
      const res = await fetch('/v1/ask', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ question }) });
      const body = await res.json();
      if (mine !== seq) return;
      if (!res.ok) { reset(); out.textContent = (body.error && body.error.message) || ('error ' + res.status); out.dataset.state = 'error'; return; }
      render(body, mine);
      out.dataset.state = 'answered';
    } catch (err) {
      if (mine !== seq) return;
      reset(); out.textContent = 'The analyzer could not be reached.'; out.dataset.state = 'error';
    }
  });
})();
</script>
</body>
</html>
`;

// --- Language stages: the latest caption and transcripts per stream card (absent without models) ---

function languageStyle(): string {
  return `  .language { padding:0 .7rem .6rem; font-size:.85rem; }
  .language .caption { color:var(--fg); font-style:italic; }
  .language .caption:empty, .language ul:empty { display:none; }
  .language ul { list-style:none; margin:.3rem 0 0; padding:0; color:var(--dim); }
  .language li { margin:.1rem 0; }
  .language .t { font-variant-numeric:tabular-nums; margin-right:.3rem; }`;
}

/**
 * Inside the page's script: handlers for caption and transcript messages (and the snapshot's
 * lists). Model text is untrusted: it goes into the page as text only, never as markup.
 */
function languageScript(): string {
  return `  const MAX_TRANSCRIPTS = 5;
  const secs = (ns) => (Math.max(0, ns) / 1e9).toFixed(1) + ' s';
  function languageBox(id) {
    const c = card(id);
    let box = c.el.querySelector('.language');
    if (!box) {
      box = document.createElement('div');
      box.className = 'language';
      box.innerHTML = '<div class="caption"></div><ul class="transcripts"></ul>';
      c.el.insertBefore(box, c.el.querySelector('.error'));
    }
    return box;
  }
  function caption(k) {
    const el = languageBox(k.streamId).querySelector('.caption');
    el.textContent = '[' + clock(k.ptsNs) + '] ' + k.text;
    el.title = k.model + ', keyframe ' + k.keyframeId;
    el.dataset.keyframe = k.keyframeId;
  }
  function transcript(t) {
    const ul = languageBox(t.streamId).querySelector('.transcripts');
    const li = document.createElement('li');
    li.className = 'transcript';
    const when = document.createElement('span');
    when.className = 't';
    when.textContent = secs(t.startPtsNs) + '–' + secs(t.endPtsNs);
    li.appendChild(when);
    li.appendChild(document.createTextNode('“' + t.text + '”'));
    li.title = t.model + (t.language ? ', ' + t.language : '');
    ul.prepend(li);
    while (ul.children.length > MAX_TRANSCRIPTS) ul.lastChild.remove();
  }
  const snapshotBeforeLanguage = handlers.snapshot;
  handlers.snapshot = (m) => {
    snapshotBeforeLanguage(m);
    (m.captions || []).forEach(caption);
    (m.transcripts || []).forEach(transcript);
  };
  handlers.caption = (m) => caption(m.caption);
  handlers.transcript = (m) => transcript(m.transcript);`;
}
