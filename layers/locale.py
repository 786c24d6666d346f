"""The map's own texts in the user's language: Leaflet's zoom buttons, leaflet-draw, the scale.

Leaflet and leaflet-draw speak English by default ("Zoom in", "Draw a polygon", "Finish",
"Cancel"). :func:`map_locale` puts an element first among the map's children, so it runs
after the map is created and before any control (the draw toolbar reads ``L.drawLocal``
when it is built). It also adds the scale bar, metric only.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import folium
from branca.element import MacroElement
from jinja2 import Template

# leaflet-draw's L.drawLocal, in Chinese (English is the plugin's own default)
DRAW_ZH: dict[str, Any] = {
    "draw": {
        "toolbar": {
            "actions": {"title": "取消绘制", "text": "取消"},
            "finish": {"title": "完成绘制", "text": "完成"},
            "undo": {"title": "删除最后一个点", "text": "撤销上一点"},
            "buttons": {
                "polyline": "画折线",
                "polygon": "画多边形（框选区域）",
                "rectangle": "画矩形（框选区域）",
                "circle": "画圆",
                "marker": "放置标记",
                "circlemarker": "放置圆点",
            },
        },
        "handlers": {
            "circle": {"tooltip": {"start": "按住并拖动画圆"}, "radius": "半径"},
            "circlemarker": {"tooltip": {"start": "在地图上点击放置圆点"}},
            "marker": {"tooltip": {"start": "在地图上点击放置标记"}},
            "polygon": {
                "tooltip": {
                    "start": "点击开始画区域",
                    "cont": "点击继续画区域",
                    "end": "点击第一个点闭合区域",
                }
            },
            "polyline": {
                "error": "<strong>错误：</strong>边线不能交叉！",
                "tooltip": {"start": "点击开始画线", "cont": "点击继续画线", "end": "点击最后一个点结束"},
            },
            "rectangle": {"tooltip": {"start": "按住并拖动画矩形"}},
            "simpleshape": {"tooltip": {"end": "松开鼠标完成"}},
        },
    },
    "edit": {
        "toolbar": {
            "actions": {
                "save": {"title": "保存修改", "text": "保存"},
                "cancel": {"title": "放弃修改", "text": "取消"},
                "clearAll": {"title": "清除所有图形", "text": "全部清除"},
            },
            "buttons": {
                "edit": "编辑图形",
                "editDisabled": "没有可编辑的图形",
                "remove": "删除图形",
                "removeDisabled": "没有可删除的图形",
            },
        },
        "handlers": {
            "edit": {"tooltip": {"text": "拖动控制点或标记编辑图形", "subtext": "点击“取消”放弃修改"}},
            "remove": {"tooltip": {"text": "点击要删除的图形"}},
        },
    },
}

ZOOM_TITLES = {"zh": ("放大", "缩小"), "en": ("Zoom in", "Zoom out")}


class MapLocale(MacroElement):
    """Set leaflet-draw's and the zoom buttons' texts; add a metric scale; fold the legend on a phone."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map) {
            var draw = {{ this.draw|tojson }};
            function merge(into, from) {
                for (var k in from) {
                    if (from[k] && typeof from[k] === "object") {
                        into[k] = into[k] || {};
                        merge(into[k], from[k]);
                    } else {
                        into[k] = from[k];
                    }
                }
            }
            if (window.L && L.drawLocal && draw) { merge(L.drawLocal, draw); }
            if (map.zoomControl) {
                map.zoomControl._zoomInButton.title = {{ this.zoom_in|tojson }};
                map.zoomControl._zoomOutButton.title = {{ this.zoom_out|tojson }};
                map.zoomControl._zoomInButton.setAttribute("aria-label", {{ this.zoom_in|tojson }});
                map.zoomControl._zoomOutButton.setAttribute("aria-label", {{ this.zoom_out|tojson }});
            }
            L.control.scale({imperial: false, metric: true}).addTo(map);
            // on a phone-sized map the legend starts folded (a tap on its title opens it)
            setTimeout(function () {
                if (map.getSize().x < 520) {
                    document.querySelectorAll(".gp-legend[open]").forEach(function (d) {
                        d.removeAttribute("open");
                    });
                }
            }, 0);
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, lang: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "MapLocale"
        self.draw = DRAW_ZH if lang == "zh" else None
        self.zoom_in, self.zoom_out = ZOOM_TITLES.get(lang, ZOOM_TITLES["en"])


def map_locale(m: folium.Map, lang: str) -> folium.Map:
    """Put :class:`MapLocale` first among the map's children (before the draw control is built)."""
    element = MapLocale(lang)
    element._parent = m
    children: OrderedDict[str, Any] = OrderedDict([(element.get_name(), element)])
    children.update(m._children)
    m._children = children
    return m
