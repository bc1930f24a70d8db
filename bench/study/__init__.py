"""Blind pairwise user studies of a run (docs/studies.md).

``plan`` (which trials), ``page`` (the self-contained HTML page raters use), ``score`` (their CSVs checked and
merged: Bradley–Terry ranking, preference against a baseline, attention checks, Fleiss' κ), ``agreement`` (how
often each metric and detector score orders a pair as people do), ``render`` (Markdown, LaTeX, HTML) and
``attach`` (the ``human_bt`` column the report shows). Pure statistics live in ``stats``.
"""
