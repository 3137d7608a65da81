"""Who may schedule interviews, with whom, and who sees them.

Interviews follow their candidate: whoever may see the candidate (candidates.policy) sees
their interviews, nobody else does. Whether a calendar may be used at all is the mailbox
policy's `feature_status` (company switch, the user's Calendar box, the granted scopes)."""

from django.db.models import QuerySet

from accounts.models import IntegrationPermission, User
from accounts.policy import can_use_app
from candidates.models import Candidate
from candidates.policy import visible_candidates
from interviews.models import Interview
from mailsync.models import MailboxConnection
from mailsync.policy import FeatureStatus, feature_status

CALENDAR = IntegrationPermission.Kind.CALENDAR
NO_ADDRESS = "The candidate has no email address to invite."
NOT_SCHEDULED = "This interview is no longer scheduled."
NOT_ORGANISER = "Only the interview's organiser can change it: it is in their calendar."


def visible_interviews(user: User) -> QuerySet[Interview]:
    """Interviews of the candidates `user` may see (a Limited Team Member: only those on
    their postings)."""
    if not can_use_app(user):
        return Interview.objects.none()
    # visible_candidates keeps to the user's organisation.
    return Interview.objects.filter(candidate__in=visible_candidates(user))


def calendar_status(user: User, connection: MailboxConnection | None) -> FeatureStatus:
    """May `user`'s own calendar be used now (to organise, or to be invited as a
    colleague whose free/busy is read)."""
    return feature_status(user, CALENDAR, connection)


def may_schedule(
    user: User, candidate: Candidate, connection: MailboxConnection | None
) -> FeatureStatus:
    """Schedule an interview with `candidate` from `user`'s calendar. Callers found the
    candidate through `visible_candidates`; asked again so that no door forgets it."""
    if not visible_candidates(user).filter(pk=candidate.pk).exists():
        return FeatureStatus(False, "You may not see this candidate.")
    status = calendar_status(user, connection)
    if not status.allowed:
        return status
    if candidate.primary_email is None:
        return FeatureStatus(False, NO_ADDRESS)
    return FeatureStatus(True)


def may_change(
    user: User, interview: Interview, connection: MailboxConnection | None
) -> FeatureStatus:
    """Reschedule or cancel: the event lives in the organiser's calendar, so only they can
    move it, from that same connection, while it is still scheduled."""
    if interview.organiser_id != user.pk or interview.connection_id is None:
        return FeatureStatus(False, NOT_ORGANISER)
    if connection is None or connection.pk != interview.connection_id:
        return FeatureStatus(False, NOT_ORGANISER)
    if interview.status != Interview.Status.SCHEDULED:
        return FeatureStatus(False, NOT_SCHEDULED)
    return calendar_status(user, connection)


def may_be_interviewer(colleague: User, connection: MailboxConnection | None) -> bool:
    """A colleague is offered as an interviewer when they are active and their Calendar is
    allowed: their free/busy is read and they are invited from the organiser's calendar."""
    return colleague.is_active and calendar_status(colleague, connection).allowed
