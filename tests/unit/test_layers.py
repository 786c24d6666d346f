"""Map builders: offline assets only, escaped user text, at most 5,000 hexagons per view."""

from __future__ import annotations

import re

import folium
import folium.elements
import numpy as np
import pytest
from folium import plugins
from shapely.geometry import box

from geo.grid import geometry_to_cells
from layers.assets import STATIC_URL, UnknownAssetError, localize
from layers.base import Basemap, area_layer, base_map
from layers.hexes import (
    MAX_HEXES,
    choose_resolution,
    hex_layer,
    resolution_for_zoom,
)
from layers.incidents import MarkerData, heat_layer, marker_layer
from layers.legend import add_legend, class_breaks, nice_number, range_labels

BOUNDS = (120.70, 30.70, 120.80, 30.78)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _walk(element):
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def _full_map() -> folium.Map:
    m = base_map(BOUNDS)
    area_layer([box(*BOUNDS)], [HOSTILE], ["c1"], name="t", color="#000", weight=1, labels=True).add_to(m)
    cells = geometry_to_cells(box(*BOUNDS), 9)
    hexes = choose_resolution(cells, np.arange(cells.size, dtype=float), None, 9)
    layer, legend = hex_layer(hexes, name="h", legend_title=HOSTILE, tooltip_label="n")
    layer.add_to(m)
    add_legend(m, legend)
    markers = [
        MarkerData(f"id{i}", 30.72 + i * 1e-4, 120.75, "discovered", HOSTILE, HOSTILE) for i in range(400)
    ]
    marker_layer(markers, name="m").add_to(m)
    heat_layer([30.72, 30.73], [120.75, 120.76], name="heat").add_to(m)
    localize(plugins.Draw()).add_to(m)
    return m


def test_every_js_and_css_asset_is_served_by_the_app():
    m = _full_map()
    links = [
        url for el in _walk(m) for attr in ("default_js", "default_css") for _, url in getattr(el, attr, [])
    ]
    assert links and all(url.startswith(STATIC_URL) for url in links), links


def test_the_rendered_map_html_references_no_external_host():
    html = _full_map().get_root().render()
    hosts = set(re.findall(r"https?://([^/\"'\s)]+)", html))
    assert hosts == set(), hosts


def test_a_tile_basemap_is_the_only_external_reference_when_one_is_chosen():
    html = (
        base_map(BOUNDS, Basemap(kind="custom", url="http://tiles.intranet.local/{z}/{x}/{y}.png"))
        .get_root()
        .render()
    )
    assert set(re.findall(r"https?://([^/\"'\s)]+)", html)) == {"tiles.intranet.local"}


def test_user_text_in_popups_tooltips_labels_and_legends_is_escaped():
    html = _full_map().get_root().render()
    assert "<script>alert" not in html and "<img src=x onerror" not in html
    assert "&lt;script&gt;" in html


def test_an_element_with_an_unknown_asset_is_refused():
    class Odd(folium.elements.JSCSSMixin, folium.MacroElement):
        default_js = [("mystery", "https://cdn.example.com/mystery.js")]  # noqa: RUF012

    with pytest.raises(UnknownAssetError, match="mystery"):
        localize(Odd())


def test_no_view_ever_carries_more_than_5000_hexagons():
    cells = geometry_to_cells(box(120.6, 30.6, 121.0, 30.85), 10)
    assert cells.size > MAX_HEXES
    hexes = choose_resolution(cells, np.ones(cells.size), None, 10)
    assert hexes.cells.size <= MAX_HEXES and hexes.res < 10
    assert hexes.counts.sum() == cells.size


def test_a_small_view_keeps_the_finest_resolution_and_only_cells_in_view():
    cells = geometry_to_cells(box(120.6, 30.6, 121.0, 30.85), 10)
    hexes = choose_resolution(cells, np.ones(cells.size), (120.70, 30.70, 120.71, 30.71), 10)
    assert hexes.res == 10 and 0 < hexes.cells.size < 200


@pytest.mark.parametrize(("zoom", "res"), [(None, 8), (8, 6), (10, 7), (11, 8), (12, 9), (13, 9), (15, 10)])
def test_the_resolution_follows_the_zoom(zoom, res):
    assert resolution_for_zoom(zoom, 10) == res


