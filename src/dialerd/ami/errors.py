"""Errors of the AMI adapter.

For an ``Originate`` the type says whether a call may exist: :class:`AmiNotReady` means nothing
was written to Asterisk; every other error after the write (:class:`AmiLinkLost`,
:class:`AmiActionTimeout`) means the call may be ringing right now and its outcome will come
from the call tracker (or be closed as failed-unknown), never from a second Originate.
"""

from __future__ import annotations

from dialerd.ami.codec import Message


class AmiError(Exception):
    """Base class of everything the AMI adapter raises."""


class AmiNotReady(AmiError):
    """The link is not ready (connecting, resyncing, lost, bad password): nothing was sent."""


class AmiLinkLost(AmiError):
    """The link dropped while the action was waiting for its reply (it had been sent)."""


class AmiActionTimeout(AmiError):
    """The action was sent and no reply came in time."""


class AmiActionFailed(AmiError):
    """Asterisk answered ``Response: Error`` (or anything but Success)."""

    def __init__(self, action: str, response: Message, about: str = "") -> None:
        self.action = action
        self.response = response
        self.reason = response.get("Message") or response.name
        """Asterisk's own words, e.g. ``Unable to add interface: Already there``."""
        text = f"{action} failed: {self.reason}"
        self.no_such_queue = "no such queue" in self.reason.lower()
        """Asterisk does not have the queue (QueueAdd, QueueRemove: missing in queues.conf)."""
        self.already_member = "already there" in self.reason.lower()
        """QueueAdd of an interface that is a member already (``Already there``)."""
        self.not_member = "not there" in self.reason.lower()
        """QueueRemove of an interface that is no member (``Not there``)."""
        super().__init__(f"{text} ({about})" if about else text)


class AmiAuthFailed(AmiError):
    """Asterisk refused the username/secret."""


class AmiAlreadyOriginated(AmiError):
    """This ChannelId was originated before: an attempt is dialed at most once."""
