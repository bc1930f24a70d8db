"""The study page: one self-contained HTML file of blind pairwise trials (no network, no server).

Each trial shows the masked input (what the backends were given: the hole grey, its border drawn yellow) and two
backends' outputs side by side, the backend names
hidden (they are in the page's data, which a rater does not see). Keys (the buttons do the same):

    ← or 1  left is better     → or 2  right is better     t or 3  tie     b or 4  both bad     Backspace or z  back

A rater types an id first and then sees the trials in an order of their own (a shuffle seeded by the study id and
the rater id: order effects and fatigue spread over the trials) and sides of their own (the plan's, swapped on a
random half of the trials seeded the same way: a habit of one side does not agree across raters; the export names
the sides the rater saw). Answers, the time each took and the position are kept in the page and in the browser's
local storage (under the study id and the rater id), so a reload or a break loses nothing. **Export**
downloads ``judgements_<rater>.csv`` with the columns of :data:`bench.study.score.COLUMNS`;
``bench study score RUN judgements*.csv`` scores them.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from .. import sinks
from ..errors import BenchError
from ..fsio import write_text_atomic
from ..store.files import output_path
from .plan import Plan, cell_keys, record_page

KEYS = {"ArrowLeft": "left", "1": "left", "ArrowRight": "right", "2": "right", "t": "tie", "3": "tie",
        "b": "both_bad", "4": "both_bad"}
CHOICES = ("left", "right", "tie", "both_bad")

CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:8px 16px;display:flex;gap:16px;
 align-items:center;z-index:2}
header h1{font-size:17px;margin:0;white-space:nowrap}
#progress{flex:1;height:10px;background:#e6e6e6;border-radius:5px;overflow:hidden;min-width:120px}
#bar{height:100%;width:0;background:#1a73e8;transition:width .15s}
#count{white-space:nowrap;font-variant-numeric:tabular-nums;color:#444}
main{max-width:1180px;margin:0 auto;padding:14px 16px 40px}
.panel[hidden]{display:none}
.intro{max-width:720px}
.intro kbd,.keys kbd{border:1px solid #bbb;border-bottom-width:2px;border-radius:4px;padding:0 5px;background:#fff;
 font:12px ui-monospace,monospace}
.intro input{font:inherit;padding:5px 8px;width:220px}
button{font:inherit;padding:7px 14px;border:1px solid #bbb;border-radius:6px;background:#fff;cursor:pointer}
button:hover{background:#f0f4ff}
button.primary{background:#1a73e8;border-color:#1a73e8;color:#fff}
.input{text-align:center;margin:0 0 8px}
.input img{height:clamp(96px,calc(30vh - 40px),200px);width:auto;image-rendering:pixelated}
.pair{display:flex;gap:24px;justify-content:center}
figure{margin:0;text-align:center}
figure img{height:clamp(160px,calc(70vh - 190px),560px);width:auto;max-width:46vw;object-fit:contain;
 image-rendering:pixelated;background:#eee;border:3px solid transparent;border-radius:4px;cursor:pointer}
figure.chosen img{border-color:#1a73e8}
figcaption{color:#555;font-size:13px;margin-top:2px}
.choices{display:flex;gap:10px;justify-content:center;margin:14px 0 4px;flex-wrap:wrap}
.choices button{min-width:150px}
.choices button.picked{outline:3px solid #1a73e8}
.keys{text-align:center;color:#666;font-size:13px}
.meta{color:#666;font-size:13px}
#done p{font-size:16px}
"""

