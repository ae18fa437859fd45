"""The one interface every channel implements, and the registry the rest of the gateway loops over.

A channel is a way documents reach a recipient, and for some a way they come in
(AS2, SFTP). Planning, dispatch, the sweep, the web app, the server and the
partner commands never name one: they ask the registry. A new channel is one
module under ``gateway/channels/`` (or a package's ``edigate.channels`` entry
point) and its transport; nothing in ``flow/``, ``delivery/``, the web or the CLI
changes.

What a channel says and does, each part optional but ``name``:

* **settings**: what a partner's profile may hold for it (``validate_settings``
  normalises and refuses with ``ChannelSettingsError`` naming the setting;
  ``settings_schema`` describes them for the API); ``readiness`` says what stops
  it from working for a partner;
* **planning**: ``profile`` (how one partner receives over it; ``fallback_profile``
  when it is the gateway's default channel, ``implied_by`` when a partner's records
  choose it), ``plan`` (format, syntaxes, the exchange's transport, or why it
  cannot), ``document`` (the invoice as it carries it), ``prepare`` (slow bytes,
  outside any transaction), ``record`` (its outbound exchange, or the delivery's
  immediate outcome);
* **sending**: ``send`` (one attempt at a claimed exchange of this channel),
  ``lease_expired`` (what a worker that died mid-send means);
* **the sweep**: ``due`` (what is due now: polls, timeouts, batches), ``tasks``
  (jobs it prompts by name);
* **inbound**: ``wsgi_mounts`` (public endpoints on the web port), ``services``
  (servers ``edigate serve`` runs, e.g. SFTP), ``reaches`` (whether a status
  message can go back to a partner over it).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Callable, Iterator, Mapping, Optional

log = logging.getLogger("edigate.channels")

ENTRY_POINTS = "edigate.channels"


class ChannelSettingsError(ValueError):
    """A setting we cannot use; ``setting`` names it (``email.to[0]``), the message says why."""

    def __init__(self, setting: str, message: str):
        super().__init__(f"{setting}: {message}")
        self.setting, self.problem = setting, message


@dataclass
class DeliveryPlan:
    """One document on its way to one recipient: what the channel decided, then what it prepared.

    ``channel`` is the delivery's channel; ``transport`` the channel of the outbound
    exchange that carries it, when there is one (a network delivery travels over AS2
    or SFTP; a portal notification over e-mail)."""

    recipient_id: int                          # who the delivery goes to (a network's access point)
    channel: str                               # Delivery.channel
    format: str                                # Delivery.format ("facturx+ubl" for two attachments)
    reason: str                                # route and channel, for the delivery's history
    syntaxes: tuple[str, ...] = ()             # to write; the first is the delivery's rendering
    transport: Optional[str] = None            # the outbound exchange's channel
    network_id: Optional[int] = None
    failure: Optional[str] = None              # the delivery fails at once with this reason
    profile: Any = None                        # the channel's profile of the recipient
    lang: str = "en"
    document_recipient_id: Optional[int] = None    # the member reached through a network, if one
    extra: dict[str, Any] = field(default_factory=dict)     # the channel's own (addressing, mail…)
    # filled by prepare()
    renderings: list[tuple[Any, str]] = field(default_factory=list)     # (Rendering, payload key)


class Channel:
    """Base class: every hook does nothing (or refuses) until a channel says otherwise."""

    name: str = ""
    label: str = ""                 # what people read (forms, lists)
    self_service: bool = False      # offered on the registration form
    carries_status: bool = False    # can carry an EDI status message (APERAK) back to a sender
    # delivers while the recipient organisation's approval is pending (the portal: where its
    # approvers read the invoice); every other channel waits for the approval (flow.release)
    before_approval: bool = False
    settings_keys: tuple[str, ...] = ()
    public_paths: tuple[str, ...] = ()      # where its ``wsgi_mounts`` answer (said at start)

    # --- settings --------------------------------------------------------------------------
    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        """The partner's settings for this channel, checked and normalised."""
        for key in settings:
            if key not in self.settings_keys:
                raise ChannelSettingsError(f"{self.name}.{key}", "unknown setting" + (
                    f" (the {self.name} channel takes: {', '.join(self.settings_keys)})" if self.settings_keys
                    else f" (the {self.name} channel takes no settings)"))
        return {}

    def settings_schema(self) -> dict[str, Any]:
        """A JSON Schema of the settings (for the API's description)."""
        return {"type": "object", "additionalProperties": False, "properties": {}}

    def readiness(self, settings: Mapping[str, Any], contact_email: Optional[str]) -> Optional[str]:
        """What stops this channel from working with these settings (None: nothing)."""
        return None

    # --- planning --------------------------------------------------------------------------
    def implied_by(self, partner: Any) -> bool:
        """Whether a partner that chose no channel has chosen this one in all but name."""
        return False

    def implied_why(self) -> str:
        return f"no channel chosen: {self.name}"

    def fallback_profile(self, partner: Any, settings: Mapping[str, Any], invoice: Any) -> Any:
        """This channel as the gateway's default for a partner that chose none, or None when it
        cannot reach that partner (the caller then falls back to paper)."""
        return None

    def profile(self, partner: Any, settings: Mapping[str, Any], *, gateway_settings: Any,
                invoice: Any = None, why: str = "") -> Any:
        """How ``partner`` receives over this channel (an object with ``channel`` and ``why``);
        ``settings``: its validated settings. Raises ``ChannelSettingsError``."""
        return SimpleProfile(channel=self.name, why=why)

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        """Fill ``plan`` (format, syntaxes, transport) or set ``plan.failure``; may return
        another plan (a channel that delivers through another recipient)."""
        return plan

    def document(self, plan: DeliveryPlan, invoice: Any) -> Any:
        """The invoice as this channel carries it (a network may need its participant
        identifier written where it routes on); the default carries it as it is."""
        return invoice

    def prepare(self, gw: Any, plan: DeliveryPlan, invoice: Any, summary: dict[str, Any]) -> None:
        """After the syntaxes are written: build what is slow to build (no database work)."""

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        """The delivery's outbound exchange, or its outcome; the exchanges to prompt."""
        raise NotImplementedError(f"channel {self.name} delivers nothing")

    # --- sending ---------------------------------------------------------------------------
    def send(self, gw: Any, exchange_id: int) -> str:
        """One attempt at an outbound exchange of this channel, already claimed (``sending``);
        returns its status afterwards."""
        raise NotImplementedError(f"channel {self.name} has no sender")

    def lease_expired(self, session: Any, exchange: Any) -> Optional[str]:
        """A worker died while sending ``exchange``: None to send it again (same Message-ID),
        or the reason to fail it instead (when sending twice could deliver twice)."""
        return None

    # --- the sweep and jobs ----------------------------------------------------------------
    def tasks(self) -> dict[str, Callable[..., Any]]:
        """Jobs this channel prompts by name: ``{name: fn(gw, *args)}``."""
        return {}

    def due(self, gw: Any, now: datetime) -> dict[str, int]:
        """Whatever is due now (polls, timeouts, batches, removals): done or prompted; counts."""
        return {}

    # --- inbound ---------------------------------------------------------------------------
    def wsgi_mounts(self, gw: Any) -> dict[str, Callable]:
        """Public endpoints beside the web app: ``{path prefix: WSGI app}``."""
        return {}

    def services(self, gw: Any) -> list[Any]:
        """Servers ``edigate serve`` runs (objects with ``start()``, ``stop()``, ``describe()``)."""
        return []

    def reaches(self, session: Any, partner: Any) -> bool:
        """Whether a message can go back to ``partner`` over this channel now."""
        return False


