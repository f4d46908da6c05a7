"""Basic accessibility checks on a server-rendered page: html lang, a title, exactly one h1, a
label for every form control, and no positive tabindex (which breaks keyboard order)."""

from __future__ import annotations

from html.parser import HTMLParser

_CONTROLS = {"input", "select", "textarea"}
_UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.title = ""
        self.h1_count = 0
        self.label_for: set[str] = set()
        self.label_depth = 0
        self.controls: list[tuple[str, dict[str, str | None], bool]] = []  # (tag, attrs, wrapped)
        self.positive_tabindex = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.lang = attributes.get("lang")
        elif tag == "title":
            self._in_title = True
        elif tag == "h1":
            self.h1_count += 1
        elif tag == "label":
            self.label_depth += 1
            if attributes.get("for"):
                self.label_for.add(str(attributes["for"]))
        elif tag in _CONTROLS:
            self.controls.append((tag, attributes, self.label_depth > 0))
        if int(attributes.get("tabindex") or 0) > 0:
            self.positive_tabindex += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "label":
            self.label_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def accessibility_problems(page: str) -> list[str]:
    """What is missing from ``page``; empty when the basics are there."""
    collector = _Collector()
    collector.feed(page)
    problems = []
    if not collector.lang:
        problems.append("<html> has no lang")
    if not collector.title.strip():
        problems.append("no <title>")
    if collector.h1_count != 1:
        problems.append(f"{collector.h1_count} <h1> elements, expected 1")
    if collector.positive_tabindex:
        problems.append("positive tabindex")
    for tag, attributes, wrapped in collector.controls:
        if tag == "input" and attributes.get("type") in _UNLABELLED_INPUT_TYPES:
            continue
        labelled = wrapped or attributes.get("id") in collector.label_for or attributes.get("aria-label")
        if not labelled:
            problems.append(f"<{tag} name={attributes.get('name')!r}> has no label")
    return problems
