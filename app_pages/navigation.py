"""Which pages each role sees (the services enforce the same limits on every call)."""

PAGES_BY_ROLE = {
    "command_center": [
        "command",
        "incident",
        "dispatch",
        "patrol",
        "coverage",
        "inspections",
        "ranking",
        "hotspots",
        "overview",
    ],
    "captain": [
        "dispatch",
        "patrol",
        "execution",
        "coverage",
        "inspections",
        "incident",
        "report",
        "overview",
    ],
    "inspector": ["report", "execution", "incident", "overview"],
    "planner": ["scenarios", "hotspots", "ranking", "overview", "incident"],
    "admin": ["data", "overview", "incident"],
}
PAGE_FILES = {
    "command": ("app_pages/command.py", "page.command", ":material/monitor_heart:"),
    "dispatch": ("app_pages/dispatch.py", "page.dispatch", ":material/assignment_ind:"),
    "incident": ("app_pages/incident.py", "page.incident", ":material/description:"),
    "report": ("app_pages/report.py", "page.report", ":material/add_location_alt:"),
    "patrol": ("app_pages/patrol.py", "page.patrol", ":material/route:"),
    "execution": ("app_pages/execution.py", "page.execution", ":material/directions_walk:"),
    "coverage": ("app_pages/coverage.py", "page.coverage", ":material/grid_on:"),
    "inspections": ("app_pages/inspections.py", "page.inspections", ":material/storefront:"),
    "data": ("app_pages/data.py", "page.data", ":material/database:"),
    "ranking": ("app_pages/ranking.py", "page.ranking", ":material/leaderboard:"),
    "hotspots": ("app_pages/hotspots.py", "page.hotspots", ":material/local_fire_department:"),
    "scenarios": ("app_pages/scenarios.py", "page.scenarios", ":material/insights:"),
    "overview": ("app_pages/overview.py", "page.overview", ":material/map:"),
}
