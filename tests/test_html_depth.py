"""The nesting estimate checked before nh3 runs (candidates/htmldepth.py): every way we know
to make a browser's parser nest deeper than the markup seems to must count as deep, and
ordinary (also sloppy) mail must not."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candidates.htmldepth import nesting_exceeds, visible_text
from candidates.rendering import prepare_html_for_storage

LIMIT = 50
# Shapes that make html5ever's tree deeper with every repetition, while a naive count of
# start and end tags stays near zero for most. Timed against nh3 while writing this: most
# cost it quadratic time; the table shapes (whose scope boundaries keep the parser's
# searches short) and the misnested formatting grew linearly, and count as deep all the same.
DEEPENING = {
    "plain divs": "<div>",
    "end tag inside a quoted attribute": '<div title="></div>">',
    "end tag inside a comment": "<div><!--</div>-->",
    "abruptly closed comment": "<!--><div>",
    "end tag inside raw text": "<div><noscript></div></noscript>",
    "end tag inside a style": "<div><style></div></style>",
    "long s is not an s": "<div><script></ſcript></div></script>",
    "formatting reopened after a block closes it": '<div><b id="{n}"></div>x',
    "distinct unclosed formatting": '<b id="{n}">x',
    "end tag stopped by a special element": "<span><div></span>",
    "cell end tag outside a table": "<td><div></td>",
    "form end tag leaves its content open": "<form><div></form>",
    "heading end tag closes the nearest heading": "<h1><div><h2></h1>",
    "body end tag closes nothing": "<div></body>",
    "end tag of another element": "<div></span>",
    "misnested formatting": "<i id={n}><p>x</i></p>",
    "block inside formatting": "<b id={n}><div>x</b>",
    "nested lists": "<ul><li>x",
    "nested definition lists": "<dl><dd><div>",
    "div inside a caption": "<table><caption><div></caption>",
    "tables with implied rows": "<table><td>",
    "uppercase tags": "<DIV>",
}
UNMEASURABLE = {
    "svg": "<svg><style></div></style>",
    "math": "<math><mi>x</mi></math>",
    "select": "<select><iframe></select>",
    "template": "<template><div></template>",
    "plaintext": "<plaintext><div>",
    "script escapes": "<script><!--<script></script><div>",
}
SHALLOW = {
    "sibling paragraphs": "<p>Hello <b>there</b>, see you <i>soon</i>.</p>",
    "unclosed paragraphs": "<p>x",
    "unclosed list items": "<ul><li>x<li>y</ul>",
    "unclosed cells": "<table><tr><td>a<td>b<tr><td>c</table>",
    "unclosed font in cells": "<table><tr><td><font color=red>x</td></tr></table>",
    "formatting closed by a paragraph": "<p><b>x</p></b>",
    "word paragraphs": '<p class=MsoNormal><span style="color:red">x<o:p></o:p></span></p>',
    "voids": "<br><img src=x><hr><input>",
    "styles with markup-like text": "<style>/* <div><div> */ p { color: red }</style>",
    "comments": "<!-- <div><div><div> --><!----><!--->",
    "quoted angle brackets": '<a title="<div><div>" href="https://example.com/?a=<b>">x</a>',
    "doctype and skeleton": "<!DOCTYPE html><html><head><title>x</title></head><body></body>",
}


@pytest.mark.parametrize("unit", DEEPENING.values(), ids=DEEPENING.keys())
def test_markup_that_nests_deep_counts_as_deep(unit):
    html = "".join(unit.format(n=n) for n in range(LIMIT * 4))

    assert nesting_exceeds(html, LIMIT)


@pytest.mark.parametrize("html", UNMEASURABLE.values(), ids=UNMEASURABLE.keys())
def test_markup_whose_rules_we_do_not_model_counts_as_deep(html):
    assert nesting_exceeds(html, LIMIT)


@pytest.mark.parametrize("unit", SHALLOW.values(), ids=SHALLOW.keys())
def test_ordinary_and_sloppy_mail_repeated_stays_shallow(unit):
    assert not nesting_exceeds(unit * 2000, LIMIT)


def test_a_reply_chain_nests_one_level_set_per_quoted_message():
    quote = '<div class="gmail_quote"><div dir="ltr">On Monday Sam wrote:</div><blockquote>'
    chain = quote * 12 + "Hi" + "</blockquote></div>" * 12

    assert not nesting_exceeds(chain, LIMIT)
    assert nesting_exceeds(quote * 30, LIMIT)


def test_input_ending_inside_a_tag_or_comment_is_measured_up_to_there():
    assert not nesting_exceeds("<div><div title='", LIMIT)
    assert not nesting_exceeds("<div><!-- <div>", LIMIT)
    assert nesting_exceeds("<div>" * (LIMIT + 1) + "<!--", LIMIT)


def test_visible_text_leaves_out_styles_scripts_and_comments():
    html = (
        "<html><head><style>p { color: red }</style><title>Mail</title></head><body>"
        "<p>Tuesday <b>works</b> &amp; suits me</p><!-- tracking --><script>x()</script>"
        "<div>Best,<br>Ada</div></body></html>"
    )

    assert visible_text(html) == "Tuesday works & suits me\nBest,\nAda"


def test_html_over_the_caps_is_stored_as_escaped_text_when_there_is_no_text_part():
    html = "<div>" * 300 + "<p>Hi &lt;script&gt; <img src=https://t.example/p.gif></p>"

    stored = prepare_html_for_storage(html, text_part="")
    with_text = prepare_html_for_storage(html, text_part="Hi")

    assert stored.too_complex
    assert stored.display == "<p>Hi &lt;script&gt;</p>"
    assert not stored.has_remote_images
    assert stored.original == html
    assert with_text.too_complex
    assert with_text.display == ""


def test_no_html_stores_nothing_to_display():
    stored = prepare_html_for_storage("", text_part="Hello")

    assert (stored.display, stored.too_complex, stored.has_remote_images) == ("", False, False)


PIECES = [
    "<div>", "</div>", "<b id=1>", "</b>", "<p>", "</p>", "<li>", "<table>", "<td>", "</tr>",
    "<!--", "-->", "--!>", "<!-->", "<!", "<?", "</", "</>", "<style>", "</style", "<script>",
    "</script>", "<svg>", "<form>", "</form>", "</body>", '="', "='", '"', "'", ">", "<", "/",
    " ", "x", "&amp;", "&", "\x00", "\r", "<DIV", "ſ", "</h1>", "<h2>",
]  # fmt: skip


@given(st.lists(st.sampled_from(PIECES), max_size=200).map("".join))
@settings(max_examples=300, deadline=None)
def test_any_markup_is_measured_and_read_without_raising(html):
    assert nesting_exceeds(html, 5) in (True, False)
    assert isinstance(visible_text(html), str)
    assert isinstance(prepare_html_for_storage(html, text_part="").display, str)
