-- frontdesk store on PostgreSQL, migration 1: the same tables as the SQLite store
-- (schema.sql), with PostgreSQL's types. Commits are durable (synchronous_commit on).

CREATE TABLE inbox (
    id              BIGSERIAL PRIMARY KEY,
    app_id          TEXT    NOT NULL,
    notification_id TEXT    NOT NULL,
    topic           TEXT    NOT NULL,
    conversation_id TEXT,
    received_at     BIGINT  NOT NULL,   -- unix ms
    payload         BYTEA   NOT NULL,   -- the raw body, exactly as signed
    state           TEXT    NOT NULL DEFAULT 'pending', -- pending | processing | done | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    UNIQUE (app_id, notification_id)
);
CREATE INDEX inbox_pending ON inbox (state, id);

CREATE TABLE decisions (
    id              BIGSERIAL PRIMARY KEY,
    event_id        BIGINT  NOT NULL UNIQUE REFERENCES inbox (id),
    conversation_id TEXT,
    trigger_key     TEXT UNIQUE,
    outcome         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,   -- unix ms
    record          TEXT    NOT NULL    -- JSON
);
CREATE INDEX decisions_conversation ON decisions (conversation_id, id);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    event_id        BIGINT  NOT NULL REFERENCES inbox (id),
    seq             INTEGER NOT NULL,
    conversation_id TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    uncertain       INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT,
    last_error      TEXT,
    UNIQUE (event_id, seq)
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);

CREATE TABLE conversations (
    app_id             TEXT    NOT NULL,
    conversation_id    TEXT    NOT NULL,
    teammate_took_over INTEGER NOT NULL DEFAULT 0,
    closed             INTEGER NOT NULL DEFAULT 0,
    rating             INTEGER,
    updated_at         BIGINT  NOT NULL,
    PRIMARY KEY (app_id, conversation_id)
);

CREATE TABLE event_inputs (
    event_id     BIGINT PRIMARY KEY REFERENCES inbox (id),
    conversation TEXT NOT NULL
);

CREATE TABLE touches (
    event_id        BIGINT  PRIMARY KEY REFERENCES inbox (id),
    app_id          TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    mode            TEXT    NOT NULL,
    intent          TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    at              BIGINT  NOT NULL,
    quiet_until     BIGINT,
    outcome         TEXT,
    settled_at      BIGINT,
    settled_by      TEXT,
    draft           TEXT,
    draft_use       TEXT,
    draft_edit      DOUBLE PRECISION
);
CREATE INDEX touches_conversation ON touches (app_id, conversation_id);
CREATE INDEX touches_quiet ON touches (quiet_until) WHERE outcome IS NULL;
CREATE INDEX touches_at ON touches (at);

CREATE TABLE live (
    app_id            TEXT    NOT NULL,
    conversation_id   TEXT    NOT NULL,
    grp               TEXT    NOT NULL,
    mode              TEXT    NOT NULL,
    intent            TEXT    NOT NULL,
    started_at        BIGINT  NOT NULL,
    first_response_at BIGINT,
    teammate_replies  INTEGER NOT NULL DEFAULT 0,
    bot_replies       INTEGER NOT NULL DEFAULT 0,
    closed_at         BIGINT,
    ever_closed       INTEGER NOT NULL DEFAULT 0,
    reopened          INTEGER NOT NULL DEFAULT 0,
    rating            INTEGER,
    PRIMARY KEY (app_id, conversation_id)
);
CREATE INDEX live_started ON live (started_at);

CREATE TABLE counted_parts (
    app_id          TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    part_id         TEXT NOT NULL,
    PRIMARY KEY (app_id, conversation_id, part_id)
);
