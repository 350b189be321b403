"""The project's test kit: the hotline called through the TwiML phone (``ivr simulate``, ``ivr test``, ``ivr demo``).

It sits above the web app and uses :mod:`ivr.phone`: the in-process app
(:mod:`ivr.simulator.app`), demo data, YAML scenarios and their pytest plugin,
flow coverage of the menu, and the demo call.  The phone itself knows nothing
of this project.
"""
