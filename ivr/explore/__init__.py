"""``ivr explore``: map any TwiML app by calling it, report its defects and write its regression scenarios.

It sits above :mod:`ivr.phone` and :mod:`ivr.simulator`; only the command line imports it.
"""
