"""Add a thread from my mailbox, on Gmail and on Outlook: a search that shows headers only,
attaching to a candidate one may see or to a new one, later replies through the regular
sync, and the refusals (limited sync, no mailbox, candidates one may not see)."""

from django.urls import reverse

from accounts.models import Organisation
from candidates import audit
from candidates.models import Candidate, EmailThread
from mailsync.models import MailboxThread
from tests.mailsync.conftest import MailWorld

BODY = "Bob referred me, here is my portfolio."


def _conversation(world):
    """The candidate writes first, the recruiter answers; and one unrelated thread."""
    world.write(world.candidate_box, world.recruiter.email, "Referral", BODY)
    world.reply(world.recruiter_box, world.candidate_address, "Thanks! Let's talk.")
    world.write(world.recruiter_box, "someone@else.test", "Lunch", "Pizza on Friday?")


def _search(world, text, **extra):
    return world.client.get(reverse("mailsync:mailbox_threads"), {"q": text, **extra})


def _provider_thread_id(world, subject="Referral"):
    message = world.recruiter_box.messages.filter(subject=subject).first()
    return message.thread_id


def _attach(world, thread_id, **data):
    return world.client.post(reverse("mailsync:mailbox_thread_attach", args=[thread_id]), data)


def test_search_shows_headers_and_fetches_no_body_or_snippet(world, settings):
    settings.SANDBOX_LOG_RESPONSE_BODIES = True
    world.connect()
    _conversation(world)
    world.log().delete()

    page = _search(world, world.candidate_address).content.decode()

    assert "Referral" in page
    assert "Ada Visible" in page
    assert "Lunch" not in page
    assert BODY not in page
    row = page.split("Referral", 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td>" in row  # the candidate's message and the answer
    answers = [entry.response_body for entry in world.log()]
    assert answers
    assert not any("Bob referred me" in answer for answer in answers)
    assert not any('"snippet"' in answer or "bodyPreview" in answer for answer in answers)
    assert not world.whole_fetches().exists()
    if world.kit.name == "google":
        assert set(world.log().values_list("operation", flat=True)) == {
            "gmail.users.threads.list",
            "gmail.users.threads.get",
        }
        assert sum(world.log().values_list("units", flat=True)) == 20  # 10 + 10 per thread
    assert not EmailThread.objects.exists()


def test_opening_a_thread_reads_it_without_storing_it(world):
    world.connect()
    _conversation(world)

    page = world.client.get(
        reverse("mailsync:mailbox_thread", args=[_provider_thread_id(world)])
    ).content.decode()

    assert BODY in page
    assert not EmailThread.objects.exists()
    assert not MailboxThread.objects.exists()


def test_attaching_imports_the_thread_and_later_replies_arrive_by_sync(world):
    world.connect()
    _conversation(world)
    candidate = world.candidate
    thread_id = _provider_thread_id(world)

    response = _attach(world, thread_id, attach="1", candidate=str(candidate.pk))

    thread = EmailThread.objects.get(candidate=candidate)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/emails/#thread-{thread.pk}")
    assert thread.subject == "Referral"
    assert thread.owner == world.recruiter
    assert thread.visibility == EmailThread.Visibility.PRIVATE
    assert thread.origin == EmailThread.Origin.IMPORTED
    messages = list(thread.messages.order_by("sent_at"))
    assert [m.sender for m in messages] == [None, world.recruiter]
    entry = audit.entries_for_candidate(candidate.pk).get(
        additional_data__event="added_from_mailbox"
    )
    assert entry.additional_data["event"] == "added_from_mailbox"
    assert entry.additional_data["messages"] == 2
    assert "Referral" not in str(entry.additional_data) + entry.object_repr
    assert EmailThread.objects.count() == 1  # nothing of the unrelated "Lunch" thread

    world.reply(world.candidate_box, world.recruiter.email, "Monday works for me.")
    report = world.sync()

    assert report.stored == 1
    assert thread.messages.count() == 3
    page = world.client.get(response["Location"]).content.decode()
    assert "Monday works for me." in page


def test_attaching_a_thread_already_in_threadline_says_so_and_links_to_it(world):
    world.connect()
    _conversation(world)
    thread_id = _provider_thread_id(world)
    _attach(world, thread_id, attach="1", candidate=str(world.candidate.pk))
    thread = EmailThread.objects.get()

    again = _attach(world, thread_id, attach="1", candidate=str(world.candidate.pk))
    listed = _search(world, "Referral").content.decode()

    assert again["Location"].endswith(f"#thread-{thread.pk}")
    assert EmailThread.objects.count() == 1
    assert "Already in Threadline (Ada Visible)" in listed


def test_a_new_candidate_is_created_from_the_counterpart(world):
    world.connect()
    world.write(world.recruiter_box, "dana@newpeople.test", "Your application", "Hi Dana!")
    thread_id = _provider_thread_id(world, "Your application")

    form = world.client.get(reverse("mailsync:mailbox_thread_attach", args=[thread_id]))
    assert 'value="dana@newpeople.test"' in form.content.decode()
    response = _attach(
        world, thread_id, create="1", full_name="Dana New", email=" Dana@NewPeople.test "
    )

    dana = Candidate.objects.get(full_name="Dana New")
    assert dana.emails.get().address == "dana@newpeople.test"
    thread = EmailThread.objects.get(candidate=dana)
    assert response["Location"].endswith(f"/candidates/{dana.pk}/emails/#thread-{thread.pk}")
    assert thread.messages.get().sender == world.recruiter


def test_a_new_candidate_with_a_visible_candidates_address_names_them(gmail_world):
    world = gmail_world
    world.connect()
    _conversation(world)

    response = _attach(
        world,
        _provider_thread_id(world),
        create="1",
        full_name="Someone Else",
        email=world.candidate_address,
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Ada Visible already has this address" in page
    assert 'class="error"' in page
    assert not Candidate.objects.filter(full_name="Someone Else").exists()
    assert not EmailThread.objects.exists()


def _limited_world(world, client_for) -> MailWorld:
    limited = MailWorld(
        world.team,
        world.kit,
        client_for(world.team.limited),
        recruiter=world.team.limited,
        colleague_of=world,
    )
    limited.connect()
    return limited


def test_typeahead_lists_only_candidates_the_user_may_see(world, client_for):
    limited = _limited_world(world, client_for)
    url = reverse("mailsync:mailbox_thread_candidates")

    mine = limited.client.get(url, {"candidate_search": "a"}).content.decode()
    by_address = limited.client.get(url, {"candidate_search": "grace@"}).content.decode()
    team_member = world.client.get(url, {"candidate_search": "grace@"}).content.decode()

    assert "Ada Visible" in mine
    assert "Grace Hidden" not in mine
    assert "Grace Hidden" not in by_address
    assert "Grace Hidden" in team_member


def test_limited_member_cannot_attach_to_a_hidden_candidate_or_create_one(world, client_for):
    limited = _limited_world(world, client_for)
    hidden = world.team.candidate_elsewhere
    limited.write(limited.candidate_box, limited.recruiter.email, "Hi", "Hello.")
    thread_id = _provider_thread_id(limited, "Hi")

    to_hidden = _attach(limited, thread_id, attach="1", candidate=str(hidden.pk))
    create = _attach(
        limited, thread_id, create="1", full_name="Copy", email=hidden.emails.get().address
    )

    assert to_hidden.status_code == 200
    assert "Choose one of the candidates you can see." in to_hidden.content.decode()
    assert create.status_code == 200
    assert "You may not add candidates." in create.content.decode()
    for page in (to_hidden, create):
        assert "Grace Hidden" not in page.content.decode()
    assert not EmailThread.objects.exists()


def test_limited_sync_disables_adding_from_the_mailbox_with_the_reason(world):
    organisation = world.team.organisation
    organisation.email_sync_level = Organisation.SyncLevel.LIMITED
    organisation.save(update_fields=["email_sync_level"])
    world.connect()
    _conversation(world)

    listing = world.client.get(reverse("candidates:list")).content.decode()
    search = _search(world, world.candidate_address).content.decode()
    attach = _attach(
        world, _provider_thread_id(world), attach="1", candidate=str(world.candidate.pk)
    ).content.decode()
    tab = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk])).content.decode()

    reason = "Threadline has no permission to read mailboxes"
    assert 'disabled aria-describedby="from-email-unavailable"' in listing
    assert reason in listing and reason in search and reason in attach
    assert "Add a thread from my mailbox</button>" in tab
    assert "Referral" not in search
    assert not EmailThread.objects.exists()
    assert not world.log(operation__in=["gmail.users.threads.list", "graph.messages.list"]).exists()


def test_without_a_mailbox_the_list_says_to_connect_one(team, client_for):
    listing = client_for(team.team_member).get(reverse("candidates:list")).content.decode()
    search = client_for(team.team_member).get(reverse("mailsync:mailbox_threads")).content.decode()

    assert "Connect your mailbox under Settings" in listing
    assert 'disabled aria-describedby="from-email-unavailable"' in listing
    assert "Connect your mailbox under Settings" in search


def test_a_hidden_candidate_is_not_preselected_or_named(team, client_for):
    hidden = team.candidate_elsewhere
    client = client_for(team.limited)

    page = client.get(reverse("mailsync:mailbox_threads"), {"candidate": str(hidden.pk)})

    assert page.status_code == 200
    assert "Grace Hidden" not in page.content.decode()
    assert str(hidden.pk) not in page.content.decode()
