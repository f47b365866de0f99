-- The clinic database: who was treated, for what, in which sessions, and how they felt.
-- Schema version 6. db.py applies this to a new file and migrates older ones.

CREATE TABLE IF NOT EXISTS meta (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS clinics (
    clinic_id VARCHAR PRIMARY KEY CHECK (length(clinic_id) BETWEEN 1 AND 64),
    name      VARCHAR
);

CREATE TABLE IF NOT EXISTS therapists (
    therapist_id VARCHAR PRIMARY KEY CHECK (length(therapist_id) BETWEEN 1 AND 64),
    name         VARCHAR,
    clinic_id    VARCHAR NOT NULL REFERENCES clinics (clinic_id)
);

CREATE TABLE IF NOT EXISTS clients (
    client_id    VARCHAR PRIMARY KEY CHECK (length(client_id) BETWEEN 1 AND 64),
    display_name VARCHAR,
    clinic_id    VARCHAR NOT NULL REFERENCES clinics (clinic_id)
);

-- One course of care for one complaint.
CREATE TABLE IF NOT EXISTS episodes (
    episode_id     VARCHAR PRIMARY KEY CHECK (length(episode_id) BETWEEN 1 AND 64),
    client_id      VARCHAR NOT NULL REFERENCES clients (client_id),
    therapist_id   VARCHAR NOT NULL REFERENCES therapists (therapist_id),  -- primary therapist
    condition      VARCHAR NOT NULL CHECK (condition IN ('plantar_fasciitis', 'heel_spur', 'bunion',
                       'hammer_toe', 'flat_feet', 'pronation', 'mid_arch_pain', 'tendonitis',
                       'shin_splints')),
    course_type    VARCHAR NOT NULL CHECK (course_type IN ('acute', 'chronic')),
    severity       VARCHAR CHECK (severity IN ('mild', 'moderate', 'severe')),
    prior_injuries INTEGER CHECK (prior_injuries BETWEEN 0 AND 100),
    onset_date     DATE,
    -- Version 5: why the course ended, which foot, and the stretching plan the client takes home
    -- (report.MAX_NOTES_CHARS, saved from the Client progress page).
    discharge_reason VARCHAR CHECK (discharge_reason IN ('goals_met', 'improved_enough', 'no_change',
                         'cost_or_time', 'moved', 'referred_elsewhere', 'other')),
    foot_side      VARCHAR CHECK (foot_side IN ('left', 'right', 'both')),
    stretching_plan VARCHAR CHECK (length(stretching_plan) <= 1500)
);

CREATE SEQUENCE IF NOT EXISTS session_id_seq START 1;

-- One hour-long visit; three quarters of it on the sore spot.
CREATE TABLE IF NOT EXISTS sessions (
    session_id               BIGINT PRIMARY KEY DEFAULT nextval('session_id_seq'),
    episode_id               VARCHAR NOT NULL REFERENCES episodes (episode_id),
    visit_number             INTEGER NOT NULL CHECK (visit_number >= 1),
    session_date             DATE NOT NULL,
    therapist_id             VARCHAR NOT NULL REFERENCES therapists (therapist_id),
    duration_min             INTEGER NOT NULL DEFAULT 60 CHECK (duration_min BETWEEN 1 AND 480),
    sore_spot_min            INTEGER CHECK (sore_spot_min BETWEEN 0 AND 480),
    stretching_adherence_pct DOUBLE CHECK (stretching_adherence_pct BETWEEN 0 AND 100),
    -- Version 5: foot function as scored (FAAM ADL %, LEFS), and a private free-text note.
    faam_adl_pct             DOUBLE CHECK (faam_adl_pct BETWEEN 0 AND 100),
    lefs                     INTEGER CHECK (lefs BETWEEN 0 AND 80),
    note                     VARCHAR CHECK (length(note) <= 2000),
    -- Version 7: the next appointment agreed at the session (on or after it: the importer and
    -- records.py check; DuckDB cannot add a CHECK to an existing table, so there is none here).
    next_appointment         DATE,
    UNIQUE (episode_id, visit_number)
);

-- The assessments that open (pre) and close (post) every session.
CREATE TABLE IF NOT EXISTS assessments (
    session_id       BIGINT NOT NULL REFERENCES sessions (session_id),
    phase            VARCHAR NOT NULL CHECK (phase IN ('pre', 'post')),
    pain             DOUBLE NOT NULL CHECK (pain BETWEEN 0 AND 10),       -- numeric rating scale
    psfs             DOUBLE CHECK (psfs BETWEEN 0 AND 10),                -- function, higher = better
    dorsiflexion_deg DOUBLE CHECK (dorsiflexion_deg BETWEEN -30 AND 80),  -- ankle, calf flexibility
    PRIMARY KEY (session_id, phase)
);

-- The facts metrics read. Two views define them; two tables of the same names without "_live"
-- hold them, refreshed by db.write() inside every write transaction, so a dashboard query never
-- re-joins millions of assessments and never sees a figure older than the last write.

-- One row per session with its episode and both assessments side by side, and what the
-- data-quality checks compare a visit with (version 4): the latest earlier pre-session pain and
-- its visit, the previous visit's number and date, and the first visit of the same day.
CREATE OR REPLACE VIEW session_facts_live AS
WITH joined AS (
    SELECT
        s.session_id, s.episode_id, s.visit_number, s.session_date, s.therapist_id AS session_therapist_id,
        s.duration_min, s.sore_spot_min, s.stretching_adherence_pct, s.faam_adl_pct, s.lefs, s.note,
        s.next_appointment,
        e.client_id, c.clinic_id, e.therapist_id, e.condition, e.course_type, e.severity,
        e.prior_injuries, e.onset_date, e.discharge_reason, e.foot_side,
        pre.pain AS pain_pre, post.pain AS pain_post,
        pre.psfs AS psfs_pre, post.psfs AS psfs_post,
        pre.dorsiflexion_deg AS dorsiflexion_pre_deg, post.dorsiflexion_deg AS dorsiflexion_post_deg
    FROM sessions s
    JOIN episodes e USING (episode_id)
    JOIN clients c ON c.client_id = e.client_id
    LEFT JOIN assessments pre ON pre.session_id = s.session_id AND pre.phase = 'pre'
    LEFT JOIN assessments post ON post.session_id = s.session_id AND post.phase = 'post'
)
SELECT *,
    lag(pain_pre IGNORE NULLS) OVER by_visit AS previous_pain,
    lag(CASE WHEN pain_pre IS NOT NULL THEN visit_number END IGNORE NULLS) OVER by_visit AS previous_pain_visit,
    lag(visit_number) OVER by_visit AS previous_visit,
    lag(session_date) OVER by_visit AS previous_date,
    min(visit_number) OVER (PARTITION BY episode_id, session_date) AS first_visit_that_day
FROM joined
WINDOW by_visit AS (PARTITION BY episode_id ORDER BY visit_number);

CREATE TABLE IF NOT EXISTS session_facts AS SELECT * FROM session_facts_live LIMIT 0;

-- One row per episode: its first and last visit and the scores the outcome rules look at.
-- Reads the session_facts table, so refreshing one episode touches only its own rows.
CREATE OR REPLACE VIEW episode_facts_live AS
SELECT
    episode_id,
    any_value(client_id) AS client_id,
    any_value(clinic_id) AS clinic_id,
    any_value(therapist_id) AS therapist_id,
    any_value(condition) AS condition,
    any_value(course_type) AS course_type,
    any_value(severity) AS severity,
    any_value(prior_injuries) AS prior_injuries,
    min(session_date) AS start_date,
    max(session_date) AS last_date,
    max(visit_number) AS visits,
    count(*) AS sessions,
    max(pain_pre) FILTER (WHERE visit_number = 1) AS baseline_pain,
    arg_max(pain_pre, visit_number) AS last_pain_pre,
    max(pain_pre) FILTER (WHERE visit_number = 3) AS pain_pre_v3,
    max(pain_post) FILTER (WHERE visit_number = 2) AS pain_post_v2,
    max(psfs_pre) FILTER (WHERE visit_number = 1) AS baseline_psfs,
    arg_max(psfs_pre, visit_number) AS last_psfs_pre,
    avg(stretching_adherence_pct) AS mean_adherence_pct,
    -- Added for metrics.py: the visit whose pre-session pain last_pain_pre is (arg_max skips
    -- missing scores), so "has a follow-up score" means last_pre_visit > 1.
    max(visit_number) FILTER (WHERE pain_pre IS NOT NULL) AS last_pre_visit,
    -- Version 4: the sessions each data-quality check finds, per episode (the conditions are
    -- metrics/quality.py's DATA_QUALITY_CHECKS; tests/test_metrics.py keeps the two the same).
    count(*) FILTER (WHERE pain_pre IS NULL) AS sessions_missing_pre,
    count(*) FILTER (WHERE pain_post IS NULL) AS sessions_missing_post,
    count(*) FILTER (WHERE pain_post > pain_pre) AS sessions_relief_negative,
    count(*) FILTER (WHERE visit_number <> first_visit_that_day) AS sessions_same_date,
    count(*) FILTER (WHERE session_date < previous_date) AS sessions_dates_out_of_order
FROM session_facts
GROUP BY episode_id;

CREATE TABLE IF NOT EXISTS episode_facts AS SELECT * FROM episode_facts_live LIMIT 0;

-- Version 2: corrections history, accounts and the audit trail.

CREATE SEQUENCE IF NOT EXISTS correction_id_seq START 1;

-- Every change to a stored session or assessment keeps the old value: who, when, old, new.
CREATE TABLE IF NOT EXISTS corrections (
    correction_id BIGINT PRIMARY KEY DEFAULT nextval('correction_id_seq'),
    corrected_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    corrected_by  VARCHAR NOT NULL,
    session_id    BIGINT NOT NULL,
    field         VARCHAR NOT NULL,
    old_value     VARCHAR,
    new_value     VARCHAR,
    reason        VARCHAR
);

CREATE TABLE IF NOT EXISTS users (
    username      VARCHAR PRIMARY KEY CHECK (length(username) BETWEEN 1 AND 64),
    password_hash VARCHAR NOT NULL,
    role          VARCHAR NOT NULL CHECK (role IN ('manager', 'therapist')),
    therapist_id  VARCHAR,
    is_disabled   BOOLEAN NOT NULL DEFAULT false,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until  TIMESTAMP,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    CHECK (role = 'manager' OR therapist_id IS NOT NULL)
);

CREATE SEQUENCE IF NOT EXISTS audit_id_seq START 1;

-- Append-only: the code only ever inserts. Targets are ids; never pain values or names.
CREATE TABLE IF NOT EXISTS audit_log (
    audit_id    BIGINT PRIMARY KEY DEFAULT nextval('audit_id_seq'),
    logged_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    username    VARCHAR,
    -- Version 6: a check-in submitted by a client, a check-in link made or revoked, a reminder
    -- e-mail sent, a backup made.
    action      VARCHAR NOT NULL CHECK (action IN ('sign_in', 'failed_sign_in', 'sign_out', 'view_client',
                    'record', 'correct', 'import', 'export', 'report_download', 'user_change',
                    'checkin', 'checkin_link', 'reminder', 'backup')),
    target_type VARCHAR,
    target_id   VARCHAR
);

-- Version 6: what clients report themselves, between visits and after the last one.

-- A course's personal check-in link: a random, unguessable token (secrets.token_urlsafe). It
-- reaches that course's check-in page only; it expires config.CHECKIN_LINK_MONTHS after the
-- course's last visit (worked out when used, as the last visit can move) or when revoked.
CREATE TABLE IF NOT EXISTS checkin_links (
    token       VARCHAR PRIMARY KEY CHECK (length(token) BETWEEN 32 AND 128),
    episode_id  VARCHAR NOT NULL REFERENCES episodes (episode_id),
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    revoked_at  TIMESTAMP
);

CREATE SEQUENCE IF NOT EXISTS checkin_id_seq START 1;

-- One answer a client gave, from their link (source 'link') or a survey tool's file ('import'):
-- at most one per course and day. After the course's last visit it answers a follow-up
-- (analytics/followups.py says which); before it, it is a between-visit check-in.
CREATE TABLE IF NOT EXISTS checkins (
    checkin_id       BIGINT PRIMARY KEY DEFAULT nextval('checkin_id_seq'),
    episode_id       VARCHAR NOT NULL REFERENCES episodes (episode_id),
    answered_on      DATE NOT NULL,
    source           VARCHAR NOT NULL CHECK (source IN ('link', 'import')),
    pain             DOUBLE CHECK (pain BETWEEN 0 AND 10),              -- pain now, 0-10
    first_steps_pain DOUBLE CHECK (first_steps_pain BETWEEN 0 AND 10),  -- first steps in the morning
    stretch_days     INTEGER CHECK (stretch_days BETWEEN 0 AND 7),      -- days with stretches, last 7
    pgic             INTEGER CHECK (pgic BETWEEN 1 AND 7),              -- 1 very much improved .. 7 very much worse
    pain_returned    BOOLEAN,                                           -- after the last visit only
    submitted_at     TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (episode_id, answered_on)
);

-- How to reach a client for reminders (optional; never shown in tables or logs).
CREATE TABLE IF NOT EXISTS client_contacts (
    client_id VARCHAR PRIMARY KEY REFERENCES clients (client_id),
    email     VARCHAR CHECK (length(email) <= 254 AND email LIKE '%_@_%')
);

-- The follow-up reminders e-mailed: at most one per course and follow-up.
CREATE TABLE IF NOT EXISTS reminders_sent (
    episode_id   VARCHAR NOT NULL REFERENCES episodes (episode_id),
    followup_day INTEGER NOT NULL,
    sent_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (episode_id, followup_day)
);
