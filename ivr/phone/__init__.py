"""A generic TwiML phone: Twilio's side of a call, for any TwiML app.

It posts the webhooks, parses each TwiML answer into typed verbs, plays them
with Twilio's rules, speaks the prompts and sends the caller's keys; every
step goes to a typed event timeline.  It imports nothing from ``ivr`` but
:mod:`ivr.tts` (speech) and :mod:`ivr.errors`, so it works against any app,
in-process over WSGI or over HTTP.  :func:`ivr.phone.run.simulate` places one
call.

Optional hints an app may send with each TwiML answer (the phone reads them
when present and works without them):

- ``X-IVR-Node``: the app's name for where the call now waits;
- ``X-IVR-Path``: the comma-separated names of every place the call entered
  while the app built this answer, in order;
- ``X-IVR-Status-Callback``: the URL (absolute, or relative to the request's)
  the app wants notified when the call ends, as Twilio's console would be told.
  The phone follows the last one announced unless the call names its own
  status callback (``CallSettings.status_callback``, ``--status-callback``);
- ``X-IVR-Prompts``: the words of the prompts this answer plays from files
  (see :data:`PROMPTS_HEADER`), shown in the caller's view with the keys they offer.

The first two reach the timeline as :attr:`ivr.phone.events.Request.node` and
:attr:`~ivr.phone.events.Request.path`, which flow coverage is built on.
"""

NODE_HEADER = "X-IVR-Node"
"""Optional response header: where the call waits, in the app's own words."""
PATH_HEADER = "X-IVR-Path"
"""Optional response header: the places the call entered in this answer, comma-separated."""
STATUS_CALLBACK_HEADER = "X-IVR-Status-Callback"
"""Optional response header: the status callback URL the app wants, absolute or relative to the request's."""
PROMPTS_HEADER = "X-IVR-Prompts"
"""Optional response header: the words of prompts played from files, as ``url=words`` pairs, form-encoded.

Each ``url`` is a ``<Play>`` URL exactly as the TwiML writes it; the phone shows
the words beside the file and reads the keys they offer.
"""
