"""Attachment names written by strangers cannot disguise their real extension with bidi or
other invisible characters (issue 9, observation 9)."""

import pytest
from django.urls import reverse

from candidates.rendering import clean_attachment_name, safe_download_filename
from tests.factories import EmailAttachmentFactory, EmailMessageFactory, EmailThreadFactory

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "invoice‮fdp.exe" reads as "invoiceexe.pdf"


@pytest.mark.parametrize(
    "name,expected",
    [
        (f"invoice{RLO}fdp.exe", "invoicefdp.exe"),
        ("a\u202ab\u202bc\u202cd\u202de", "abcde"),
        ("\u2066x\u2067y\u2068z\u2069.pdf", "xyz.pdf"),
        ("\u200eleft\u200fright\u061c.doc", "leftright.doc"),
        ("zero\u200bwidth\ufeff.txt", "zerowidth.txt"),
        ("line\u2028break\u2029.txt", "linebreak.txt"),
        ("tab\there\x00.txt", "tabhere.txt"),
        ("Lebenslauf – Müller.pdf", "Lebenslauf – Müller.pdf"),
        ("שלום.pdf", "שלום.pdf"),  # right-to-left letters are text, not controls
        ("", ""),
    ],
)
def test_clean_attachment_name_drops_bidi_and_other_invisible_characters(name, expected):
    assert clean_attachment_name(name) == expected


def test_download_filename_drops_bidi_controls():
    assert safe_download_filename(f"invoice{RLO}fdp.exe") == "invoicefdp.exe"
    assert safe_download_filename(f"{RLO}\u2066") == "attachment"


def test_attachment_named_with_a_bidi_override_shows_and_downloads_without_it(team, client_for):
    thread = EmailThreadFactory(candidate=team.candidate_on_my_posting, owner=team.team_member)
    attachment = EmailAttachmentFactory(
        message=EmailMessageFactory(thread=thread), filename=f"invoice{RLO}fdp.exe"
    )
    client = client_for(team.team_member)

    page = client.get(reverse("mailsync:emails", args=[thread.candidate_id])).content.decode()
    download = client.get(
        reverse("candidates:attachment", args=[thread.candidate_id, attachment.pk])
    )

    assert RLO not in page
    assert "invoicefdp.exe</a>" in page
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="invoicefdp.exe"'
