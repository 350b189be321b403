"""The local voice simulator: a TwiML phone for testers (``ivr simulate``, ``ivr test``).

It plays Twilio's part in a call, through TwiML only: it posts the webhooks,
interprets the TwiML that comes back, speaks the prompts and sends the caller's
keys.  See :func:`ivr.simulator.run.simulate` for the one-call entry point.
"""
