"""The HTTP API process: Open311 GeoReport v2 and the workflow, over the same services as the app.

Like ``app_pages/`` for Streamlit, this package only parses, serialises and calls services
(``patrol``); no store query, no rule of its own.
"""
