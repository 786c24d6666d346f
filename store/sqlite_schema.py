"""The SQLite schema: its migrations, in order (each applied once, in its own transaction).

The PostgreSQL schema (store/postgis_schema.py) holds the same tables under the same names and
migration names; their DDL differs where the engines do (types, geometry, identity columns,
append-only triggers, SQLite's table rebuilds where it cannot alter a constraint). The queries
on these tables are written once (store/areas.py, incidents.py, people.py, patrols.py, api.py,
evidence.py, scores.py).
"""

from __future__ import annotations

_STATES_SQL = (
    "'discovered','assessing','handling','consulting','deferred','verifying','closed','rejected','merged'"
)
# from migration 0014: the handover states (移交) too; the columns as they stood then
_COLUMNS_0014 = (
    "id, district_code, number, external_id, item_code, source, lat, lng, cell, village_code, "
    "township_code, team_id, handler, department, routing_reason, description, reporter_name, "
    "reporter_phone, reported_at, day, due_at, response_minutes, state, version, first_response_at, "
    "closed_at, rework_count, deferral_count, assessment_outcome, consult_departments, duplicate_of, "
    "repeat_of, suspected_duplicate_of, patrol_task_id, request, paused_at, satisfaction, "
    "callback_count, last_seq, updated_at"
)
_STATES_SQL_0014 = _STATES_SQL + ",'handed_over','returned','disputed','transferred'"
_INCIDENTS_0014 = f"""CREATE TABLE incidents_0014 (
    id TEXT PRIMARY KEY, district_code TEXT NOT NULL, number TEXT NOT NULL,
    external_id TEXT, item_code TEXT NOT NULL, source TEXT NOT NULL,
    lat REAL NOT NULL, lng REAL NOT NULL, cell INTEGER NOT NULL,
    village_code TEXT NOT NULL, township_code TEXT NOT NULL, team_id INTEGER NOT NULL,
    handler TEXT NOT NULL, department TEXT NOT NULL, routing_reason TEXT NOT NULL,
    description TEXT NOT NULL, reporter_name TEXT NOT NULL, reporter_phone TEXT NOT NULL,
    reported_at INTEGER NOT NULL, day TEXT NOT NULL, due_at INTEGER NOT NULL,
    response_minutes INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({_STATES_SQL_0014})),
    version INTEGER NOT NULL, first_response_at INTEGER, closed_at INTEGER,
    rework_count INTEGER NOT NULL, deferral_count INTEGER NOT NULL,
    assessment_outcome TEXT, consult_departments TEXT NOT NULL,
    duplicate_of TEXT, repeat_of TEXT, suspected_duplicate_of TEXT, patrol_task_id TEXT,
    last_seq INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    request TEXT, paused_at INTEGER, satisfaction TEXT, callback_count INTEGER NOT NULL DEFAULT 0
)"""

MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "0001_areas",
        [
            s
            for s in """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE district (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, name_en TEXT NOT NULL,
            h3_resolution INTEGER NOT NULL, is_demo INTEGER NOT NULL
        );
        CREATE TABLE townships (
            code TEXT PRIMARY KEY, district_code TEXT NOT NULL, name TEXT NOT NULL,
            name_en TEXT NOT NULL, kind TEXT NOT NULL, empowerment_class TEXT NOT NULL,
            geom BLOB NOT NULL
        );
        CREATE TABLE villages (
            code TEXT PRIMARY KEY, township_code TEXT NOT NULL REFERENCES townships(code),
            name TEXT NOT NULL, kind TEXT NOT NULL, geom BLOB NOT NULL
        );
        CREATE INDEX villages_township ON villages(township_code);
        CREATE TABLE teams (
            id INTEGER PRIMARY KEY, village_code TEXT NOT NULL UNIQUE REFERENCES villages(code),
            name TEXT NOT NULL, captain TEXT NOT NULL, members TEXT NOT NULL
        );
        CREATE TABLE cells (
            cell INTEGER PRIMARY KEY, village_code TEXT NOT NULL REFERENCES villages(code)
        ) WITHOUT ROWID;
        """.split(";")
            if s.strip()
        ],
    ),
    (
        "0002_incidents",
        [
            "ALTER TABLE district ADD COLUMN number_prefix TEXT NOT NULL DEFAULT 'GP'",
            f"""CREATE TABLE incidents (
                id TEXT PRIMARY KEY, district_code TEXT NOT NULL, number TEXT NOT NULL,
                external_id TEXT, item_code TEXT NOT NULL, source TEXT NOT NULL,
                lat REAL NOT NULL, lng REAL NOT NULL, cell INTEGER NOT NULL,
                village_code TEXT NOT NULL, township_code TEXT NOT NULL, team_id INTEGER NOT NULL,
                handler TEXT NOT NULL, department TEXT NOT NULL, routing_reason TEXT NOT NULL,
                description TEXT NOT NULL, reporter_name TEXT NOT NULL, reporter_phone TEXT NOT NULL,
                reported_at INTEGER NOT NULL, day TEXT NOT NULL, due_at INTEGER NOT NULL,
                response_minutes INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ({_STATES_SQL})),
                version INTEGER NOT NULL, first_response_at INTEGER, closed_at INTEGER,
                rework_count INTEGER NOT NULL, deferral_count INTEGER NOT NULL,
                assessment_outcome TEXT, consult_departments TEXT NOT NULL,
                duplicate_of TEXT, repeat_of TEXT, suspected_duplicate_of TEXT, patrol_task_id TEXT,
                last_seq INTEGER NOT NULL, updated_at INTEGER NOT NULL
            )""",
            # the id is the human number, so the primary key already makes numbers unique
            "CREATE UNIQUE INDEX incidents_external ON incidents(district_code, external_id)"
            " WHERE external_id IS NOT NULL",
            "CREATE INDEX incidents_state_township ON incidents(state, township_code)",
            "CREATE INDEX incidents_item_cell ON incidents(item_code, cell)",
            "CREATE INDEX incidents_reported ON incidents(reported_at)",
            """CREATE TABLE incident_events (
                incident_id TEXT NOT NULL, seq INTEGER NOT NULL, district_code TEXT NOT NULL,
                action TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL, actor TEXT NOT NULL,
                role TEXT NOT NULL, at INTEGER NOT NULL, note TEXT NOT NULL, payload TEXT NOT NULL,
                PRIMARY KEY (incident_id, seq)
            ) WITHOUT ROWID""",
            """CREATE TRIGGER incident_events_append_only_update BEFORE UPDATE ON incident_events
               BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
            """CREATE TRIGGER incident_events_append_only_delete BEFORE DELETE ON incident_events
               BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
            """CREATE TABLE rollup_cell_day (
                cell INTEGER NOT NULL, day TEXT NOT NULL, item_code TEXT NOT NULL, bucket TEXT NOT NULL,
                district_code TEXT NOT NULL, township_code TEXT NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (cell, day, item_code, bucket, township_code)
            ) WITHOUT ROWID""",
            "CREATE INDEX rollup_day ON rollup_cell_day(day, township_code)",
            "CREATE TABLE number_seq (key TEXT PRIMARY KEY, last INTEGER NOT NULL)",
        ],
    ),
    (
        "0003_patrol_tasks",
        [
            """CREATE TABLE patrol_tasks (
                id TEXT PRIMARY KEY, district_code TEXT NOT NULL, township_code TEXT NOT NULL,
                team_id INTEGER NOT NULL, cells TEXT NOT NULL, shift_start INTEGER NOT NULL,
                shift_end INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('planned', 'active', 'done', 'cancelled')),
                created_by TEXT NOT NULL, created_at INTEGER NOT NULL, note TEXT NOT NULL
            )""",
            "CREATE INDEX patrol_tasks_team ON patrol_tasks(team_id, shift_start)",
            "CREATE INDEX patrol_tasks_township ON patrol_tasks(township_code, shift_start)",
        ],
    ),
    ("0004_closed_index", ["CREATE INDEX incidents_state_closed ON incidents(state, closed_at)"]),
    (
        # heat maps read a day range of the rollups from the index alone (140 ms → 18 ms at 1M)
        "0005_rollup_covering_index",
        [
            "DROP INDEX rollup_day",
            "CREATE INDEX rollup_day_cover"
            " ON rollup_cell_day(day, cell, n, item_code, bucket, township_code)",
        ],
    ),
    (
        "0006_patrol_execution",
        [
            "ALTER TABLE patrol_tasks ADD COLUMN started_at INTEGER",
            "ALTER TABLE patrol_tasks ADD COLUMN finished_at INTEGER",
            """CREATE TABLE patrol_visits (
                task_id TEXT NOT NULL REFERENCES patrol_tasks(id), team_id INTEGER NOT NULL,
                township_code TEXT NOT NULL, cell INTEGER NOT NULL, at INTEGER NOT NULL,
                source TEXT NOT NULL CHECK (source IN ('checkin', 'track')),
                PRIMARY KEY (task_id, cell)
            ) WITHOUT ROWID""",
            "CREATE INDEX patrol_visits_township ON patrol_visits(township_code, at)",
            "CREATE INDEX patrol_visits_team ON patrol_visits(team_id, at)",
            """CREATE TABLE premises (
                id TEXT PRIMARY KEY, district_code TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
                lat REAL NOT NULL, lng REAL NOT NULL, cell INTEGER NOT NULL, village_code TEXT NOT NULL,
                township_code TEXT NOT NULL, items TEXT NOT NULL, departments TEXT NOT NULL
            )""",
            "CREATE INDEX premises_township ON premises(township_code)",
            """CREATE TABLE inspections (
                id TEXT PRIMARY KEY, premises_id TEXT NOT NULL REFERENCES premises(id),
                department TEXT NOT NULL, planned_on TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('planned', 'done', 'cancelled')),
                items TEXT NOT NULL, visit_id TEXT, created_by TEXT NOT NULL, created_at INTEGER NOT NULL
            )""",
            "CREATE INDEX inspections_premises ON inspections(premises_id, planned_on)",
            "CREATE INDEX inspections_day ON inspections(planned_on)",
        ],
    ),
    (
        "0007_users_audit",
        [
            """CREATE TABLE users (
                username TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL,
                township_code TEXT, team_id INTEGER, department TEXT, password_hash TEXT NOT NULL,
                active INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
            )""",
            """CREATE TABLE audit_log (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
                role TEXT NOT NULL, action TEXT NOT NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL,
                before TEXT NOT NULL, after TEXT NOT NULL
            )""",
            "CREATE INDEX audit_log_at ON audit_log(at)",
            """CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            """CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        ],
    ),
    (
        # INSERT OR REPLACE deletes the old row without firing a delete trigger (unless the
        # writer's own connection turns recursive triggers on): refuse any insert over a
        # stored row instead
        "0008_append_only_no_replace",
        [
            """CREATE TRIGGER incident_events_no_replace BEFORE INSERT ON incident_events
               WHEN EXISTS (SELECT 1 FROM incident_events
                            WHERE incident_id = NEW.incident_id AND seq = NEW.seq)
               BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
            """CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
               WHEN NEW.seq IS NOT NULL AND EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq)
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        ],
    ),
    (
        "0009_sign_in_failures",
        [
            """CREATE TABLE sign_in_failures (
                key TEXT PRIMARY KEY, failures INTEGER NOT NULL, first_at INTEGER NOT NULL,
                last_at INTEGER NOT NULL, locked INTEGER NOT NULL
            )""",
        ],
    ),
    # the audit page reads the latest events of every incident: without it, a scan of all
    # events (1M incidents: 1.1 s a query)
    ("0010_events_at_index", ["CREATE INDEX incident_events_at ON incident_events(at)"]),
    # a patrol's reports (the execution page): without it, a scan of every incident (1M: 1–2 s);
    # partial, as most incidents belong to no patrol
    (
        "0011_patrol_task_index",
        ["CREATE INDEX incidents_patrol_task ON incidents(patrol_task_id) WHERE patrol_task_id IS NOT NULL"],
    ),
    # published evaluations (月晾晒): immutable, a correction is a new version
    (
        "0012_evaluations",
        [
            """CREATE TABLE evaluations (
                district_code TEXT NOT NULL, period TEXT NOT NULL,
                version INTEGER NOT NULL CHECK (version >= 1),
                published_at INTEGER NOT NULL, published_by TEXT NOT NULL, role TEXT NOT NULL,
                reason TEXT NOT NULL, inputs_hash TEXT NOT NULL, received INTEGER NOT NULL,
                figures TEXT NOT NULL,
                PRIMARY KEY (district_code, period, version)
            )""",
            """CREATE TRIGGER evaluations_immutable_update BEFORE UPDATE ON evaluations
               BEGIN SELECT RAISE(ABORT, 'a published evaluation is immutable'); END""",
            """CREATE TRIGGER evaluations_immutable_delete BEFORE DELETE ON evaluations
               BEGIN SELECT RAISE(ABORT, 'a published evaluation is immutable'); END""",
        ],
    ),
    # approvals and callbacks: a pending 延期/挂账 request, the stopped clock of a hold, the
    # first callback's verdict (回访) and how many callbacks were made
    (
        "0013_requests_callbacks",
        [
            "ALTER TABLE incidents ADD COLUMN request TEXT",
            "ALTER TABLE incidents ADD COLUMN paused_at INTEGER",
            "ALTER TABLE incidents ADD COLUMN satisfaction TEXT",
            "ALTER TABLE incidents ADD COLUMN callback_count INTEGER NOT NULL DEFAULT 0",
        ],
    ),
    # the handover states (移交 → accepted, returned, disputed): SQLite cannot change a CHECK
    # constraint in place, so the table is rebuilt (SQLite's documented twelve-step procedure:
    # a new table, the rows copied, the old one dropped, the new one renamed, indexes again)
    (
        "0014_handover_states",
        [
            _INCIDENTS_0014,
            f"INSERT INTO incidents_0014 ({_COLUMNS_0014}) SELECT {_COLUMNS_0014} FROM incidents",
            "DROP TABLE incidents",
            "ALTER TABLE incidents_0014 RENAME TO incidents",
            "CREATE UNIQUE INDEX incidents_external ON incidents(district_code, external_id)"
            " WHERE external_id IS NOT NULL",
            "CREATE INDEX incidents_state_township ON incidents(state, township_code)",
            "CREATE INDEX incidents_item_cell ON incidents(item_code, cell)",
            "CREATE INDEX incidents_reported ON incidents(reported_at)",
            "CREATE INDEX incidents_state_closed ON incidents(state, closed_at)",
            "CREATE INDEX incidents_patrol_task ON incidents(patrol_task_id)"
            " WHERE patrol_task_id IS NOT NULL",
        ],
    ),
    # 督办: the supervision level a case has been raised to (0 none, 1 一般, 2 重点, 3 挂牌)
    (
        "0015_supervision",
        ["ALTER TABLE incidents ADD COLUMN supervision_level INTEGER NOT NULL DEFAULT 0"],
    ),
    # the HTTP API: client systems with hashed keys, the incidents each created, and the outbox
    # of status changes for each (written in the transaction of the change)
    (
        "0016_api",
        [
            """CREATE TABLE api_clients (
                name TEXT PRIMARY KEY, role TEXT NOT NULL, township_code TEXT, team_id INTEGER,
                department TEXT, key_hash TEXT NOT NULL UNIQUE, source TEXT NOT NULL, crs TEXT NOT NULL,
                webhook_url TEXT NOT NULL, rate_per_minute INTEGER NOT NULL,
                created_at INTEGER NOT NULL, revoked_at INTEGER
            )""",
            """CREATE TABLE api_requests (
                incident_id TEXT PRIMARY KEY, client TEXT NOT NULL REFERENCES api_clients(name),
                token TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL
            )""",
            """CREATE TABLE api_outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT, client TEXT NOT NULL, incident_id TEXT NOT NULL,
                seq INTEGER NOT NULL, action TEXT NOT NULL, to_state TEXT NOT NULL, at INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
                delivered_at INTEGER, last_error TEXT NOT NULL DEFAULT '',
                UNIQUE (client, incident_id, seq)
            )""",
            "CREATE INDEX api_outbox_pending ON api_outbox(client, delivered_at, id)",
        ],
    ),
    # evidence (证据材料): each content once, rows append-only like the event log
    (
        "0017_evidence",
        [
            "CREATE TABLE evidence_content (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL)",
            """CREATE TABLE evidence (
                id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, stage TEXT NOT NULL,
                filename TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL,
                sha256 TEXT NOT NULL REFERENCES evidence_content(sha256), uploaded_by TEXT NOT NULL,
                role TEXT NOT NULL, at INTEGER NOT NULL, note TEXT NOT NULL
            )""",
            "CREATE INDEX evidence_incident ON evidence(incident_id, at)",
            """CREATE TRIGGER evidence_append_only_update BEFORE UPDATE ON evidence
               BEGIN SELECT RAISE(ABORT, 'evidence is kept as it was given'); END""",
            """CREATE TRIGGER evidence_append_only_delete BEFORE DELETE ON evidence
               BEGIN SELECT RAISE(ABORT, 'evidence is kept as it was given'); END""",
        ],
    ),
    # entered scores of the composite evaluation (综合评价): append-only, the newest counts
    (
        "0018_score_entries",
        [
            """CREATE TABLE score_entries (
                id TEXT PRIMARY KEY, district_code TEXT NOT NULL, period TEXT NOT NULL,
                township_code TEXT NOT NULL, item_code TEXT NOT NULL, points REAL NOT NULL,
                evidence TEXT NOT NULL, filename TEXT NOT NULL, sha256 TEXT NOT NULL,
                entered_by TEXT NOT NULL, role TEXT NOT NULL, at INTEGER NOT NULL
            )""",
            "CREATE INDEX score_entries_period ON score_entries(district_code, period, at)",
            """CREATE TRIGGER score_entries_append_only_update BEFORE UPDATE ON score_entries
               BEGIN SELECT RAISE(ABORT, 'an entered score is kept as it was entered'); END""",
            """CREATE TRIGGER score_entries_append_only_delete BEFORE DELETE ON score_entries
               BEGIN SELECT RAISE(ABORT, 'an entered score is kept as it was entered'); END""",
        ],
    ),
    # a user's district (NULL: every district of the deployment, as a city command centre);
    # captains and team members are in the district of their township or team
    (
        "0019_user_district",
        [
            "ALTER TABLE users ADD COLUMN district_code TEXT",
            """UPDATE users SET district_code = COALESCE(
                (SELECT t.district_code FROM townships t WHERE t.code = users.township_code),
                (SELECT t.district_code FROM teams g JOIN villages v ON v.code = g.village_code
                 JOIN townships t ON t.code = v.township_code WHERE g.id = users.team_id))""",
        ],
    ),
]
