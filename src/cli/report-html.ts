/**
 * `vigil analyze --report DIR`'s report.html: one self-contained page (inline CSS, no script, no
 * network) that opens from disk. Its images are the JPEG files next to it (evidence/, relative
 * links). Sections: the stream's timeline (events, scene cuts, keyframes), keyframe thumbnails,
 * the events as sentences, the objects (label, start, end, dwell, crop), the summaries with their
 * time ranges, and captions / transcripts when there are any. Every piece of text from the stream,
 * a model or the user (labels, summaries, OCR text, captions, names) is HTML-escaped.
 */
import { describeEvent, duration } from '../web/sentences.js';
import { clock } from './format.js';
import type { AnalysisReport, ReportEvent } from './report.js';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c]!);
}

/** A relative link to a file in the report directory (never a URL with a scheme). */
function href(file: string): string {
  return file
    .split('/')
    .map((p) => encodeURIComponent(p))
    .join('/');
}

const img = (file: string | null | undefined, alt: string, cls = 'thumb'): string =>
  file ? `<img class="${cls}" src="${escapeHtml(href(file))}" alt="${escapeHtml(alt)}" loading="lazy">` : '';

const CSS = `
:root { --bg:#fff; --fg:#1d232a; --dim:#66727f; --line:#d9dee3; --accent:#1f6feb; --cut:#d1242f; --ev:#1a7f37; --kf:#8c959f; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem 3rem; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 1.4rem; margin: .2rem 0 .4rem; }
h2 { font-size: 1.1rem; margin: 2rem 0 .6rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
.meta { color: var(--dim); margin: 0; padding-left: 1.1rem; }
.track { position: relative; height: 58px; margin: .4rem 0 .2rem; background: #f6f8fa; border: 1px solid var(--line); border-radius: 4px; }
.lane { position: absolute; left: 0; right: 0; height: 18px; }
.lane.kf { top: 2px; } .lane.cut { top: 20px; } .lane.ev { top: 38px; }
.mark { position: absolute; top: 2px; width: 3px; height: 14px; margin-left: -1px; border-radius: 1px; background: var(--kf); }
.lane.cut .mark { background: var(--cut); width: 4px; }
.lane.ev .mark { background: var(--ev); }
.lane-names { display: flex; gap: 1.2rem; color: var(--dim); font-size: .8rem; }
.lane-names span::before { content: ''; display: inline-block; width: 10px; height: 10px; margin-right: .3rem; vertical-align: -1px; border-radius: 2px; }
.lane-names .kf::before { background: var(--kf); } .lane-names .cut::before { background: var(--cut); } .lane-names .ev::before { background: var(--ev); }
.axis { display: flex; justify-content: space-between; color: var(--dim); font-size: .8rem; }
.strip { display: flex; gap: .5rem; overflow-x: auto; padding-bottom: .4rem; }
.strip figure { margin: 0; flex: 0 0 auto; text-align: center; color: var(--dim); font-size: .8rem; }
img.thumb { display: block; width: 160px; height: auto; border-radius: 3px; border: 1px solid var(--line); }
img.crop { display: block; max-height: 96px; max-width: 96px; border-radius: 3px; border: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
th { color: var(--dim); font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
ul.events { list-style: none; padding: 0; margin: 0; }
ul.events li { display: flex; gap: .8rem; align-items: center; padding: .35rem 0; border-bottom: 1px solid var(--line); }
ul.events .sev-warning { border-left: 3px solid #bf8700; padding-left: .5rem; }
ul.events .sev-critical { border-left: 3px solid var(--cut); padding-left: .5rem; }
.when { color: var(--dim); font-variant-numeric: tabular-nums; }
.empty { color: var(--dim); }
`;

/** Where a time falls on the timeline, percent. */
function percent(ptsNs: number, endNs: number): string {
  return endNs > 0 ? Math.max(0, Math.min(100, (100 * ptsNs) / endNs)).toFixed(2) : '0';
}

/** The image of an event: the annotated snapshot of its keyframe, else the plain keyframe. */
function eventImage(e: ReportEvent): string | null {
  return e.annotatedImage ?? e.evidenceImage ?? null;
}

function timeline(r: AnalysisReport): string {
  const ends = [
    (r.mediaSeconds ?? 0) * 1e9,
    ...r.keyframes.map((k) => k.ptsNs),
    ...r.events.map((e) => e.ptsNs),
    ...r.summaries.map((s) => s.endPtsNs),
  ];
  const endNs = Math.max(0, ...ends);
  const mark = (ptsNs: number, title: string) =>
    `<span class="mark" style="left:${percent(ptsNs, endNs)}%" title="${escapeHtml(title)}"></span>`;
  const cuts = r.keyframes.filter((k) => k.reason === 'scene-cut');
  const events = r.events.filter((e) => e.type !== 'scene.cut');
  return [
    '<section id="timeline"><h2>Timeline</h2>',
    '<div class="lane-names"><span class="kf">keyframes</span><span class="cut">scene cuts</span><span class="ev">events</span></div>',
    '<div class="track">',
    `<div class="lane kf">${r.keyframes.map((k) => mark(k.ptsNs, `${k.time} keyframe (${k.reason})`)).join('')}</div>`,
    `<div class="lane cut">${cuts.map((k) => mark(k.ptsNs, `scene cut at ${k.time}`)).join('')}</div>`,
    `<div class="lane ev">${events.map((e) => mark(e.ptsNs, describeEvent(e))).join('')}</div>`,
    '</div>',
    `<div class="axis"><span>${clock(0)}</span><span>${clock(endNs / 2)}</span><span>${clock(endNs)}</span></div>`,
    thumbnails(r),
    '</section>',
  ].join('\n');
}

