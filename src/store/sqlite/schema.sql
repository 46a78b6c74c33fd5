-- frontdesk store. One file, WAL, synchronous=FULL: a row is on disk before the webhook
-- answers 200.

-- Every accepted notification, deduplicated on (app_id, notification_id).
CREATE TABLE IF NOT EXISTS inbox (
    id              INTEGER PRIMARY KEY,
    app_id          TEXT    NOT NULL,
    notification_id TEXT    NOT NULL,
    topic           TEXT    NOT NULL,
    conversation_id TEXT,
    received_at     INTEGER NOT NULL,   -- unix ms
    payload         BLOB    NOT NULL,   -- the raw body, exactly as signed
    state           TEXT    NOT NULL DEFAULT 'pending', -- pending | processing | done | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    UNIQUE (app_id, notification_id)
);
-- The events of one conversation are claimed in order, one at a time.
CREATE INDEX IF NOT EXISTS inbox_conversation ON inbox (app_id, conversation_id, id);
-- The claims look only at open rows (else each claim walks every row ever decided).
CREATE INDEX IF NOT EXISTS inbox_open ON inbox (id) WHERE state IN ('pending', 'processing');

-- One record per processed event: what was decided and why.
CREATE TABLE IF NOT EXISTS decisions (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL UNIQUE REFERENCES inbox (id),
    app_id          TEXT    NOT NULL DEFAULT '',  -- the event's workspace
    conversation_id TEXT,
    -- (app, conversation, customer message) acted on; NULL when nothing was acted on.
    -- Unique, so the same customer message is never acted on twice, whatever the
    -- notification id.
    trigger_key     TEXT UNIQUE,
    outcome         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,   -- unix ms
    record          TEXT    NOT NULL    -- JSON
);

-- Actions to carry out. Written in the same transaction as the decision; an action is marked
-- 'sending' (committed) before the request leaves, so a crash mid-send is seen on restart as
-- an uncertain send, resolved by looking at the conversation before posting again.
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES inbox (id),
    seq             INTEGER NOT NULL,
    app_id          TEXT    NOT NULL DEFAULT '',  -- the event's workspace
    conversation_id TEXT    NOT NULL,
    action          TEXT    NOT NULL,   -- JSON of actions::Action
    state           TEXT    NOT NULL DEFAULT 'pending', -- pending | sending | sent | recorded (dry run) | failed | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    uncertain       INTEGER NOT NULL DEFAULT 0,  -- a previous attempt may have been applied
    next_attempt_at INTEGER NOT NULL DEFAULT 0,  -- unix ms
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT,
    UNIQUE (event_id, seq)
);
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (id) WHERE state IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS outbox_dead ON outbox (id) WHERE state = 'dead';
-- Every index on `state` is written again on each change of state: these two served the
-- claims that the partial indexes above serve now.
DROP INDEX IF EXISTS inbox_pending;
DROP INDEX IF EXISTS outbox_due;
-- The indexes of a conversation's decisions and actions name its workspace too; they are
-- made in `sqlite.rs` (WORKSPACE_INDEXES), once a store made before the workspace columns
-- has them.

-- What frontdesk remembers of a conversation between events: set from the topics that carry
-- no customer message (a teammate replied or was assigned, closed/opened, a rating).
CREATE TABLE IF NOT EXISTS conversations (
    app_id             TEXT    NOT NULL,
    conversation_id    TEXT    NOT NULL,
    teammate_took_over INTEGER NOT NULL DEFAULT 0,
    closed             INTEGER NOT NULL DEFAULT 0,
    rating             INTEGER,
    updated_at         INTEGER NOT NULL,   -- unix ms
    pending_action     TEXT,               -- JSON of domain::PendingAction: a declared action waiting on the customer
    PRIMARY KEY (app_id, conversation_id)
);

