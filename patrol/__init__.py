"""Domain and services: areas, incidents, workflow, routing, patrols, KPIs."""
