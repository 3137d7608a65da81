import factory
from factory.django import DjangoModelFactory

from accounts.models import IntegrationPermission, Organisation, Role, User
from candidates.models import Application, Candidate, CandidateEmail, Posting

PASSWORD = "correct horse battery staple"


class OrganisationFactory(DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


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
