import datetime as dt

import factory
from factory.django import DjangoModelFactory

from accounts.models import IntegrationPermission, Organisation, Role, User
from candidates.models import (
    Application,
    Candidate,
    CandidateEmail,
    EmailAttachment,
    EmailMessage,
    EmailThread,
    Posting,
)
from candidates.rendering import StoredHtml, prepare_html_for_storage
from core.attachment_storage import attachment_blob_write
from mailsync.models import MailboxConnection
from mailsync.providers import get_provider

PASSWORD = "correct horse battery staple"


class OrganisationFactory(DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    email_provider = Organisation.EmailProvider.GOOGLE


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@company.test")
    full_name = factory.Faker("name")
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.TEAM_MEMBER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class PostingFactory(DjangoModelFactory):
    class Meta:
        model = Posting
        skip_postgeneration_save = True

    organisation = factory.SubFactory(OrganisationFactory)
    title = factory.Sequence(lambda n: f"Posting {n}")

    @factory.post_generation
    def hiring_team(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.hiring_team.add(*extracted)


class CandidateFactory(DjangoModelFactory):
    class Meta:
        model = Candidate
        skip_postgeneration_save = True

    organisation = factory.SubFactory(OrganisationFactory)
    full_name = factory.Faker("name")
    headline = factory.Faker("job")

    @factory.post_generation
    def email(obj, create, extracted, **kwargs):
        if create:
            address = extracted or f"candidate-{obj.pk.hex[:12]}@example.com"
            CandidateEmail.objects.create(
                organisation=obj.organisation, candidate=obj, address=address, is_primary=True
            )

    @factory.post_generation
    def postings(obj, create, extracted, **kwargs):
        for posting in extracted or []:
            Application.objects.create(candidate=obj, posting=posting)


class IntegrationPermissionFactory(DjangoModelFactory):
    class Meta:
        model = IntegrationPermission

    user = factory.SubFactory(UserFactory)
    kind = IntegrationPermission.Kind.EMAIL


class EmailThreadFactory(DjangoModelFactory):
    class Meta:
        model = EmailThread

    candidate = factory.SubFactory(CandidateFactory)
    organisation = factory.SelfAttribute("candidate.organisation")
    owner = factory.SubFactory(
        UserFactory, organisation=factory.SelfAttribute("..candidate.organisation")
    )
    subject = factory.Sequence(lambda n: f"Thread subject {n}")


def _stored_html(message) -> StoredHtml:
    return prepare_html_for_storage(message.body_html, text_part=message.body_text)


class EmailMessageFactory(DjangoModelFactory):
    """A synced inbound message unless told otherwise."""

    class Meta:
        model = EmailMessage

    thread = factory.SubFactory(EmailThreadFactory)
    message_id = factory.Sequence(lambda n: f"<message-{n}@mail.test>")
    message_id_digest = factory.Sequence(lambda n: f"{n:064x}")
    direction = EmailMessage.Direction.INBOUND
    status = EmailMessage.Status.SYNCED
    from_header = "Candidate <candidate@example.com>"
    to_header = "Recruiter <recruiter@company.test>"
    subject = factory.SelfAttribute("thread.subject")
    body_text = "Hello, thanks for getting in touch."
    # Given `body_html`, the other HTML fields are what the store path would set.
    body_html = ""
    body_html_display = factory.LazyAttribute(lambda o: _stored_html(o).display)
    has_remote_images = factory.LazyAttribute(lambda o: _stored_html(o).has_remote_images)
    html_too_complex = factory.LazyAttribute(lambda o: _stored_html(o).too_complex)
    sent_at = factory.Sequence(
        lambda n: dt.datetime(2025, 1, 1, 9, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
    )


class EmailAttachmentFactory(DjangoModelFactory):
    class Meta:
        model = EmailAttachment
        exclude = ["content"]

    message = factory.SubFactory(EmailMessageFactory)
    filename = factory.Sequence(lambda n: f"document-{n}.pdf")
    content_type = "application/pdf"
    content = b"%PDF-1.4 test document"
    size = factory.LazyAttribute(lambda o: len(o.content))
    # Through the real storage (the test settings' own directory), as ingestion writes it.
    blob = factory.LazyAttribute(lambda o: attachment_blob_write(o.content))


class MailboxConnectionFactory(DjangoModelFactory):
    """A connected mailbox row; its credentials reach no provider."""

    class Meta:
        model = MailboxConnection

    user = factory.SubFactory(UserFactory)
    organisation = factory.SelfAttribute("user.organisation")
    provider = MailboxConnection.Provider.GOOGLE
    account_address = factory.SelfAttribute("user.email")
    credentials = "{}"
    sync_level = Organisation.SyncLevel.FULL
    # What the provider grants at the connection's level, as after a real consent.
    granted_scopes = factory.LazyAttribute(
        lambda connection: get_provider(connection.provider).scopes_for(connection.sync_level)
    )
