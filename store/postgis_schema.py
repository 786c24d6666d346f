"""The PostgreSQL/PostGIS schema: its migrations, in order (each applied once, in its own transaction).

The same tables and migration names as the SQLite schema (store/sqlite_schema.py); see there.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_areas",
        """
        CREATE EXTENSION IF NOT EXISTS postgis;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE district (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, name_en TEXT NOT NULL,
            h3_resolution INTEGER NOT NULL, is_demo BOOLEAN NOT NULL
        );
        CREATE TABLE townships (
            code TEXT PRIMARY KEY, district_code TEXT NOT NULL, name TEXT NOT NULL,
            name_en TEXT NOT NULL, kind TEXT NOT NULL, empowerment_class TEXT NOT NULL,
            geom geometry(MultiPolygon, 4326) NOT NULL
        );
        CREATE INDEX townships_geom ON townships USING gist (geom);
        CREATE TABLE villages (
            code TEXT PRIMARY KEY, township_code TEXT NOT NULL REFERENCES townships(code),
            name TEXT NOT NULL, kind TEXT NOT NULL, geom geometry(MultiPolygon, 4326) NOT NULL
        );
        CREATE INDEX villages_township ON villages(township_code);
        CREATE INDEX villages_geom ON villages USING gist (geom);
        CREATE TABLE teams (
            id INTEGER PRIMARY KEY, village_code TEXT NOT NULL UNIQUE REFERENCES villages(code),
            name TEXT NOT NULL, captain TEXT NOT NULL, members JSONB NOT NULL
        );
        CREATE TABLE cells (
            cell BIGINT PRIMARY KEY, village_code TEXT NOT NULL REFERENCES villages(code)
        );
        """,
    ),
    (
        "0002_incidents",
        """
        ALTER TABLE district ADD COLUMN number_prefix TEXT NOT NULL DEFAULT 'GP';
        CREATE TABLE incidents (
            id TEXT NOT NULL, district_code TEXT NOT NULL, number TEXT NOT NULL,
            external_id TEXT, item_code TEXT NOT NULL, source TEXT NOT NULL,
            lat DOUBLE PRECISION NOT NULL, lng DOUBLE PRECISION NOT NULL, cell BIGINT NOT NULL,
            village_code TEXT NOT NULL, township_code TEXT NOT NULL, team_id INTEGER NOT NULL,
            handler TEXT NOT NULL, department TEXT NOT NULL, routing_reason TEXT NOT NULL,
            description TEXT NOT NULL, reporter_name TEXT NOT NULL, reporter_phone TEXT NOT NULL,
            reported_at TIMESTAMPTZ NOT NULL, day TEXT NOT NULL, due_at TIMESTAMPTZ NOT NULL,
            response_minutes INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('discovered','assessing','handling','consulting',
                'deferred','verifying','closed','rejected','merged')),
            version INTEGER NOT NULL, first_response_at TIMESTAMPTZ, closed_at TIMESTAMPTZ,
            rework_count INTEGER NOT NULL, deferral_count INTEGER NOT NULL,
            assessment_outcome TEXT, consult_departments TEXT NOT NULL,
            duplicate_of TEXT, repeat_of TEXT, suspected_duplicate_of TEXT, patrol_task_id TEXT,
            last_seq INTEGER NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
            geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lng, lat), 4326)) STORED,
            PRIMARY KEY (district_code, id)
        );
        CREATE INDEX incidents_id ON incidents(id);
        CREATE UNIQUE INDEX incidents_external ON incidents(district_code, external_id)
            WHERE external_id IS NOT NULL;
        CREATE INDEX incidents_state_township ON incidents(state, township_code);
        CREATE INDEX incidents_item_cell ON incidents(item_code, cell);
        CREATE INDEX incidents_reported ON incidents(reported_at);
        CREATE INDEX incidents_geom ON incidents USING gist (geom);
        CREATE TABLE incident_events (
            incident_id TEXT NOT NULL, seq INTEGER NOT NULL, district_code TEXT NOT NULL,
            action TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL, actor TEXT NOT NULL,
            role TEXT NOT NULL, at TIMESTAMPTZ NOT NULL, note TEXT NOT NULL, payload JSONB NOT NULL,
            PRIMARY KEY (district_code, incident_id, seq)
        );
        CREATE INDEX incident_events_incident ON incident_events(incident_id, seq);
        CREATE FUNCTION gridpatrol_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$;
        CREATE TRIGGER incident_events_append_only BEFORE UPDATE OR DELETE ON incident_events
            FOR EACH ROW EXECUTE FUNCTION gridpatrol_append_only();
        CREATE TABLE rollup_cell_day (
            district_code TEXT NOT NULL, cell BIGINT NOT NULL, day TEXT NOT NULL,
            item_code TEXT NOT NULL, bucket TEXT NOT NULL, township_code TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (district_code, cell, day, item_code, bucket, township_code)
        );
        CREATE INDEX rollup_day ON rollup_cell_day(day, township_code);
        CREATE TABLE number_seq (key TEXT PRIMARY KEY, last INTEGER NOT NULL);
        """,
    ),
    (
        "0003_patrol_tasks",
        """
        CREATE TABLE patrol_tasks (
            id TEXT NOT NULL, district_code TEXT NOT NULL, township_code TEXT NOT NULL,
            team_id INTEGER NOT NULL, cells BIGINT[] NOT NULL, shift_start TIMESTAMPTZ NOT NULL,
            shift_end TIMESTAMPTZ NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('planned', 'active', 'done', 'cancelled')),
            created_by TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, note TEXT NOT NULL,
            PRIMARY KEY (district_code, id)
        );
        CREATE INDEX patrol_tasks_team ON patrol_tasks(team_id, shift_start);
        CREATE INDEX patrol_tasks_township ON patrol_tasks(township_code, shift_start);
        """,
    ),
    ("0004_closed_index", "CREATE INDEX incidents_state_closed ON incidents(state, closed_at);"),
    (
        "0005_rollup_covering_index",
        "DROP INDEX rollup_day; CREATE INDEX rollup_day_cover ON rollup_cell_day(day, cell)"
        " INCLUDE (n, item_code, bucket, township_code);",
    ),
    (
        "0006_patrol_execution",
        """
        ALTER TABLE patrol_tasks ADD COLUMN started_at TIMESTAMPTZ, ADD COLUMN finished_at TIMESTAMPTZ;
        ALTER TABLE patrol_tasks ADD CONSTRAINT patrol_tasks_id UNIQUE (id);
        CREATE TABLE patrol_visits (
            task_id TEXT NOT NULL REFERENCES patrol_tasks(id), team_id INTEGER NOT NULL,
            township_code TEXT NOT NULL, cell BIGINT NOT NULL, at TIMESTAMPTZ NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('checkin', 'track')),
            PRIMARY KEY (task_id, cell)
        );
        CREATE INDEX patrol_visits_township ON patrol_visits(township_code, at);
        CREATE INDEX patrol_visits_team ON patrol_visits(team_id, at);
        CREATE TABLE premises (
            id TEXT PRIMARY KEY, district_code TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
            lat DOUBLE PRECISION NOT NULL, lng DOUBLE PRECISION NOT NULL, cell BIGINT NOT NULL,
            village_code TEXT NOT NULL, township_code TEXT NOT NULL, items TEXT[] NOT NULL,
            departments TEXT[] NOT NULL,
            geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lng, lat), 4326)) STORED
        );
        CREATE INDEX premises_township ON premises(township_code);
        CREATE INDEX premises_geom ON premises USING gist (geom);
        CREATE TABLE inspections (
            id TEXT PRIMARY KEY, premises_id TEXT NOT NULL REFERENCES premises(id),
            department TEXT NOT NULL, planned_on DATE NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('planned', 'done', 'cancelled')),
            items TEXT[] NOT NULL, visit_id TEXT, created_by TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX inspections_premises ON inspections(premises_id, planned_on);
        CREATE INDEX inspections_day ON inspections(planned_on);
        """,
    ),
    (
        "0007_users_audit",
        """
        CREATE TABLE users (
            username TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL,
            township_code TEXT, team_id INTEGER, department TEXT, password_hash TEXT NOT NULL,
            active BOOLEAN NOT NULL, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE audit_log (
            seq BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
            action TEXT NOT NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL,
            before JSONB NOT NULL, after JSONB NOT NULL
        );
        CREATE INDEX audit_log_at ON audit_log(at);
        CREATE FUNCTION gridpatrol_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION gridpatrol_audit_append_only();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION gridpatrol_audit_append_only();
        """,
    ),
    (
        # UPDATE, DELETE and INSERT ... ON CONFLICT DO UPDATE were refused; TRUNCATE was not
        "0008_append_only_no_replace",
        """
        CREATE TRIGGER incident_events_no_truncate BEFORE TRUNCATE ON incident_events
            FOR EACH STATEMENT EXECUTE FUNCTION gridpatrol_append_only();
        """,
    ),
    (
        "0009_sign_in_failures",
        """
        CREATE TABLE sign_in_failures (
            key TEXT PRIMARY KEY, failures INTEGER NOT NULL, first_at TIMESTAMPTZ NOT NULL,
            last_at TIMESTAMPTZ NOT NULL, locked BOOLEAN NOT NULL
        );
        """,
    ),
    # the audit page reads the latest events of every incident (see the SQLite migration)
    ("0010_events_at_index", "CREATE INDEX incident_events_at ON incident_events(at);"),
    # a patrol's reports (see the SQLite migration)
    (
        "0011_patrol_task_index",
        "CREATE INDEX incidents_patrol_task ON incidents(patrol_task_id) WHERE patrol_task_id IS NOT NULL;",
    ),
    # published evaluations (see the SQLite migration)
    (
        "0012_evaluations",
        """
        CREATE TABLE evaluations (
            district_code TEXT NOT NULL, period TEXT NOT NULL,
                version INTEGER NOT NULL CHECK (version >= 1),
            published_at TIMESTAMPTZ NOT NULL, published_by TEXT NOT NULL, role TEXT NOT NULL,
            reason TEXT NOT NULL, inputs_hash TEXT NOT NULL, received INTEGER NOT NULL,
            figures JSONB NOT NULL,
            PRIMARY KEY (district_code, period, version)
        );
        CREATE FUNCTION gridpatrol_evaluation_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'a published evaluation is immutable'; END $$;
        CREATE TRIGGER evaluations_immutable BEFORE UPDATE OR DELETE ON evaluations
            FOR EACH ROW EXECUTE FUNCTION gridpatrol_evaluation_immutable();
        CREATE TRIGGER evaluations_no_truncate BEFORE TRUNCATE ON evaluations
            FOR EACH STATEMENT EXECUTE FUNCTION gridpatrol_evaluation_immutable();
        """,
    ),
    # approvals and callbacks (see the SQLite migration)
    (
        "0013_requests_callbacks",
        """
        ALTER TABLE incidents ADD COLUMN request TEXT, ADD COLUMN paused_at TIMESTAMPTZ,
            ADD COLUMN satisfaction TEXT, ADD COLUMN callback_count INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    # the handover states (移交 → accepted, returned, disputed)
    (
        "0014_handover_states",
        """
        ALTER TABLE incidents DROP CONSTRAINT incidents_state_check,
            ADD CONSTRAINT incidents_state_check CHECK (state IN ('discovered','assessing','handling',
                'consulting','deferred','verifying','closed','rejected','merged','handed_over','returned',
                'disputed','transferred'));
        """,
    ),
    # 督办 (see the SQLite migration)
    ("0015_supervision", "ALTER TABLE incidents ADD COLUMN supervision_level INTEGER NOT NULL DEFAULT 0;"),
    # the HTTP API (see the SQLite migration)
    (
        "0016_api",
        """
        CREATE TABLE api_clients (
            name TEXT PRIMARY KEY, role TEXT NOT NULL, township_code TEXT, team_id INTEGER,
            department TEXT, key_hash TEXT NOT NULL UNIQUE, source TEXT NOT NULL, crs TEXT NOT NULL,
            webhook_url TEXT NOT NULL, rate_per_minute INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ
        );
        CREATE TABLE api_requests (
            incident_id TEXT PRIMARY KEY, client TEXT NOT NULL REFERENCES api_clients(name),
            token TEXT NOT NULL UNIQUE, created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE api_outbox (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, client TEXT NOT NULL,
            incident_id TEXT NOT NULL, seq INTEGER NOT NULL, action TEXT NOT NULL,
            to_state TEXT NOT NULL, at TIMESTAMPTZ NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TIMESTAMPTZ NOT NULL, delivered_at TIMESTAMPTZ,
            last_error TEXT NOT NULL DEFAULT '', UNIQUE (client, incident_id, seq)
        );
        CREATE INDEX api_outbox_pending ON api_outbox(client, delivered_at, id);
        """,
    ),
    # evidence (see the SQLite migration)
    (
        "0017_evidence",
        """
        CREATE TABLE evidence_content (sha256 TEXT PRIMARY KEY, data BYTEA NOT NULL);
        CREATE TABLE evidence (
            id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, stage TEXT NOT NULL,
            filename TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL,
            sha256 TEXT NOT NULL REFERENCES evidence_content(sha256), uploaded_by TEXT NOT NULL,
            role TEXT NOT NULL, at TIMESTAMPTZ NOT NULL, note TEXT NOT NULL
        );
        CREATE INDEX evidence_incident ON evidence(incident_id, at);
        CREATE OR REPLACE FUNCTION gridpatrol_evidence_kept() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'evidence is kept as it was given'; END $$;
        CREATE TRIGGER evidence_append_only BEFORE UPDATE OR DELETE ON evidence
            FOR EACH ROW EXECUTE FUNCTION gridpatrol_evidence_kept();
        CREATE TRIGGER evidence_no_truncate BEFORE TRUNCATE ON evidence
            FOR EACH STATEMENT EXECUTE FUNCTION gridpatrol_evidence_kept();
        """,
    ),
    # entered scores of the composite evaluation (see the SQLite migration)
    (
        "0018_score_entries",
        """
        CREATE TABLE score_entries (
            id TEXT PRIMARY KEY, district_code TEXT NOT NULL, period TEXT NOT NULL,
            township_code TEXT NOT NULL, item_code TEXT NOT NULL, points DOUBLE PRECISION NOT NULL,
            evidence TEXT NOT NULL, filename TEXT NOT NULL, sha256 TEXT NOT NULL,
            entered_by TEXT NOT NULL, role TEXT NOT NULL, at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX score_entries_period ON score_entries(district_code, period, at);
        CREATE OR REPLACE FUNCTION gridpatrol_score_kept() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'an entered score is kept as it was entered'; END $$;
        CREATE TRIGGER score_entries_append_only BEFORE UPDATE OR DELETE ON score_entries
            FOR EACH ROW EXECUTE FUNCTION gridpatrol_score_kept();
        CREATE TRIGGER score_entries_no_truncate BEFORE TRUNCATE ON score_entries
            FOR EACH STATEMENT EXECUTE FUNCTION gridpatrol_score_kept();
        """,
    ),
    # a user's district (see the SQLite migration)
    (
        "0019_user_district",
        """
        ALTER TABLE users ADD COLUMN district_code TEXT;
        UPDATE users SET district_code = COALESCE(
            (SELECT t.district_code FROM townships t WHERE t.code = users.township_code),
            (SELECT t.district_code FROM teams g JOIN villages v ON v.code = g.village_code
             JOIN townships t ON t.code = v.township_code WHERE g.id = users.team_id));
        """,
    ),
]