JS = r"""
(function(){
  var D=JSON.parse(document.getElementById('study-data').textContent);
  var KEYS=D.keys, T=D.trials, body=document.body, $=function(id){return document.getElementById(id);};
  var rater='', st=null, cur=0, shown=0, FORMULA=FORMULA_JS;  // bench.sinks.FORMULA_START
  function key(r){return 'inpaint-bench-study:'+D.study.study_id+':'+r;}
  function save(){if(!rater) return; try{localStorage.setItem(key(rater), JSON.stringify(st));}catch(e){}}
  function hash(s){var h=2166136261>>>0; for(var i=0;i<s.length;i++){h^=s.charCodeAt(i); h=Math.imul(h,16777619)>>>0;}
    return h;}
  function mulberry(seed){var t; return function(){seed=(seed+0x6D2B79F5)>>>0; t=seed; t=Math.imul(t^(t>>>15),t|1);
    t^=t+Math.imul(t^(t>>>7),t|61); return ((t^(t>>>14))>>>0)/4294967296;};}
  function shuffled(n, seed){  // Fisher-Yates driven by mulberry32: each rater their own order, the same on reload
    var a=[], i, j, t, rnd=mulberry(seed);
    for(i=0;i<n;i++) a.push(i);
    for(i=n-1;i>0;i--){j=Math.floor(rnd()*(i+1)); t=a[i]; a[i]=a[j]; a[j]=t;}
    return a;
  }
  function flips(n, seed){  // each rater their own sides: the plan's, swapped on a seeded half of the trials, so a
    // habit of one side (or a rater who always presses one key) does not agree across raters
    var a=[], i, rnd=mulberry(seed);
    for(i=0;i<n;i++) a.push(rnd()<0.5);
    return a;
  }
  function load(r){var s=null; try{s=JSON.parse(localStorage.getItem(key(r))||'null');}catch(e){s=null;}
    if(!s||!s.answers) s={answers:{}, pos:0};
    if(!s.order||s.order.length!==T.length) s.order=shuffled(T.length, hash(D.study.study_id+'\u0000'+r));
    if(!s.flip||s.flip.length!==T.length)  // answers saved before sides were the rater's: given on the plan's sides
      s.flip=Object.keys(s.answers).length?T.map(function(){return false;}):flips(T.length,
                                                                                 hash(D.study.study_id+'\u0001'+r));
    return s;}
  function sides(k){var t=T[k]; return st.flip[k]?{l:t.right, r:t.left, li:t.ri, ri:t.li}:
    {l:t.left, r:t.right, li:t.li, ri:t.ri};}  // what the rater sees on the left and on the right
  function answered(){return Object.keys(st?st.answers:{}).length;}
  function paint(){
    var n=answered();
    $('bar').style.width=(100*n/T.length)+'%';
    $('count').textContent=n+' / '+T.length+' answered';
    body.setAttribute('data-answered', n);
  }
  function show(i){
    cur=Math.max(0, Math.min(i, T.length));
    st.pos=cur; save(); paint();
    body.setAttribute('data-position', cur);
    body.setAttribute('data-trial', cur<T.length?T[st.order[cur]].trial:'');
    if(cur>=T.length){$('trial').hidden=true; $('done').hidden=false; body.setAttribute('data-state','done');
      $('done-n').textContent=answered(); return;}
    $('done').hidden=true; $('trial').hidden=false; body.setAttribute('data-state','trial');
    var t=T[st.order[cur]], s=sides(st.order[cur]);
    $('img-input').src=D.images[t.input]; $('img-left').src=D.images[s.li]; $('img-right').src=D.images[s.ri];
    $('trial-n').textContent='Trial '+(cur+1)+' of '+T.length;
    var a=st.answers[t.trial]; var c=a?a.choice:null;
    $('fig-left').classList.toggle('chosen', c==='left'); $('fig-right').classList.toggle('chosen', c==='right');
    document.querySelectorAll('.choices button').forEach(function(b){
      b.classList.toggle('picked', b.getAttribute('data-choice')===c);});
    shown=performance.now();
  }
  function choose(c){
    if(!st||cur>=T.length) return;
    if(document.activeElement&&document.activeElement.blur) document.activeElement.blur();  // Space/Enter on a
    // clicked button must not answer the next trial too
    var t=T[st.order[cur]];
    st.answers[t.trial]={choice:c, seconds:Math.round((performance.now()-shown)/10)/100};
    show(cur+1);
  }
  function start(){
    var r=($('rater').value||'').trim();
    if(!/^[A-Za-z0-9_.-]{1,40}$/.test(r)){$('rater-msg').textContent='Use 1-40 letters, digits, _ . or -';
      $('rater').focus(); return;}
    rater=r; st=load(r); $('intro').hidden=true; $('who').textContent='Rater '+r;
    body.setAttribute('data-rater', r);
    try{localStorage.setItem('inpaint-bench-study-rater:'+D.study.study_id, r);}catch(e){}
    show(st.pos||0);
  }
  function q(s){s=String(s==null?'':s); if(FORMULA.test(s)) s="'"+s;  // bench.sinks.csv_cell's guard
    return /[",\n\r]/.test(s)?'"'+s.replace(/"/g,'""')+'"':s;}
  function csv(){
    var rows=[D.columns.join(',')];
    T.forEach(function(t,k){var a=st&&st.answers[t.trial], s; if(!a) return;
      s=sides(k);  // the sides as this rater saw them: the choice is of those
      rows.push([rater,D.study.run_id,D.study.config_hash,D.study.study_id,t.trial,D.study.dataset,D.study.mask,
                 t.sample_id,s.l,s.r,a.choice,a.seconds.toFixed(2),st.order.indexOf(k)+1].map(q).join(','));});
    return rows.join('\n')+'\n';
  }
  function exportCsv(){
    if(!st) return;
    var a=document.createElement('a');
    a.href=URL.createObjectURL(new Blob([csv()],{type:'text/csv'})); a.download='judgements_'+rater+'.csv';
    document.body.appendChild(a); a.click(); a.remove();
  }
  window.inpaintBenchStudy={csv:csv, state:function(){return st;}};
  $('start').addEventListener('click', start);
  $('rater').addEventListener('keydown', function(e){if(e.key==='Enter'){start(); e.preventDefault();}});
  document.querySelectorAll('.choices button').forEach(function(b){
    b.addEventListener('click', function(){choose(b.getAttribute('data-choice'));});});
  $('back').addEventListener('click', function(){if(st) show(cur-1);});
  $('img-left').addEventListener('click', function(){choose('left');});
  $('img-right').addEventListener('click', function(){choose('right');});
  document.querySelectorAll('.export').forEach(function(b){b.addEventListener('click', exportCsv);});
  document.addEventListener('keydown', function(e){
    if(!st||e.ctrlKey||e.metaKey||e.altKey||e.target.tagName==='INPUT') return;
    var k=e.key.length===1?e.key.toLowerCase():e.key;
    if(KEYS[k]){choose(KEYS[k]); e.preventDefault();}
    else if(k==='Backspace'||k==='z'){show(cur-1); e.preventDefault();}
  });
  try{var last=localStorage.getItem('inpaint-bench-study-rater:'+D.study.study_id); if(last) $('rater').value=last;}
  catch(e){}
  body.setAttribute('data-state','intro');
  $('rater').focus();
})();
""".replace("FORMULA_JS", sinks.formula_js_regex())

HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><style>{css}</style></head>
<body>
<header><h1>Which fill looks better?</h1><div id="progress"><div id="bar"></div></div>
<span id="count">0 / {n} answered</span><span id="who" class="meta"></span>
<button type="button" class="export">Export CSV</button></header>
<main>
<section id="intro" class="panel intro">
<p>Each trial shows a photo with a region <b>erased</b> (grey, with a yellow border), and two attempts to fill it
in. Pick the fill that looks more <b>natural</b>: as if nothing had ever been there, with no blur, smears, copies or
leftover objects. If you cannot choose, say <b>tie</b>; if both look wrong, say <b>both bad</b>. There are {n}
trials; take the time you need, but go with your first impression.</p>
<p>Keys: <kbd>←</kbd> or <kbd>1</kbd> left is better · <kbd>→</kbd> or <kbd>2</kbd> right is better ·
<kbd>t</kbd> or <kbd>3</kbd> tie · <kbd>b</kbd> or <kbd>4</kbd> both bad · <kbd>Backspace</kbd> back.
Clicking an image picks it too. Your answers stay in this browser until you export them.</p>
<p><label>Your rater id: <input id="rater" autocomplete="off" placeholder="e.g. alice"></label>
<button type="button" id="start" class="primary">Start</button> <span id="rater-msg" class="meta"></span></p>
<p class="meta">Study {study_id} · run {run_id} · {dataset} × {mask} · {n_pairs} comparisons and {n_checks}
attention checks</p>
</section>
<section id="trial" class="panel" hidden>
<div class="input"><img id="img-input" alt="input with the erased region in grey">
<div class="meta"><span id="trial-n"></span> · the erased region is grey, its border yellow</div></div>
<div class="pair">
<figure id="fig-left"><img id="img-left" alt="left fill"><figcaption>Left <kbd>←</kbd></figcaption></figure>
<figure id="fig-right"><img id="img-right" alt="right fill"><figcaption>Right <kbd>→</kbd></figcaption></figure>
</div>
<div class="choices">
<button type="button" data-choice="left">◀ Left is better</button>
<button type="button" data-choice="tie">Tie (t)</button>
<button type="button" data-choice="both_bad">Both bad (b)</button>
<button type="button" data-choice="right">Right is better ▶</button>
</div>
<div class="keys"><button type="button" id="back">Back</button> · <kbd>Backspace</kbd> goes back to change an
answer</div>
</section>
<section id="done" class="panel" hidden>
<p>Thank you: <b id="done-n">0</b> answers. Download them and send the file to whoever runs the study.</p>
<p><button type="button" class="export primary">Export judgements CSV</button>
<button type="button" onclick="document.getElementById('back').click()">Back to the last trial</button></p>
</section>
</main>
<script type="application/json" id="study-data">{data}</script>
<script>{js}</script>
</body></html>
"""


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def masked_input(im, mask, blank: int = 128):
    """What the backend was given (the hole set to the run's blank value), the hole's border drawn in yellow so it
    shows on any background. ``im`` is the stored input (or an already blanked one), ``mask`` white = hole."""
    import numpy as np
    from PIL import Image

    img = np.asarray(im.convert("RGB")).copy()
    m = np.asarray(mask.convert("L").resize((img.shape[1], img.shape[0]), Image.NEAREST)) > 127
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    img[m] = blank
    img[m & ~inner] = (255, 220, 0)
    return Image.fromarray(img)


def _image_uri(im) -> str:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="PNG", optimize=True)
    return _png_uri(buf.getvalue())


def _fit(im, max_side: int | None):
    from PIL import Image

    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.LANCZOS)
    return im


def page_data(plan: Plan, run: Any, max_side: int | None = None) -> dict[str, Any]:
    """The page's JSON: the study's identity, the trials (with the backend names), and every image once: the
    stored PNG as it is, or resized (Lanczos) to at most ``max_side`` pixels on its long side."""
    from ..store.run import load_run
    from ..report.html import ImageStore
    from ..report.rebuild import RebuiltInputs
    from .score import COLUMNS

    rd = load_run(run)
    cells = rd.cells()
    cell_of = cell_keys(rd, plan.dataset, plan.mask)
    # the stored inputs, else the run's own inputs made again from its suite and checked against its digests (as
    # the HTML report shows them)
    images = ImageStore(rd.run_dirs, cells, rebuild=RebuiltInputs(rd))
    uris: dict[str, str] = {}
    trials = []
    codes = {b: f"b{i}" for i, b in enumerate(sorted({t.left for t in plan.trials} | {t.right for t in plan.trials}))}

    def output(backend: str, sid: str) -> str:
        key = f"{codes[backend]}/{sid}"
        if key not in uris:
            path = None
            for d in rd.run_dirs:
                p = output_path(Path(d), cell_of.get(backend, "?"), sid)
                if p.is_file() and not p.is_symlink():
                    path = p
                    break
            if path is None:
                raise BenchError(f"{rd.run_dir}: no stored output of {backend} for sample {sid!r} "
                                 f"({output_path(Path(), cell_of.get(backend, '?'), sid).as_posix()})")
            if max_side:
                from PIL import Image

                with Image.open(path) as im:
                    uris[key] = _image_uri(_fit(im.convert("RGB"), max_side))
            else:
                uris[key] = _png_uri(path.read_bytes())
        return key

    blank = int(round(float(rd.manifest.get("blank_value", 128 / 255)) * 255))

    def inp(sid: str) -> str:
        key = f"in/{sid}"
        if key not in uris:
            im = images.input(plan.dataset, plan.mask, sid)
            m = images.mask(list(cell_of.values()), sid)
            if im is None or m is None:
                raise BenchError(f"{rd.run_dir}: the input of sample {sid!r} is neither stored (`save_inputs: true`) "
                                 f"nor could it be made again from the suite: "
                                 f"{images.missing(plan.dataset, plan.mask, sid)}")
            uris[key] = _image_uri(_fit(masked_input(im, m, blank), max_side))
        return key

    for t in plan.trials:
        trials.append({"trial": t.index, "sample_id": t.sample_id, "left": t.left, "right": t.right,
                       "input": inp(t.sample_id), "li": output(t.left, t.sample_id),
                       "ri": output(t.right, t.sample_id)})
    study = {k: v for k, v in plan.to_dict().items() if k != "trials"}
    return {"study": study, "trials": trials, "images": uris, "keys": KEYS, "columns": list(COLUMNS)}


def render_page(plan: Plan, run: Any, max_side: int | None = None) -> str:
    data = page_data(plan, run, max_side)
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # inert inside <script>
    n_checks = sum(t.kind == "check" for t in plan.trials)
    e = sinks.html
    return HTML.format(title=e(f"User study {plan.study_id}"), css=CSS, js=JS, data=text, n=len(plan.trials),
                       study_id=e(plan.study_id), run_id=e(plan.run_id), dataset=e(plan.dataset), mask=e(plan.mask),
                       n_pairs=len(plan.trials) - n_checks, n_checks=n_checks)


def write_page(plan: Plan, run: Any, path: str | Path, max_side: int | None = None) -> Path:
    """The page at ``path``, and ``plan`` recorded in the run folder's study folder (``plan.json``,
    :func:`~bench.study.plan.record_page`): ``bench study score`` takes answers of the pages recorded there only."""
    from ..store.run import load_run

    rd = load_run(run)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_page(plan, rd, max_side))
    if rd.run_dir is not None:
        record_page(plan, rd.run_dir, path)
    return path
