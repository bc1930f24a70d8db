"""Human labels for the failure detectors: the HTML report's labelling mode and the ``labels.csv`` it exports.

In the report (``bench report RUN --format html``), **Label outputs** (or ``#label`` in the URL) turns every output
tile into something to label. A tile is selected by clicking it; keys label the selected tile and move on:

    g good   b blur   r replacement   i incomplete   o other   x clear   → / n next   ← / p previous

(in either case: caps lock or shift changes nothing). Keyboard only: Tab to **Label outputs**, Enter, then the keys.

(the toolbar's buttons do the same). Labels are kept in the page and in the browser's local storage for that run
(so a reload keeps them), per output file (cell, sample and ``output_sha256``: a label is never shown on an output
made again since); each change is written into what is stored, so two tabs of the report keep each other's labels
(and show them). **Export labels.csv** downloads them as

    run_id,cell,sample_id,label,backend,dataset,mask,output_sha256

one row per labelled output of the run in the browser's storage, those no tile of this page shows included (labelled
on another report of the run: their backend, dataset and mask are left empty); ``output_sha256`` is the first 16 hex
digits of the SHA-256 of the output file the tile showed (:func:`output_digest`), so labels are never applied to
another output stored under the same run, cell and sample (a run of the same suite whose outputs were made again).
A value starting with ``= + - @``, a tab or a carriage return is written as ``'`` + value, so a spreadsheet does
not run it (:data:`bench.sinks.FORMULA_START`, the rule of every CSV writer); the page's import and
:func:`read_labels` take the ``'`` off again (:func:`bench.sinks.csv_unguard`).
**Import labels.csv** reads such a file back into the page (corrected in a spreadsheet, or in another browser): its
labels win over the stored ones, the rest are kept; a file of another run or with a malformed row is refused whole,
with a message naming it. ``bench calibrate --labels labels.csv RUN`` fits detector thresholds on them
(:mod:`bench.calibration.labels`).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from .. import sinks
from ..errors import BenchError

LABELS = ("good", "blur", "replacement", "incomplete", "other")
KEYS = {"g": "good", "b": "blur", "r": "replacement", "i": "incomplete", "o": "other"}
COLUMNS = ("run_id", "cell", "sample_id", "label", "backend", "dataset", "mask", "output_sha256")


@dataclass(frozen=True)
class Label:
    run_id: str
    cell: str
    sample_id: str
    label: str
    output_sha256: str = ""  # of the output file that was labelled ("" in files written before it was exported)


def output_digest(run_dir: str | Path, cell: str, sample_id: str) -> str | None:
    """The first 16 hex digits of the SHA-256 of a stored output's file, None when there is none."""
    from ..fsio import file_sha256
    from ..store.files import output_path

    p = output_path(Path(run_dir), cell, sample_id)
    return file_sha256(p)[:16] if p.is_file() and not p.is_symlink() else None