def test_class_breaks_are_round_numbers_that_cover_the_maximum():
    values = np.arange(1, 101, dtype=float)
    breaks = class_breaks(values, 6)
    assert breaks == [20.0, 50.0, 100.0]  # quantiles 17, 34, 50, 67, 84, 100 rounded up to 1, 2, 2.5, 5 × 10ⁿ
    assert class_breaks([1, 1, 1, 2], 6) == [1.0, 2.0]
    assert class_breaks([], 6) == []


def test_the_top_class_of_counts_ends_at_the_largest_count_not_the_next_round_number():
    counts = [1] * 60 + [2] * 25 + [3, 4, 6, 9, 14]
    breaks = class_breaks(counts, 3)
    assert breaks[-1] == 14.0 and breaks == sorted(set(breaks))
    assert range_labels(breaks, integral=True)[-1].endswith("–14")


def test_class_breaks_of_fractional_values_are_clean_and_labelled_without_long_decimals():
    rng = np.random.default_rng(1)
    values = rng.uniform(0.01, 0.4, 200)  # e.g. expected incidents per week: 0.0833333 and the like
    breaks = class_breaks(values, 6)
    assert all(nice_number(b) == b for b in breaks) and breaks[-1] >= values.max()
    labels = range_labels(breaks, integral=False)
    assert all(len(label) <= 12 for label in labels), labels
    assert range_labels([2, 5, 10], integral=True) == ["≤ 2", "3–5", "6–10"]
    assert range_labels([0.05, 0.1], integral=False, percent=True) == ["≤ 5%", "5%–10%"]


def test_amap_basemap_shifts_the_data_to_gcj02_for_display():
    wgs = base_map(BOUNDS).location
    gcj = base_map(BOUNDS, Basemap(kind="amap")).location
    assert gcj[0] - wgs[0] < 0 and gcj[1] - wgs[1] > 0.004  # GCJ-02 lies ~500 m to the east in Jiaxing


def test_the_printable_choropleth_is_plain_svg_with_escaped_labels_and_classes():
    from layers.svg import choropleth_svg

    svg = choropleth_svg([box(120.7, 30.7, 120.8, 30.8), box(120.8, 30.7, 120.9, 30.8), box(120.9, 30.7, 121.0, 30.8)],
                         [0.2, 0.9, None], ["甲", HOSTILE, "丙"], title="按期办结率")  # fmt: skip
    assert svg.startswith("<svg") and svg.count("<path") == 3
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "#dddddd" in svg  # no value: grey
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_printable_choropleth_has_a_legend_of_clean_percent_classes_and_names_without_values():
    from layers.svg import choropleth_svg

    areas = [box(120.7 + 0.1 * k, 30.7, 120.8 + 0.1 * k, 30.8) for k in range(4)]
    svg = choropleth_svg(areas, [0.42, 0.55, 0.6839, None], ["甲", "乙", "丙", "丁"], title="按期办结率",
                         no_data="无数据", percent=True)  # fmt: skip
    assert "无数据" in svg and "%–" in svg  # a legend: percent ranges and the grey class
    assert "0.684" not in svg and "68.4%" in svg  # a rate reads as a percentage (in the tooltip)
    assert ">丙<" in svg  # the label on the map is the name alone


def test_empty_layers_render_instead_of_failing():
    import folium
    import numpy as np

    from layers.hexes import HexCounts, cells_outline_layer, filled_cells_layer, hex_layer

    m = folium.Map()
    group, _ = hex_layer(
        HexCounts(9, np.empty(0, np.int64), np.empty(0)), name="n", legend_title="t", tooltip_label="x"
    )
    group.add_to(m)
    cells_outline_layer([], name="o", tooltip="t").add_to(m)
    filled_cells_layer([], "f", 0.5).add_to(m)
    assert "<html" in m.get_root().render().lower()


def test_behind_a_base_path_the_maps_load_their_scripts_and_tiles_under_it():
    import folium

    from layers.assets import STATIC_URL, localize, use_base_path
    from patrol.tiles import TILE_ROUTE, tile_route

    try:
        use_base_path("/gp/")
        m = localize(folium.Map())
        assert all(url.startswith("/gp/app/static/vendor/") for _, url in m.default_js)
    finally:
        use_base_path("")
    assert all(url.startswith(STATIC_URL) for _, url in localize(folium.Map()).default_js)
    assert tile_route("gp") == "/gp/tiles/{z}/{x}/{y}" and tile_route("") == TILE_ROUTE
