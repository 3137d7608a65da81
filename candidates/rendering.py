"""Pure functions that make stored mail safe to show and to download: no I/O, no database.

Mail is written by strangers, so an HTML body is treated as hostile: nh3 keeps only
formatting, links and tables, and remote images are held back until the viewer asks for
them (an image URL can tell its sender who opened the message, when, and from where).
Cleaning happens once, when a message is stored, and only for HTML within caps on size
and nesting that are checked first: nh3's time grows with the square of the nesting.
"""

import re
import unicodedata
from dataclasses import dataclass

import nh3
from django.utils.html import linebreaks
from django.utils.safestring import SafeString, mark_safe

from candidates.htmldepth import nesting_exceeds, visible_text

# Caps checked before nh3 runs. nh3 is linear in size for a given nesting depth and pays
# about 2 ns per open element on every tag, so depth is what must be bounded: measured on
# 2 vCPU, 512 KB of the worst shapes under these caps (tags nested 256 deep, over and over;
# 100,000 unclosed <li>) clean in 0.1 to 0.7 s per pass, while 512 KB nested 100,000 deep
# took 118 s. Real mail sits far below both: Gmail clips messages at 102 KB, and each quoted
# reply in a chain adds about three levels, so a forty-message chain nests ~120 deep. The
# depth is an estimate from above (candidates/htmldepth.py), hence the headroom.
MAX_HTML_CHARS = 512 * 1024
MAX_HTML_DEPTH = 256

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "ins", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_CELL = {"align", "valign", "colspan", "rowspan", "width", "height", "bgcolor"}
_ATTRIBUTES = {
    "*": {"style", "title", "dir", "lang"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "face", "size"},
    "table": {"align", "width", "border", "cellpadding", "cellspacing", "bgcolor"},
    "td": _CELL,
    "th": _CELL,
    "tr": {"align", "valign", "bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start"},
}
# Typography and box properties only: nothing that loads a URL (background, list-style,
# border-image) or lifts a message out of its box over the page (position, z-index).
_STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "line-height", "text-align", "text-decoration", "text-indent",
    "text-transform", "vertical-align", "white-space", "letter-spacing", "width",
    "max-width", "height", "margin", "margin-top", "margin-right", "margin-bottom",
    "margin-left", "padding", "padding-top", "padding-right", "padding-bottom",
    "padding-left", "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-collapse", "border-spacing",
    "border-radius", "display",
}  # fmt: skip
_REMOTE = re.compile(r"^https?://", re.IGNORECASE)
# nh3's output is canonical (double-quoted attributes; <, > and " escaped inside values),
# so within it an <img> tag ends at the first ">" and ' src="' can only start an attribute.
_IMG_TAG = re.compile(r"<img\b[^>]*>")
_IMG_SRC = re.compile(r'\ssrc="')


@dataclass(frozen=True)
class CleanedHtml:
    html: SafeString
    has_remote_images: bool


def _keep_web_urls(tag: str, attribute: str, value: str) -> str | None:
    # Belt and braces on top of url_schemes: links may be web or mailto, images only web.
    if attribute == "href" and not (_REMOTE.match(value) or value.lower().startswith("mailto:")):
        return None
    if attribute in {"src", "data-remote-src"} and not _REMOTE.match(value):
        return None
    return value


def _clean(html: str, attributes: dict[str, set[str]]) -> str:
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style", "title", "head", "template", "noscript"},
        attributes=attributes,
        attribute_filter=_keep_web_urls,
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
        link_rel="noopener noreferrer",
        set_tag_attribute_values={
            "a": {"target": "_blank"},
            "img": {"referrerpolicy": "no-referrer"},
        },
        filter_style_properties=_STYLE_PROPERTIES,
    )


