"""Pure functions that make stored mail safe to show and to download: no I/O, no database.

Mail is written by strangers, so an HTML body is treated as hostile: nh3 keeps only
formatting, links and tables, and remote images are held back until the viewer asks for
them (an image URL can tell its sender who opened the message, when, and from where).
"""

import re
import unicodedata
from dataclasses import dataclass

import nh3
from django.utils.safestring import SafeString, mark_safe

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
