"""The maps every page draws: a folium map that keeps its view, the district's outlines, village layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app_pages.common import lang, township_names, tr
from layers.base import Basemap
from patrol.areas import AreaOverview, VillageView


def show_map(
    m: Any,
    key: str,
    *,
    height: int = 560,
    returned_objects: tuple[str, ...] = (),
    view: str | None = None,
) -> Any:
    """Draw a folium map that keeps the user's centre and zoom across reruns (see ``KeepView``).

    ``view`` names the view to keep (default: the widget key); maps of different content
    (another township) use different names so each starts fitted to its own extent.
    Only ``returned_objects`` changes rerun the page; panning alone does not.
    """
    from streamlit_folium import st_folium

    from layers.base import keep_view
    from layers.locale import map_locale

    map_locale(m, lang())
    keep_view(m, view or key)
    return st_folium(
        m, height=height, use_container_width=True, returned_objects=list(returned_objects), key=key
    )


def district_map(
    data: AreaOverview,
    basemap: Basemap,
    township_codes: Any = None,
    *,
    labels: bool = True,
    height: int = 560,
) -> Any:
    """A base map fitted to the townships shown, with their outlines and names.

    Village outlines are drawn too, their names from zoom 13 on, so a map without a
    basemap still shows where one is at captain and inspector zoom.
    """
    import shapely

    from layers.base import area_layer, base_map

    towns = [tw for tw in data.townships if township_codes is None or tw.code in township_codes]
    codes = {tw.code for tw in towns}
    villages = [v for v in data.villages if v.township_code in codes]
    m = base_map(shapely.union_all([tw.geometry for tw in towns]).bounds, basemap, height=height)
    if villages:
        village_layer(villages, basemap, labels=labels, label_min_zoom=VILLAGE_LABEL_ZOOM).add_to(m)
    area_layer(
        [tw.geometry for tw in towns], [tw.name for tw in towns], [tw.code for tw in towns],
        name=tr("overview.layer_townships"), color="#555", weight=1.5, basemap=basemap, labels=labels,
    ).add_to(m)  # fmt: skip
    return m


VILLAGE_LABEL_ZOOM = 13  # a village (1–3 km) is 50–150 px wide from here on


def village_layer(
    villages: Sequence[VillageView],
    basemap: Basemap,
    *,
    labels: bool = True,
    label_min_zoom: int | None = None,
    fill_opacity: float = 0.0,
) -> Any:
    """Village outlines named in their tooltip (village (township)) and, if ``labels``, on the map."""
    from layers.base import area_layer

    towns = township_names()
    return area_layer(
        [v.geometry for v in villages],
        [v.name for v in villages],
        [towns.get(v.township_code, v.township_code) for v in villages],
        name=tr("overview.layer_villages"),
        color="#3388ff",
        weight=1,
        fill_opacity=fill_opacity,
        basemap=basemap,
        labels=labels,
        label_min_zoom=label_min_zoom,
        label_class="gp-village",
    )