def clean_email_html(html: str) -> CleanedHtml:
    """A mail's HTML body made safe to place in our page.

    Scripts, styles, event handlers, forms and frames are removed; links open in a new tab
    without telling the target where they came from; only http(s) images survive, with
    their URL moved to `data-remote-src` and no `src`, so nothing is fetched until the
    viewer chooses to load them (`has_remote_images` says whether to offer that).
    """
    cleaned = _clean(html or "", _ATTRIBUTES)
    found = False

    def hold_back(match: re.Match) -> str:
        nonlocal found
        tag, count = _IMG_SRC.subn(' data-remote-src="', match.group(0), count=1)
        found = found or bool(count)
        return tag

    held = _IMG_TAG.sub(hold_back, cleaned)
    # A second pass that allows no `src` on images at all: whatever the rewrite above did,
    # what reaches the page is nh3's output.
    no_src = {**_ATTRIBUTES, "img": (_ATTRIBUTES["img"] - {"src"}) | {"data-remote-src"}}
    safe = _clean(held, no_src)
    return CleanedHtml(html=mark_safe(safe), has_remote_images=found)  # noqa: S308 (nh3's output)


@dataclass(frozen=True)
class StoredHtml:
    """A mail's HTML body as we store it: the original, kept for download, and what the
    Emails tab shows, cleaned once here and placed in the page as is on every render."""

    original: str
    # Safe to place in our page; "" when there is no HTML, or when it was too complex and
    # the mail's own text part is shown instead.
    display: str
    has_remote_images: bool
    # Over the size or nesting caps: never given to nh3.
    too_complex: bool

    def as_model_fields(self) -> dict[str, str | bool]:
        """The `EmailMessage` fields this sets, for `objects.create(**...)`."""
        return {
            "body_html": self.original,
            "body_html_display": self.display,
            "has_remote_images": self.has_remote_images,
            "html_too_complex": self.too_complex,
        }


def html_too_complex(html: str) -> bool:
    """Whether cleaning `html` could take more than linear time: checked in one linear
    pass before nh3 ever sees it."""
    return len(html) > MAX_HTML_CHARS or nesting_exceeds(html, MAX_HTML_DEPTH)


def prepare_html_for_storage(html: str, *, text_part: str = "") -> StoredHtml:
    """What to store for a mail's HTML part, given its text part. Cleaned HTML when the
    caps allow; otherwise the text part is shown (nothing to store), or when there is none
    the HTML's visible text, escaped. Either way the original stays for download."""
    html = html or ""
    if not html:
        return StoredHtml(original="", display="", has_remote_images=False, too_complex=False)
    if html_too_complex(html):
        display = "" if text_part.strip() else linebreaks(visible_text(html), autoescape=True)
        return StoredHtml(original=html, display=display, has_remote_images=False, too_complex=True)
    cleaned = clean_email_html(html)
    return StoredHtml(
        original=html,
        display=str(cleaned.html),
        has_remote_images=cleaned.has_remote_images,
        too_complex=False,
    )


_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')
_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


# Control (Cc), format (Cf: the bidi overrides, embeddings and isolates U+202A-U+202E and
# U+2066-U+2069, the marks U+200E, U+200F and U+061C, zero-width characters), surrogate (Cs)
# and line/paragraph separator (Zl, Zp) characters: invisible, yet they can reorder what
# is shown, so that `invoice\u202efdp.exe` reads as "invoiceexe.pdf".
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def clean_attachment_name(name: str) -> str:
    """An attachment's name as it may be shown or offered for download: NFC, without the
    invisible characters that could disguise its real extension."""
    name = unicodedata.normalize("NFC", name or "")
    return "".join(char for char in name if unicodedata.category(char) not in _INVISIBLE_CATEGORIES)


def safe_download_filename(name: str) -> str:
    """A filename for Content-Disposition: no path, control, bidi or quoting characters,
    and never empty or hidden."""
    name = _UNSAFE_FILENAME.sub("_", unicodedata.normalize("NFC", name or ""))
    name = clean_attachment_name(name).strip(" ._")
    return name[:150] or "attachment"


def safe_content_type(content_type: str) -> str:
    """The stored type if it is a plain `type/subtype`, else a generic binary type."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    return value if _MIME_TYPE.match(value) else "application/octet-stream"
