-- A status store of schema version 1, as that version wrote it: runs
-- without when and by whom (no creation_time, start_time, end_time,
-- started_by or result). sqlite_store_test.cpp migrates it.
CREATE TABLE runs (
  name          TEXT PRIMARY KEY,
  action_uid    TEXT NOT NULL UNIQUE,
  state         TEXT NOT NULL,
  progress      REAL NOT NULL,
  error_code    TEXT NOT NULL,
  error_message TEXT NOT NULL,
  queue_order   INTEGER NOT NULL
);
CREATE TABLE params (
  action_uid TEXT NOT NULL,
  name       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  text       TEXT NOT NULL,
  PRIMARY KEY (action_uid, name)
);
INSERT INTO runs VALUES ('check_disk', 'u1', 'failed', 50.0, 'command_failed',
                         'only 3% free', 1);
INSERT INTO runs VALUES ('reindex', 'u2', 'queued', 0.0, '', '', 2);
INSERT INTO params VALUES ('u2', 'index', 'string', 'orders');
PRAGMA application_id = 1128358772;
PRAGMA user_version = 1;