/** Keyframe thumbnails: those with an image (annotated snapshot, or the plain evidence of an event). */
function thumbnails(r: AnalysisReport): string {
  const byKf = new Map<string, string>();
  for (const e of r.evidence) byKf.set(e.keyframeId, e.file);
  for (const a of r.annotated) byKf.set(a.keyframeId, a.file);
  const shown = r.keyframes.filter((k) => byKf.has(k.id));
  if (shown.length === 0) return '<p class="empty">No keyframe images.</p>';
  return (
    '<div class="strip" id="thumbnails">' +
    shown
      .map(
        (k) =>
          `<figure data-keyframe="${escapeHtml(k.id)}">${img(byKf.get(k.id), `keyframe at ${k.time}`)}` +
          `<figcaption>${escapeHtml(k.time)} ${escapeHtml(k.reason)}</figcaption></figure>`,
      )
      .join('') +
    '</div>'
  );
}

function events(r: AnalysisReport): string {
  const items = r.events.map(
    (e) =>
      `<li class="sev-${escapeHtml(e.severity)}" data-type="${escapeHtml(e.type)}">${img(eventImage(e), e.type)}` +
      `<span class="when">${clock(e.ptsNs)}</span><span class="sentence">${escapeHtml(describeEvent(e))}</span></li>`,
  );
  return `<section id="events"><h2>Events (${r.events.length})</h2>${
    items.length ? `<ul class="events">${items.join('\n')}</ul>` : '<p class="empty">No events.</p>'
  }</section>`;
}

function objects(r: AnalysisReport): string {
  const rows = r.objects.map(
    (o) =>
      `<tr data-object="${escapeHtml(o.id)}"><td>${img(o.crop, `${o.label} #${o.trackId}`, 'crop')}</td>` +
      `<td>${escapeHtml(o.label)} #${o.trackId}</td><td class="num">${escapeHtml(o.start)}</td>` +
      `<td class="num">${escapeHtml(o.end)}</td><td class="num">${escapeHtml(duration(o.dwellMs))}</td>` +
      `<td>${escapeHtml(o.entryEdge)} → ${escapeHtml(o.exitEdge ?? 'still there')}</td>` +
      `<td class="num">${(o.peakScore * 100).toFixed(0)}%</td>` +
      `<td>${o.snapshot ? `<a href="${escapeHtml(href(o.snapshot))}">snapshot</a>` : ''}</td></tr>`,
  );
  return `<section id="objects"><h2>Objects (${r.objects.length})</h2>${
    rows.length
      ? '<table><thead><tr><th>Crop</th><th>Object</th><th>Start</th><th>End</th><th>Dwell</th>' +
        `<th>Entry → exit</th><th>Peak score</th><th>Best keyframe</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`
      : '<p class="empty">No tracked objects.</p>'
  }</section>`;
}

function summaries(r: AnalysisReport): string {
  const rows = r.summaries.map(
    (s) =>
      `<tr data-level="${escapeHtml(s.level)}"><td>${escapeHtml(s.level)} #${s.index}</td>` +
      `<td class="num">${clock(s.startPtsNs)}–${clock(s.endPtsNs)}</td><td>${escapeHtml(s.text)}</td></tr>`,
  );
  return `<section id="summaries"><h2>Summaries (${r.summaries.length})</h2>${
    rows.length
      ? `<table><thead><tr><th>Level</th><th>Time</th><th>Summary</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`
      : '<p class="empty">No summaries.</p>'
  }</section>`;
}

function language(r: AnalysisReport): string {
  const out: string[] = [];
  if (r.captions?.length)
    out.push(
      `<section id="captions"><h2>Captions</h2><ul>${r.captions
        .map((c) => `<li><span class="when">${clock(c.ptsNs)}</span> ${escapeHtml(c.text)}</li>`)
        .join('')}</ul></section>`,
    );
  if (r.transcripts?.length)
    out.push(
      `<section id="transcripts"><h2>Transcripts</h2><ul>${r.transcripts
        .map(
          (t) =>
            `<li><span class="when">${clock(t.startPtsNs)}–${clock(t.endPtsNs)}</span> ${escapeHtml(t.text)}</li>`,
        )
        .join('')}</ul></section>`,
    );
  return out.join('\n');
}

export function renderHtml(r: AnalysisReport): string {
  const c = r.counters;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'">
<title>Vigil analysis: ${escapeHtml(r.streamId)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>Vigil analysis: ${escapeHtml(r.streamId)}</h1>
<ul class="meta">
<li>Source: <code>${escapeHtml(r.source)}</code></li>
<li>Analysed ${escapeHtml(r.startedAt)}: ${r.wallSeconds.toFixed(1)} s wall time${
    r.mediaSeconds !== null ? ` for ${r.mediaSeconds.toFixed(1)} s of video` : ''
  }${r.speed !== null ? ` (${r.speed.toFixed(1)}× real time)` : ''}</li>
<li>${c['frames'] ?? 0} frames, ${c['keyframes'] ?? 0} keyframes, ${r.objects.length} objects, ${r.events.length} events, ${r.summaries.length} summaries</li>
</ul>
</header>
${timeline(r)}
${objects(r)}
${events(r)}
${summaries(r)}
${language(r)}
</body>
</html>
`;
}
