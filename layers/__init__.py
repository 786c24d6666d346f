"""folium layer builders: domain data in, folium objects out (no I/O)."""
