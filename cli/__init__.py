"""The ``gridpatrol`` command line, the entry beside the app (streamlit_app.py) and the API (api/).

It sits above the services (patrol/), the store and the demo generators (data/); nothing below
imports it.
"""

from cli.main import main as main