-- The conversation exactly as a decision saw it (the webhook's parts merged with a fetch), so
-- that `frontdesk log --rerun` decides again on the same input. Holds customer text, like the
-- inbox payload.
CREATE TABLE IF NOT EXISTS event_inputs (
    event_id     INTEGER PRIMARY KEY REFERENCES inbox (id),
    conversation TEXT NOT NULL          -- JSON of domain::Conversation
);

-- Each bot reply and draft note that was posted (or recorded in a dry run), and what became
-- of it (see outcomes/mod.rs). Written in the transaction of the event that caused it.
CREATE TABLE IF NOT EXISTS touches (
    event_id        INTEGER PRIMARY KEY REFERENCES inbox (id),
    app_id          TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    kind            TEXT    NOT NULL,   -- reply | note
    mode            TEXT    NOT NULL,
    intent          TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    at              INTEGER NOT NULL,   -- unix s
    quiet_until     INTEGER,            -- unix s; NULL while a customer message awaits the bot
    outcome         TEXT,               -- NULL while pending
    settled_at      INTEGER,            -- unix s
    settled_by      TEXT,               -- what settled it
    draft           TEXT,               -- notes: the draft, compared with the teammate's reply
    draft_use       TEXT,               -- sent_as_is | edited | ignored
    draft_edit      REAL                -- word edit distance over the longer text, 0..1
);
CREATE INDEX IF NOT EXISTS touches_conversation ON touches (app_id, conversation_id);
CREATE INDEX IF NOT EXISTS touches_quiet ON touches (quiet_until) WHERE outcome IS NULL;
CREATE INDEX IF NOT EXISTS touches_at ON touches (at);

-- The live facts of each conversation the bot decided on: its holdout group (assigned once)
-- and what the holdout compares.
CREATE TABLE IF NOT EXISTS live (
    app_id            TEXT    NOT NULL,
    conversation_id   TEXT    NOT NULL,
    grp               TEXT    NOT NULL,   -- treatment | control
    mode              TEXT    NOT NULL,
    intent            TEXT    NOT NULL,
    started_at        INTEGER NOT NULL,   -- the first customer message decided, unix s
    first_response_at INTEGER,            -- the bot's first reply or a teammate's, unix s
    teammate_replies  INTEGER NOT NULL DEFAULT 0,
    bot_replies       INTEGER NOT NULL DEFAULT 0,
    closed_at         INTEGER,            -- the latest close, unix s; NULL while open
    ever_closed       INTEGER NOT NULL DEFAULT 0,
    reopened          INTEGER NOT NULL DEFAULT 0,  -- the customer came back after a close
    rating            INTEGER,
    PRIMARY KEY (app_id, conversation_id)
);
CREATE INDEX IF NOT EXISTS live_started ON live (started_at);

-- Teammate parts already counted, so a redelivery or a second webhook with the same part
-- counts nothing twice.
CREATE TABLE IF NOT EXISTS counted_parts (
    app_id          TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    part_id         TEXT NOT NULL,
    PRIMARY KEY (app_id, conversation_id, part_id)
) WITHOUT ROWID;

-- Each call of a declared action the bot planned, made or was refused (store/calls.rs): the
-- audit, what the per-contact limits count, the approvals, and what keeps a call to exactly
-- once (a write is `calling`, committed, before its request leaves).
CREATE TABLE IF NOT EXISTS action_calls (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    event_id        INTEGER NOT NULL REFERENCES inbox (id),
    app_id          TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    contact_id      TEXT,
    action          TEXT    NOT NULL,
    verdict         TEXT    NOT NULL,   -- queued | awaiting_approval | approved | rejected | refused | shadow | described | holdout
    state           TEXT    NOT NULL,   -- planned | calling | done | failed | uncertain | not_called
    record          TEXT    NOT NULL,   -- JSON: spec hash, inputs with their sources, confirmation, reasons
    call            TEXT,               -- JSON of the outbox action that makes it, while it may be made
    attempts        INTEGER NOT NULL DEFAULT 0,
    status          INTEGER,
    latency_ms      INTEGER,
    output          TEXT,               -- JSON, as projected, masked fields masked
    error           TEXT,
    approver        TEXT,
    approved_at     INTEGER,            -- unix ms
    created_at      INTEGER NOT NULL,   -- unix ms
    finished_at     INTEGER             -- unix ms
);
CREATE INDEX IF NOT EXISTS action_calls_conversation ON action_calls (app_id, conversation_id);
CREATE INDEX IF NOT EXISTS action_calls_contact ON action_calls (app_id, contact_id, created_at);
CREATE INDEX IF NOT EXISTS action_calls_awaiting ON action_calls (id) WHERE verdict = 'awaiting_approval';

-- Each replica's heartbeat (one process here; the same rows as PostgreSQL's, for `report`).
CREATE TABLE IF NOT EXISTS replicas (
    id          TEXT    PRIMARY KEY,
    started_at  INTEGER NOT NULL,   -- unix ms
    last_seen   INTEGER NOT NULL,   -- unix ms
    stopped_at  INTEGER,            -- unix ms, a clean stop
    gone_at     INTEGER             -- unix ms, taken for dead by another
);
