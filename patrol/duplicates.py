"""Suspected duplicates in bulk: same item, within a radius and a time window of an open one.

Space and time are put on one scale (the window maps onto the radius) and a KD-tree finds
every pair inside the box |dx|, |dy| ≤ r, |dt| ≤ window of a local flat projection, widened
by that projection's worst scale error over the batch. The distance along the WGS84
ellipsoid then decides: the distance a single report is judged by, so whether two reports
are flagged does not depend on what else was imported with them.
Each new incident is flagged against the nearest earlier open incident, whether stored
already or earlier in the same batch.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree

from geo.crs import geodesic_m, metres_per_degree
from patrol.incident import OPEN_STATES
from store.protocol import Store
from store.rows import FINAL_BUCKETS, IncidentQuery

_OPEN_STATES = tuple(sorted(s.value for s in OPEN_STATES))


def flag_duplicates(
    store: Store,
    items: npt.NDArray[np.object_],
    lat: npt.NDArray[np.float64],
    lng: npt.NDArray[np.float64],
    reported: pd.Series,
    ids: list[str],
    radius_m: float,
    window: timedelta,
) -> list[str | None]:
    """For each new incident, the id of the open incident it probably duplicates, or None."""
    n = len(ids)
    t_hours = (reported - pd.Timestamp("2000-01-01", tz="UTC")).dt.total_seconds().to_numpy() / 3600.0
    existing = store.incident_frame(
        IncidentQuery(
            states=_OPEN_STATES,
            item_codes=tuple(sorted(set(items.tolist()))),
            reported_from=(reported.min() - window).to_pydatetime(),
            reported_to=(reported.max() + timedelta(seconds=1)).to_pydatetime(),
        ),
        ["id", "item_code", "lat", "lng", "reported_at"],
    )
    assert not FINAL_BUCKETS & set(_OPEN_STATES)
    e_items = existing["item_code"].to_numpy(dtype=object)
    e_lat = existing["lat"].to_numpy(dtype=float)
    e_lng = existing["lng"].to_numpy(dtype=float)
    e_t = (existing["reported_at"] - pd.Timestamp("2000-01-01", tz="UTC")).dt.total_seconds().to_numpy(
        float
    ) / 3600.0
    e_ids: list[str] = existing["id"].tolist()

    all_items = np.concatenate([items, e_items]) if e_ids else items
    all_lat = np.concatenate([lat, e_lat]) if e_ids else lat
    all_lng = np.concatenate([lng, e_lng]) if e_ids else lng
    all_t = np.concatenate([t_hours, e_t]) if e_ids else t_hours
    all_ids = ids + e_ids
    lat0 = float(np.mean(all_lat))
    m_lat, m_lng = metres_per_degree(lat0)
    edge_lat, edge_lng = metres_per_degree([float(np.min(all_lat)), float(np.max(all_lat))])
    # how far the flat projection may overstate a distance anywhere in the batch (plus a hair)
    margin = 1.001 * max(float(m_lat / edge_lat.min()), float(m_lng / edge_lng.min()))
    x = (all_lng - float(np.mean(all_lng))) * float(m_lng)
    y = (all_lat - lat0) * float(m_lat)
    window_h = window.total_seconds() / 3600.0
    tt = all_t * (radius_m / window_h)

    out: list[str | None] = [None] * n
    # the rows of each item, from one factorisation (not one scan of the batch per item)
    codes, _ = pd.factorize(all_items)
    by_item = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[by_item])) + 1
    for idx in np.split(by_item, bounds):
        if idx.size < 2 or idx[0] >= n:
            continue
        pts = np.column_stack([x[idx], y[idx], tt[idx]])
        pairs = cKDTree(pts).query_pairs(radius_m * margin, p=np.inf, output_type="ndarray")
        if pairs.size == 0:
            continue
        a, b = idx[pairs[:, 0]], idx[pairs[:, 1]]
        later = np.where(all_t[a] >= all_t[b], a, b)
        earlier = np.where(later == a, b, a)
        dist = geodesic_m(all_lat[a], all_lng[a], all_lat[b], all_lng[b])
        keep = (dist <= radius_m) & (later < n) & (all_t[later] - all_t[earlier] <= window_h)
        later, earlier, dist = later[keep], earlier[keep], dist[keep]
        order = np.lexsort((dist, later))
        later, earlier = later[order], earlier[order]
        first = np.ones(later.size, dtype=bool)
        first[1:] = later[1:] != later[:-1]
        for li, ei in zip(later[first].tolist(), earlier[first].tolist(), strict=True):
            out[li] = all_ids[ei]
    return out