def read_labels(path: str | Path) -> list[Label]:
    """Rows of a ``labels.csv``; a clear error naming the file, the line and the column for anything malformed.
    A sample labelled twice keeps its last label (the page exports one row per output, a file merged by hand may
    not). Cell and sample id are kept exactly as written (a sample id may begin or end with a space); a reader that
    finds no such output tries them stripped (:func:`find_output`)."""
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"{p}: labels file not found (export one from the HTML report's labelling mode)")
    from ..fsio import csv_delimiter, read_csv_text

    text = read_csv_text(p, "labels file")
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f, delimiter=csv_delimiter(text))
        missing = [c for c in ("cell", "sample_id", "label") if c not in (reader.fieldnames or [])]
        if missing:
            raise BenchError(f"{p}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
        out: dict[tuple[str, str], Label] = {}
        for line, raw in enumerate(reader, start=2):
            row = {k: sinks.csv_unguard(v or "") for k, v in raw.items() if k is not None}  # the export's guard
            label = (row.get("label") or "").strip().lower()
            if label not in LABELS:
                raise BenchError(f"{p}:{line}: label {row.get('label')!r} is not one of {', '.join(LABELS)}")
            cell, sid = row.get("cell") or "", row.get("sample_id") or ""  # exact: an id may end in a space
            if not cell.strip() or not sid.strip():
                raise BenchError(f"{p}:{line}: empty cell or sample_id")
            out[(cell, sid)] = Label((row.get("run_id") or "").strip(), cell, sid, label,
                                     (row.get("output_sha256") or "").strip().lower())
    return list(out.values())


def find_output(index: dict[tuple[str, str], int], label: Label) -> int | None:
    """The row of ``index`` ((cell, sample id) -> row) that ``label`` is of: its exact ids, else the ids without
    the spaces at their ends that a hand edit may have added (a space after a comma); None when neither is there
    (:func:`bench.fsio.find_written_id`, the rule of ``bench study score`` too)."""
    from ..fsio import find_written_id

    key = find_written_id((label.cell, label.sample_id), index)
    return None if key is None else index[key]


TOOLBAR = """<div id="labelbar" class="labelbar" hidden>
<strong>Labelling</strong> <span class="meta">click a tile, then: g good · b blur · r replacement · i incomplete ·
o other · x clear · → next · ← previous</span>
<span class="lbtns">{buttons}</span>
<span id="label-count" data-count="0">0 labelled</span>
<button type="button" id="label-export">Export labels.csv</button>
<label class="label-import">Import labels.csv
<input type="file" id="label-import" accept=".csv,.tsv,.txt,text/csv"></label>
<span id="label-message" class="meta" role="status"></span>
</div>
<button type="button" id="label-toggle" class="label-toggle">Label outputs</button>"""

CSS = """
.label-toggle{position:fixed;top:8px;right:8px;z-index:11;font:inherit;padding:4px 10px}
.labelbar{position:sticky;top:0;z-index:10;background:#fffbe6;border:1px solid #e0c200;padding:6px 10px;
 margin:0 0 8px;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.labelbar[hidden]{display:none}
body.labelling figure.tile.out{cursor:pointer}
body.labelling figure.tile.out.current{outline:3px solid #1a73e8;outline-offset:1px}
figure.tile .lab{display:none;font-weight:bold;color:#fff;background:#1a73e8;border-radius:3px;padding:0 4px;
 margin:2px 0;font-size:11px}
figure.tile[data-label] .lab{display:inline-block}
"""

JS = r"""
(function(){
  var body=document.body, run=body.getAttribute('data-run-id')||'';
  var store='inpaint-bench-labels:'+run, labels={};
  // the labels of this run in local storage (null where the browser keeps none): shared by every tab of the run
  function stored(){try{var s=localStorage.getItem(store); return s?(JSON.parse(s)||{}):{};}catch(e){return null;}}
  labels=stored()||{};
  var tiles=Array.prototype.slice.call(document.querySelectorAll('figure.tile.out'));
  var cur=-1;
  // one output file: its cell, its sample and the digest of the file the tile shows (a label made on an output
  // since made again is not this output's)
  function id(t){return t.getAttribute('data-cell')+'\u0000'+t.getAttribute('data-sample')+'\u0000'+
    (t.getAttribute('data-output')||'');}
  function paint(){
    var seen={}, n=0;
    tiles.forEach(function(t){var k=id(t), l=labels[k];
      if(l){t.setAttribute('data-label',l); if(!seen[k]){seen[k]=1; n++;}} else {t.removeAttribute('data-label');}
      var s=t.querySelector('.lab'); if(s) s.textContent=l||'';});
    var more=elsewhere().length;
    var c=document.getElementById('label-count'); c.setAttribute('data-count',n); c.setAttribute('data-more',more);
    c.textContent=n+' labelled'+(more?' (and '+more+' more of this run, not on this page: exported too)':'');
  }
  // stored labels of this run's outputs that no tile of this page shows (a report made with other verdicts or
  // counts): [cell, sample, output, label]; an entry not of the form cell NUL sample NUL output is skipped
  function elsewhere(){
    var here={}, out=[];
    tiles.forEach(function(t){here[id(t)]=1;});
    Object.keys(labels).forEach(function(k){var p=k.split('\u0000');
      if(!here[k] && p.length===3 && labels[k]) out.push([p[0],p[1],p[2],labels[k]]);});
    return out;
  }
  // one label changed: read the stored labels again and write them back with that change only, so a second tab of
  // the run (or an older page of it) never overwrites labels it has not seen
  function put(k,l){
    var s=stored(); if(s) labels=s;
    if(l) labels[k]=l; else delete labels[k];
    try{localStorage.setItem(store, JSON.stringify(labels));}catch(e){}
  }
  window.addEventListener('storage',function(e){if(e.key===store){var s=stored(); if(s){labels=s; paint();}}});
  function select(i){
    if(!tiles.length) return; cur=(i+tiles.length)%tiles.length;
    tiles.forEach(function(t,j){t.classList.toggle('current', j===cur);});
    tiles[cur].scrollIntoView({block:'nearest'});
    body.setAttribute('data-current', tiles[cur].getAttribute('data-cell')+'/'+tiles[cur].getAttribute('data-sample'));
    body.setAttribute('data-current-index', cur);
  }
  function setLabel(l){
    if(!tiles.length) return;  // a page without outputs (every sample failed): nothing to label
    if(cur<0) select(0);
    put(id(tiles[cur]), l);
    paint(); select(cur+1);
  }
  function on(){body.classList.add('labelling'); document.getElementById('labelbar').hidden=false;
    body.setAttribute('data-labelling','1'); if(cur<0) select(0);}
  function off(){body.classList.remove('labelling'); document.getElementById('labelbar').hidden=true;
    body.setAttribute('data-labelling','0');}
  function csv(){
    var q=function(s){s=String(s==null?'':s); if(FORMULA.test(s)) s="'"+s;  // bench.sinks.csv_cell's guard
      return /[",\n\r]/.test(s)?'"'+s.replace(/"/g,'""')+'"':s;};
    var rows=['run_id,cell,sample_id,label,backend,dataset,mask,output_sha256'], seen={};
    tiles.forEach(function(t){var k=id(t), l=labels[k]; if(!l||seen[k]) return; seen[k]=1;
      rows.push([run,t.getAttribute('data-cell'),t.getAttribute('data-sample'),l,t.getAttribute('data-backend'),
                 t.getAttribute('data-dataset'),t.getAttribute('data-mask'),t.getAttribute('data-output')||''
                ].map(q).join(','));});
    elsewhere().forEach(function(e){rows.push([run,e[0],e[1],e[3],'','','',e[2]].map(q).join(','));});
    return rows.join('\n')+'\n';
  }
  // the rows of a CSV text (quoted fields, doubled quotes, CRLF, a byte-order mark); the delimiter is chosen from the
  // header line by the rule of bench.fsio.csv_delimiter (a comma, else a semicolon, else a tab)
  function parse(text){
    if(text.charCodeAt(0)===0xFEFF) text=text.slice(1);
    var head=text.split('\n',1)[0], sep=',';
    if(head.indexOf(',')<0){if(head.indexOf(';')>=0) sep=';'; else if(head.indexOf('\t')>=0) sep='\t';}
    var rows=[], row=[], f='', q=false, i, c;
    for(i=0;i<text.length;i++){c=text[i];
      if(q){if(c==='"'){if(text[i+1]==='"'){f+='"'; i++;} else q=false;} else f+=c;}
      else if(c==='"') q=true;
      else if(c===sep){row.push(f); f='';}
      else if(c==='\n'||c==='\r'){if(c==='\r'&&text[i+1]==='\n') i++; row.push(f); rows.push(row); row=[]; f='';}
      else f+=c;}
    if(f!==''||row.length){row.push(f); rows.push(row);}
    return rows.filter(function(r){return !(r.length===1&&r[0]==='');});
  }
  // a labels.csv read back into the page (the labels it holds win over the stored ones, every other label is kept);
  // the whole file is refused, with the reason, when it is of another run or a row is malformed. Returns the message.
  function importText(text, name){
    var rows=parse(text), head=(rows.shift()||[]).map(function(h){return h.trim();}), col={};
    head.forEach(function(h,i){col[h]=i;});
    var miss=['cell','sample_id','label'].filter(function(k){return !(k in col);});
    if(miss.length) return name+': missing column(s) '+miss.join(', ')+': nothing imported';
    function get(r,k){var v=k in col?(r[col[k]]||''):'';  // the export's guard taken off (bench.sinks.csv_unguard)
      return v.charAt(0)==="'"&&FORMULA.test(v.slice(1))?v.slice(1):v;}
    var runs={}, add=[];
    for(var j=0;j<rows.length;j++){
      var r=rows[j], line=j+2, l=get(r,'label').trim().toLowerCase(), rid=get(r,'run_id').trim();
      if(rid&&rid!==run) runs[rid]=1;
      if(LABELS.indexOf(l)<0) return name+':'+line+': label '+JSON.stringify(get(r,'label'))+' is not one of '+
        LABELS.join(', ')+': nothing imported';
      if(!get(r,'cell').trim()||!get(r,'sample_id').trim())
        return name+':'+line+': empty cell or sample_id: nothing imported';
      add.push([get(r,'cell'),get(r,'sample_id'),get(r,'output_sha256').trim().toLowerCase(),l]);
    }
    var others=Object.keys(runs);
    if(others.length) return name+' holds labels of run '+others.join(', ')+'; this page is of run '+run+
      ': nothing imported';
    var s=stored(); if(s) labels=s;
    var here={}, onpage=0;
    tiles.forEach(function(t){here[id(t)]=1;});
    add.forEach(function(a){var k=a[0]+'\u0000'+a[1]+'\u0000'+a[2];
      if(!a[2]){  // a file without output digests: the output this page shows under that cell and sample
        var t=tiles.filter(function(t){
          return t.getAttribute('data-cell')===a[0]&&t.getAttribute('data-sample')===a[1];})[0];
        if(t) k=id(t);}
      if(here[k]) onpage++;
      labels[k]=a[3];});
    try{localStorage.setItem(store, JSON.stringify(labels));}catch(e){}
    paint();
    return 'imported '+add.length+' labels from '+name+' ('+onpage+' of outputs on this page)';
  }
  function say(m){document.getElementById('label-message').textContent=m;}
  var imp=document.getElementById('label-import');
  imp.addEventListener('change',function(){
    var f=imp.files&&imp.files[0]; if(!f) return;
    var rd=new FileReader();
    rd.onload=function(){say(importText(String(rd.result), f.name));};
    rd.onerror=function(){say(f.name+': cannot be read: nothing imported');};
    rd.readAsText(f,'utf-8'); imp.value='';});
  window.inpaintBenchLabels={csv:csv, labels:function(){return labels;}, importText:importText};
  document.getElementById('label-toggle').addEventListener('click',function(){
    if(body.classList.contains('labelling')) off(); else on();});
  document.getElementById('label-export').addEventListener('click',function(){
    var a=document.createElement('a');
    a.href=URL.createObjectURL(new Blob([csv()],{type:'text/csv'})); a.download='labels.csv';
    document.body.appendChild(a); a.click(); a.remove();});
  document.querySelectorAll('.lbtns button').forEach(function(b){
    b.addEventListener('click',function(){setLabel(b.getAttribute('data-label-value'));});});
  tiles.forEach(function(t,i){t.addEventListener('click',function(){if(body.classList.contains('labelling')) select(i);});});
  var keys=KEYS, LABELS=LABELS_;
  document.addEventListener('keydown',function(e){
    if(!body.classList.contains('labelling')||e.ctrlKey||e.metaKey||e.altKey) return;
    var k=e.key; if(k&&k.length===1) k=k.toLowerCase();  // caps lock or shift: 'G' is g
    if(keys[k]){setLabel(keys[k]); e.preventDefault();}
    else if(k==='x'||k==='Backspace'||k==='Delete'){setLabel(null); e.preventDefault();}
    else if(k==='ArrowRight'||k==='n'){select(cur+1); e.preventDefault();}
    else if(k==='ArrowLeft'||k==='p'){select(cur-1); e.preventDefault();}
  });
  paint();
  if(/(^|[#&])label($|[&=])/.test(location.hash||'')) on(); else off();
})();
"""


def toolbar_html() -> str:
    buttons = "".join(f'<button type="button" data-label-value="{name}">{name} ({key})</button>'
                      for key, name in KEYS.items())
    return TOOLBAR.format(buttons=buttons)


def script() -> str:
    import json

    return JS.replace("var keys=KEYS, LABELS=LABELS_;", f"var keys={json.dumps(KEYS)}, LABELS={json.dumps(LABELS)}, "
                      f"FORMULA={sinks.formula_js_regex()};")
