"""How deep a browser's HTML parser would nest a document, estimated from above in one pass.

Pure functions, no I/O. nh3 (html5ever underneath) does work on every tag in proportion to
the number of elements open at that moment, so a mail of N nested tags costs about N²: a
1.2 MB reply of nested <div>s took 26 s per cleaning. We measure the nesting BEFORE handing
a mail to nh3, without building a tree: this module follows the WHATWG tokenizer (quoted
attributes, comments, raw-text elements) and the parts of tree construction that change
the depth (which end tags close what, which are ignored, formatting elements the parser
reopens after closing them implicitly).

Where the model is simplified it errs towards a deeper estimate. A mail judged too deep is
shown as text with its original offered as a download; a mail judged shallow goes through
nh3. So an estimate below the truth is the only harmful error, and each simplification
below says why it cannot produce one. Constructs whose rules we do not model (foreign
content, select, template, frameset, plaintext, nested script escapes) are reported as
unmeasurable, which callers treat as too deep.
"""

import html as html_entities
import re
from collections.abc import Iterator
from enum import Enum

_WHITESPACE = "\t\n\f\r "
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# A tag as the tokenizer reads it: the name, then attributes whose quoted values may hold
# ">" or "</div>", then ">" (or the end of input, where the parser drops the tag).
# Possessive quantifiers: no backtracking, so one match is linear in its length.
_TAG = re.compile(
    r"</?([A-Za-z][^\t\n\f\r />]*+)"
    r"(?:[\t\n\f\r /]++"
    r"|[^\t\n\f\r />][^\t\n\f\r />=]*+"
    r"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >]*+))?+"
    r")*+"
    r"(>?)"
)
_COMMENT_END = re.compile(r"--!?>")
# Elements whose content the tokenizer reads as text up to their own end tag.
_RAW_TEXT = ("script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes")
_RAW_TEXT_END = {
    # ASCII-only case folding, as the tokenizer compares names (a long s is not an "s").
    name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE | re.ASCII)
    for name in (*_RAW_TEXT, "noscript")  # nh3 parses with scripting on: noscript is text
}
_SCRIPT_START = re.compile(r"<script[\t\n\f\r />]", re.IGNORECASE | re.ASCII)

