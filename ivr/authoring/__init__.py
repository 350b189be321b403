"""Tools for the people who write and run the menu.

- :mod:`ivr.authoring.lint` (``ivr lint``): usability rules with numbers;
  the checks are in :mod:`ivr.authoring.rules`, the finding and report types
  in :mod:`ivr.authoring.findings`.
- :mod:`ivr.authoring.graph` (``ivr graph``): the menu tree as SVG, PNG,
  Mermaid or DOT, optionally shaded by recorded traffic.
- :mod:`ivr.authoring.durations`: how long a prompt takes to say (the webhook
  reads it too, to know how long a call may stay silent).

The package itself imports none of them, so using one loads only what it needs.
"""
