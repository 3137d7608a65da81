"""The pure functions that make mail safe to show and to download."""

import pytest
from django.utils.safestring import SafeString

from candidates.rendering import clean_email_html, safe_content_type, safe_download_filename


def test_scripts_styles_and_event_handlers_are_removed_with_their_content():
    cleaned = clean_email_html(
        "<style>body { display: none }</style><script>alert(1)</script>"
        '<p onclick="alert(2)" onmouseover="alert(3)">Hello</p>'
        '<svg onload="alert(4)"><script>alert(5)</script></svg>'
        '<iframe src="https://evil.example"></iframe><form action="/x"><input name="q"></form>'
    )

    assert str(cleaned.html) == "<p>Hello</p>"
    assert isinstance(cleaned.html, SafeString)
    assert not cleaned.has_remote_images


def test_remote_images_keep_their_url_in_data_remote_src_and_have_no_src():
    cleaned = clean_email_html(
        '<p>Logo:</p><img alt="ACME" width="80" src="https://cdn.example/logo.png?a=1&b=2">'
        "<IMG SRC=http://cdn.example/pixel.gif onerror=alert(1)>"
    )

    assert cleaned.has_remote_images
    assert 'data-remote-src="https://cdn.example/logo.png?a=1&amp;b=2"' in cleaned.html
    assert 'data-remote-src="http://cdn.example/pixel.gif"' in cleaned.html
    assert " src=" not in cleaned.html
    assert "onerror" not in cleaned.html
    assert 'referrerpolicy="no-referrer"' in cleaned.html


@pytest.mark.parametrize(
    "src",
    [
        "cid:logo@mail",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "/relative/image.png",
        "file:///etc/passwd",
    ],
)
def test_images_of_other_schemes_lose_their_source_entirely(src):
    cleaned = clean_email_html(f'<img alt="x" src="{src}">')

    assert str(cleaned.html) == '<img alt="x" referrerpolicy="no-referrer">'
    assert not cleaned.has_remote_images


def test_an_attribute_that_looks_like_src_does_not_fool_the_image_rewrite():
    cleaned = clean_email_html("""<img alt='x" src="https://evil.example/a.png'>""")

    assert str(cleaned.html) == (
        '<img alt="x&quot; src=&quot;https://evil.example/a.png" referrerpolicy="no-referrer">'
    )
    assert not cleaned.has_remote_images


@pytest.mark.parametrize(
    "href", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "/admin/"]
)
def test_links_to_scripts_or_our_own_pages_lose_their_target(href):
    cleaned = clean_email_html(f'<a href="{href}">click</a>')

    assert "href" not in cleaned.html
    assert "click" in cleaned.html


def test_web_links_open_in_a_new_tab_without_a_referrer():
    cleaned = clean_email_html('<a href="https://example.com/job" target="_self" rel="x">job</a>')

    assert str(cleaned.html) == (
        '<a href="https://example.com/job" target="_blank" rel="noopener noreferrer">job</a>'
    )


def test_formatting_tables_and_safe_styles_survive():
    cleaned = clean_email_html(
        '<table border="1"><tr><td colspan="2" style="color: red; position: fixed; '
        'background: url(https://t.example/x)"><b>Bold</b> <em>it</em></td></tr></table>'
        "<ul><li>one</li></ul><blockquote>quoted</blockquote>"
    )

    assert str(cleaned.html) == (
        '<table border="1"><tbody><tr><td colspan="2" style="color:red"><b>Bold</b> '
        "<em>it</em></td></tr></tbody></table><ul><li>one</li></ul>"
        "<blockquote>quoted</blockquote>"
    )


def test_ids_and_classes_cannot_reach_our_page():
    cleaned = clean_email_html('<div id="profile-tab" class="primary">x</div>')

    assert str(cleaned.html) == "<div>x</div>"


def test_empty_body_cleans_to_nothing():
    assert clean_email_html("").html == ""


@pytest.mark.parametrize(
    "name,expected",
    [
        ("CV.pdf", "CV.pdf"),
        ("../../etc/passwd", "etc_passwd"),
        ('a"b\r\nc.txt', "a_b_c.txt"),
        ("C:\\Users\\x.doc", "C_Users_x.doc"),
        (".htaccess", "htaccess"),
        ("", "attachment"),
        ("Lebenslauf – Müller.pdf", "Lebenslauf – Müller.pdf"),
    ],
)
def test_download_filenames_carry_no_paths_or_header_breaking_characters(name, expected):
    assert safe_download_filename(name) == expected


@pytest.mark.parametrize(
    "content_type,expected",
    [
        ("application/pdf", "application/pdf"),
        ("Text/HTML; charset=utf-8", "text/html"),
        ("text/html\r\nSet-Cookie: x=1", "application/octet-stream"),
        ("nonsense", "application/octet-stream"),
        ("", "application/octet-stream"),
    ],
)
def test_download_content_types_are_plain_or_generic(content_type, expected):
    assert safe_content_type(content_type) == expected
