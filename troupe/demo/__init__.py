"""`troupe demo`: a whole emulated household in the browser, built on the emulators.

Modules: ``app`` (the ``Demo`` and the command line), ``web`` (the page, its
JSON API and live feed; ``static/`` holds the page), ``errors``, ``house``
(which devices sit on which Pi), ``configs`` (checked Pi configs, the house
view), ``hosts`` (the `troupe run` processes), ``gpio_watch`` (each Pi's
pins), ``chat`` (the channel as the page shows it), ``source`` (a local
release source for `update to`), ``testing`` (the demo as a subprocess, for
tests). Uses ``troupe.sim``; the emulators never import this package.
"""
