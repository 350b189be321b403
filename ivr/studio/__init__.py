"""Twilio Studio flows offline: ``ivr studio import`` turns a flow definition into a menu.

See ``docs/studio.md`` for the mapping, widget by widget.
"""
