"""Pure geometry: coordinate systems, boundaries, the H3 grid, point assignment."""
