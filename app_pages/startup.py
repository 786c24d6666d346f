"""What the server does once when it starts, before anyone signs in.

It imports what the pages use (the statistics libraries Gi* needs, the map and table
libraries, the app's own packages) so that no user waits for an import on a first click, and
then freezes what that made (``gc.freeze``): those long-lived objects (modules, classes,
functions, translation tables) leave the garbage collector's oldest generation, which every
full collection would otherwise walk again. With a 100,000-case store a full collection held a
rerun up for 0.13 to 0.16 s about ten times per replay of every role's pages; after the freeze
the longest was 0.07 s (``bench/bench_interactions.py``, the replay calls this as the server does).
"""

from __future__ import annotations

import functools
import gc
import importlib
import pkgutil

from geo.hotspots import preload

# the app's packages (every module: imported, nothing of them used here) and the libraries the
# pages reach through them; nothing of Streamlit's: with streamlit_folium imported in the warm-up
# every map stayed blank in the browser (seen in the overview's browser test, not traced further)
_PACKAGES = ("geo", "store", "patrol", "layers")
_LIBRARIES = ("folium", "folium.plugins", "geopandas", "pyproj")


@functools.cache  # once per process, as the server starts: what the pages cache later stays collectable
def warm_up() -> int:
    """Import what the pages use, then freeze the objects made so far; the number frozen."""
    preload()
    for name in _PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{name}.{module.name}")
    for name in _LIBRARIES:
        importlib.import_module(name)
    gc.collect()  # what is garbage already is not frozen for good
    gc.freeze()
    return gc.get_freeze_count()