_VOID = frozenset({
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image",
    "img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr"
})  # fmt: skip
_FORMATTING = frozenset({
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong",
    "tt", "u"
})  # fmt: skip
_SPECIAL = frozenset({
    "address", "applet", "area", "article", "aside", "base", "basefont", "bgsound",
    "blockquote", "body", "br", "button", "caption", "center", "col", "colgroup", "dd",
    "details", "dir", "div", "dl", "dt", "embed", "fieldset", "figcaption", "figure",
    "footer", "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head",
    "header", "hgroup", "hr", "html", "iframe", "img", "input", "keygen", "li", "link",
    "listing", "main", "marquee", "menu", "meta", "nav", "noembed", "noframes", "noscript",
    "object", "ol", "p", "param", "plaintext", "pre", "script", "search", "section",
    "select", "source", "style", "summary", "table", "tbody", "td", "template", "textarea",
    "tfoot", "th", "thead", "title", "tr", "track", "ul", "wbr", "xmp"
})  # fmt: skip
_SCOPE = frozenset({
    "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template"
})  # fmt: skip
_BUTTON_SCOPE = _SCOPE | {"button"}
_LIST_ITEM_SCOPE = _SCOPE | {"ol", "ul"}
_INSIDE_TABLE = frozenset({"table"})
_NOWHERE: frozenset[str] = frozenset()
# Closing one of these clears the formatting elements opened inside it for good.
_MARKERS = frozenset({"applet", "caption", "marquee", "object", "td", "th"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_CLOSES_P = frozenset({
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir",
    "div", "dl", "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup",
    "main", "menu", "nav", "ol", "p", "search", "section", "summary", "ul", "h1", "h2",
    "h3", "h4", "h5", "h6", "pre", "listing", "li", "dd", "dt"
})  # fmt: skip
_CLOSED_IN_SCOPE = frozenset({
    "address", "article", "aside", "blockquote", "button", "center", "details", "dialog",
    "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup",
    "listing", "main", "menu", "nav", "ol", "pre", "search", "section", "summary", "ul",
    "applet", "marquee", "object"
})  # fmt: skip
_TABLE_PARTS = frozenset({
    "caption", "colgroup", "col", "tbody", "thead", "tfoot", "tr", "td", "th"
})  # fmt: skip
_ROW_GROUPS = frozenset({"tbody", "thead", "tfoot"})
_TABLE_STRUCTURE = _ROW_GROUPS | {"td", "th", "tr", "table"}
# html, head and body are never pushed twice and their end tags close nothing.
_SKELETON = frozenset({"html", "head", "body"})
_UNMODELLED = frozenset({"svg", "math", "select", "template", "frameset", "plaintext"})


class _Kind(Enum):
    TEXT = "text"
    START = "start"
    END = "end"


class Unmeasurable(Exception):
    """The mail uses markup whose parsing rules this module does not model."""


def _tokens(html: str, *, with_text: bool) -> Iterator[tuple[_Kind, str, int, int]]:
    """(kind, tag name, start, end) in document order; comments, doctypes and the content
    of raw-text elements are skipped. Linear: every step moves past what it read."""
    pos, size = 0, len(html)
    while pos < size:
        lt = html.find("<", pos)
        if lt < 0:
            if with_text:
                yield _Kind.TEXT, "", pos, size
            return
        if lt > pos and with_text:
            yield _Kind.TEXT, "", pos, lt
        after = html[lt + 1 : lt + 3]
        letter = after[:1] if after[:1] != "/" else after[1:2]
        if letter.isascii() and letter.isalpha():
            match = _TAG.match(html, lt)
            assert match is not None  # "<" or "</" then a letter always opens a tag
            if not match.group(2):
                return  # the input ends inside a tag: the parser drops it and stops
            name = match.group(1).translate(_ASCII_LOWER)
            pos = match.end()
            is_end = after.startswith("/")
            yield (_Kind.END if is_end else _Kind.START), name, lt, pos
            if not is_end and name in _RAW_TEXT_END:
                close = _RAW_TEXT_END[name].search(html, pos)
                end = close.start() if close else size
                # "<!--<script>" inside a script can make the parser skip its first end
                # tag; rather than model those escapes we give up on such a mail.
                if name == "script" and _SCRIPT_START.search(html, pos, end):
                    raise Unmeasurable("nested <script>")
                pos = end
        elif html.startswith("<!--", lt):
            pos = _comment_end(html, lt + 4)
        elif after[:1] in ("!", "?", "/"):
            # Doctypes, CDATA in HTML, processing instructions, "</3": bogus comments up
            # to the next ">"; "</>" is dropped the same way.
            gt = html.find(">", lt + 2)
            pos = size if gt < 0 else gt + 1
        else:
            if with_text:
                yield _Kind.TEXT, "", lt, lt + 1
            pos = lt + 1


def _comment_end(html: str, content_start: int) -> int:
    if html.startswith(">", content_start):  # "<!-->"
        return content_start + 1
    if html.startswith("->", content_start):  # "<!--->"
        return content_start + 2
    end = _COMMENT_END.search(html, content_start)
    return end.end() if end else len(html)


class _OpenElements:
    """The parser's stack of open elements, by name, with the formatting elements it would
    reopen (`b` closed by `</div>` comes back before the next text) kept on it."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find(self, targets: frozenset[str] | set[str], boundaries: frozenset[str]) -> int | None:
        for index in range(len(self.names) - 1, -1, -1):
            if self.names[index] in targets:
                return index
            if self.names[index] in boundaries:
                return None
        return None

    def close(self, index: int) -> None:
        """Pop the element at `index` and everything above it. Formatting elements popped
        on the way stay active and are reopened, unless a cell, caption or object that
        contained them was closed too."""
        popped = self.names[index:]
        del self.names[index:]
        if popped[0] in _MARKERS:
            return
        for name in popped[1:]:
            if name in _MARKERS:
                break
            if name in _FORMATTING:
                self.names.append(name)

    def start(self, name: str) -> None:
        if name in _SKELETON or name in _VOID or name in _RAW_TEXT_END:
            return  # merged, empty, or closed again by its own end tag after its text
        if name in _UNMODELLED:
            raise Unmeasurable(name)
        if name in _TABLE_PARTS:
            self._start_table_part(name)
            return
        if name in _HEADINGS and self.names and self.names[-1] in _HEADINGS:
            self.close(len(self.names) - 1)
        if name in ("li", "dd", "dt"):
            self._close_list_item({"li"} if name == "li" else {"dd", "dt"})
        if name in _CLOSES_P:
            self._close_p()
        # Not modelled, each only ever making the estimate deeper: <a> and <nobr> closing
        # an open one, <button> closing an open button, the limit of three identical
        # formatting elements, <table> closing a <p> outside quirks mode.
        self.names.append(name)

    def end(self, name: str) -> None:
        if name in _SKELETON or name == "br":
            return  # </body> and </html> only change mode; </br> is a <br>
        if name == "p":
            self._close_p()
        elif name == "li":
            self._close_found({"li"}, _LIST_ITEM_SCOPE)
        elif name in ("dd", "dt"):
            self._close_found({name}, _SCOPE)
        elif name in _HEADINGS:
            self._close_found(_HEADINGS, _SCOPE)
        elif name == "form":
            # </form> takes the form out of the stack and leaves what it contains open.
            index = self.find({"form"}, _SCOPE)
            if index is not None:
                del self.names[index]
        elif name in _FORMATTING:
            index = self.find({name}, _SCOPE)
            # With a block inside it, the adoption agency moves things around without
            # making the tree shallower: keep the depth as it is.
            if index is not None and not any(n in _SPECIAL for n in self.names[index + 1 :]):
                self.close(index)
        elif (name in _TABLE_PARTS or name == "table") and "table" in self.names:
            self._close_found({name}, _NOWHERE if name == "table" else _INSIDE_TABLE)
        elif name in _CLOSED_IN_SCOPE:
            self._close_found({name}, _SCOPE)
        else:
            self._close_other(name)

    def _close_found(self, targets: set[str] | frozenset[str], boundaries: frozenset[str]) -> None:
        index = self.find(targets, boundaries)
        if index is not None:
            self.close(index)

    def _close_other(self, name: str) -> None:
        """Any other end tag closes the nearest element of its name unless a special
        element (div, td, ...) comes first, in which case the parser ignores it."""
        for index in range(len(self.names) - 1, -1, -1):
            if self.names[index] == name:
                self.close(index)
                return
            if self.names[index] in _SPECIAL:
                return

    def _close_p(self) -> None:
        self._close_found({"p"}, _BUTTON_SCOPE)

    def _close_list_item(self, items: set[str]) -> None:
        for index in range(len(self.names) - 1, -1, -1):
            name = self.names[index]
            if name in items:
                self.close(index)
                return
            if name in _SPECIAL and name not in ("address", "div", "p"):
                return

    def _start_table_part(self, name: str) -> None:
        if "table" not in self.names:
            return  # outside a table the parser ignores these tags
        if name in ("colgroup", "col"):
            return  # columns hold no content
        if name != "caption":
            cell = self.find(_TABLE_STRUCTURE, _NOWHERE)
            closes = {"td", "th"} | ({"tr"} if name != "td" and name != "th" else set())
            if name in _ROW_GROUPS:
                closes |= {"tr", *_ROW_GROUPS}
            if cell is not None and self.names[cell] in closes:
                self.close(cell)
                return self._start_table_part(name)
            # The parser adds the row group and row a cell needs.
            top = self.names[-1] if self.names else ""
            if name in ("td", "th", "tr") and top == "table":
                self.names.append("tbody")
                top = "tbody"
            if name in ("td", "th") and top in _ROW_GROUPS:
                self.names.append("tr")
        self.names.append(name)


def nesting_exceeds(html: str, limit: int) -> bool:
    """Whether parsing `html` could open more than `limit` elements inside one another (or
    uses markup we cannot measure). Linear in the length of `html` for a fixed limit; stops
    at the first tag past the limit."""
    elements = _OpenElements()
    try:
        for kind, name, _start, _end in _tokens(html, with_text=False):
            if kind is _Kind.START:
                elements.start(name)
            elif kind is _Kind.END:
                elements.end(name)
            if len(elements.names) > limit:
                return True
    except Unmeasurable:
        return True
    return False


_BREAKS = frozenset({
    "br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
    "table", "ul", "ol", "dt", "dd"
})  # fmt: skip


def visible_text(html: str) -> str:
    """The text a reader would see, without styles, scripts or comments, in one linear pass
    and without parsing a tree: what we show of a mail whose HTML is too complex to clean
    and that came without a text part. Plain text: the caller escapes it."""
    parts: list[str] = []
    try:
        for kind, name, start, end in _tokens(html, with_text=True):
            if kind is _Kind.TEXT:
                parts.append(html[start:end])
            elif name in _BREAKS:
                parts.append("\n")
    except Unmeasurable:
        pass  # a nested script: the text read so far is what we can show
    text = html_entities.unescape("".join(parts))
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
