"""Keep every page of the site loadable on a network with no way out.

Operators read this runbook on the management network of the directors, which often has no
route to a CDN. Material's ``privacy`` plugin already fails a strict build on an external
``src``/``href`` attribute, but nbconvert's notebook template loads Mermaid with a dynamic
``import("https://cdnjs...")`` inside a script, which no attribute scan sees.

So: the notebook pages lose that loader when they hold no Mermaid diagram (it would never run),
and afterwards every page is scanned for external assets in attributes, ``import()`` and CSS
``url()``. Whatever is left fails the build with the page and the URL, instead of shipping a
page that hangs or renders half-styled on an isolated network.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError

# nbconvert's lab template: <script type="module"> ... querySelectorAll(".jp-Mermaid ...
_MERMAID_LOADER = re.compile(
    r'<script type="module">(?:(?!</script>).)*?\.jp-Mermaid(?:(?!</script>).)*</script>',
    re.DOTALL,
)
_MERMAID_DIAGRAM = 'class="jp-Mermaid'
_EXTERNAL_ASSET = re.compile(
    r"""<(?:script|img|iframe|audio|video|source|embed)\b[^>]*?\ssrc\s*=\s*["']?(?:https?:)?//[^"'\s>]+"""
    r"""|<link\b[^>]*?\shref\s*=\s*["']?(?:https?:)?//[^"'\s>]+"""
    r"""|\bimport\(\s*["'](?:https?:)?//[^"']+"""
    r"""|\burl\(\s*["']?(?:https?:)?//[^"')]+""",
    re.IGNORECASE,
)


_NAMES_THE_PAGE = re.compile(r"""<link\b[^>]*\srel\s*=\s*["']?(?:canonical|alternate)\b""", re.I)


def on_page_content(html: str, page, config, files) -> str:
    if page.file.src_uri.endswith(".ipynb") and _MERMAID_DIAGRAM not in html:
        html = _MERMAID_LOADER.sub("", html)
    return html


def on_post_page(output: str, page, config) -> str:
    found = external_assets(output)
    if found:
        raise PluginError(
            f"{page.file.src_uri} loads assets from other hosts, so it breaks "
            f"offline: {'; '.join(found)}"
        )
    return output


def external_assets(html: str) -> list[str]:
    """Each reference to an asset on another host, as it appears in the page. A link that
    only names the page's address (``rel="canonical"``, which ``mkdocs serve`` adds with its
    own http://127.0.0.1 URL) is no asset: a browser fetches nothing for it."""
    return sorted(
        {
            match.group(0)[-120:]
            for match in _EXTERNAL_ASSET.finditer(html)
            if not _NAMES_THE_PAGE.search(match.group(0))
        }
    )