@dataclass(frozen=True)
class SimpleProfile:
    """A channel with nothing to say about a recipient but its name."""
    channel: str
    why: str = ""


class Registry:
    """The channels this gateway knows, by name: the ``edigate.channels`` entry points (the
    gateway's own are declared in its pyproject.toml, a plug-in's in its own), and any channel
    a test ``register``s. Listing names reads only the entry points' metadata; a channel's module
    is imported the first time that channel is asked for (the command line stays light)."""

    def __init__(self) -> None:
        self._entry_points: Optional[dict[str, Any]] = None
        self._channels: dict[str, Channel] = {}
        self._added: list[str] = []           # registered by hand, in order
        self._removed: set[str] = set()

    def _points(self) -> dict[str, Any]:
        if self._entry_points is None:
            self._entry_points = {ep.name: ep for ep in entry_points(group=ENTRY_POINTS)}
        return self._entry_points

    def register(self, channel: Channel) -> Channel:
        if not channel.name or not channel.name.replace("_", "").isalnum() or len(channel.name) > 16:
            raise ValueError(f"a channel name is 1 to 16 letters, digits or _, not {channel.name!r}")
        self._channels[channel.name] = channel
        self._removed.discard(channel.name)
        if channel.name not in self._points() and channel.name not in self._added:
            self._added.append(channel.name)
        return channel

    def unregister(self, name: str) -> None:
        self._channels.pop(name, None)
        if name in self._added:
            self._added.remove(name)
        else:
            self._removed.add(name)

    def names(self) -> tuple[str, ...]:
        """Every channel's name, in the order they are declared (entry points, then by hand)."""
        return tuple(n for n in (*self._points(), *self._added) if n not in self._removed)

    def get(self, name: Optional[str]) -> Optional[Channel]:
        if not name or name in self._removed:
            return None
        channel = self._channels.get(name)
        if channel is None and name in self._points():
            try:
                obj = self._points()[name].load()
            except Exception:           # a broken plug-in must not take the gateway down
                log.exception("channel entry point %s could not be loaded", name)
                return None
            channel = obj() if isinstance(obj, type) else obj
            self._channels[name] = channel
        return channel

    def __getitem__(self, name: str) -> Channel:
        channel = self.get(name)
        if channel is None:
            raise KeyError(f"no channel {name!r} (known: {', '.join(self.names())})")
        return channel

    def __iter__(self) -> Iterator[Channel]:
        return iter([c for c in (self.get(n) for n in self.names()) if c is not None])

    def self_service(self) -> tuple[str, ...]:
        """The channels a counterparty may choose when it registers itself."""
        return tuple(c.name for c in self if c.self_service)


registry = Registry()
