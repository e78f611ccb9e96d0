"""audit at scale: compact events, monthly partitions, signed archives of old months

Events move from the table ``audit_events`` into ``audit_log``, partitioned by month (range
on ``at``, Vietnam time, one partition ``audit_log_pYYYYMM`` per month and a default one so
no event ever lacks a place). ``audit_events`` becomes a view of it with the columns readers
used (``hash`` as lowercase hex), and an INSTEAD OF INSERT trigger on the view chains each
event under the row lock of the one-row head ``audit_chain``: it gives the event its
position, its time (the clock once the head is held, never before the head's: a month's
partition is then one contiguous stretch of the chain) and its hash, then stores it in the
partition of that time.

Compact rows (v3 hashes, from ``audit_chain.v3_from``): the hash is 32 bytes of ``bytea``;
the previous hash is not stored (it is the previous event's hash); fields and keys travel as
one deflated ``lists`` value packed by the writer (``catalog.audit_lists``). Events written
before keep their stored form (``keys``/``fields`` arrays) and their v1/v2 hashes, which
verification still recomputes, so the signed checkpoints of the old chain stay valid.

Old months leave the database only through ``hub audit archive``: it writes and checks a
signed archive file, records its signed manifest in ``audit_archives`` and moves the chain's
base (``audit_chain.base_pos``/``base_hash``, where verification in the database starts) in
the transaction that drops the partitions. Rows of every partition refuse UPDATE and DELETE
(a trigger cloned to each), every partition refuses TRUNCATE, and, where the migrating role
may create event triggers, dropping a monthly partition that no archive records is refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:00:00.000000
"""

from alembic import op  # noqa: I001
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE SEQUENCE audit_log_seq AS bigint"
    )  # identity columns on partitioned tables need PostgreSQL 17
    # Fixed-width columns first: no alignment padding between them.
    # Who, what and why repeat across events: stored once each in ``audit_contexts``.
    op.execute(
        "CREATE TABLE audit_contexts ("
        " id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " ident bytea NOT NULL UNIQUE,"
        " action varchar(32) NOT NULL,"
        " subject text, agency text, client_id text, dataset text, purpose text,"
        " fields text[])"
    )
    # Fixed-width columns first: no alignment padding between them.
    op.execute(
        "CREATE TABLE audit_log ("
        " seq bigint NOT NULL DEFAULT nextval('audit_log_seq'),"
        " at timestamptz NOT NULL,"
        " chain_pos bigint NOT NULL,"
        " context integer NOT NULL,"
        " hash bytea NOT NULL,"
        " request_id text, detail jsonb, lists bytea, keys text[]"
        ") PARTITION BY RANGE (at)"
    )
    op.execute("ALTER SEQUENCE audit_log_seq OWNED BY audit_log.seq")
    # Listing by agency or dataset goes through the contexts that have it.
    op.execute("CREATE INDEX ix_audit_log_context ON audit_log (context, chain_pos)")
    for statement in _FUNCTIONS:
        op.execute(statement)
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION hub_refuse_edit()"
    )
    for table in ("audit_log", "audit_contexts"):
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION hub_refuse_edit()"
        )
    op.execute(
        "CREATE TRIGGER audit_contexts_append_only BEFORE UPDATE OR DELETE ON audit_contexts "
        "FOR EACH ROW EXECUTE FUNCTION hub_refuse_edit()"
    )
    op.execute("SELECT hub_audit_default_partition()")
    bind = op.get_bind()
    months = bind.execute(
        sa.text(
            "SELECT DISTINCT date_trunc('month', at AT TIME ZONE '+07')::date AS m "
            "FROM audit_events ORDER BY 1"
        )
    ).scalars()
    for month in months:
        bind.execute(sa.text("SELECT hub_audit_ensure_partition(:m)"), {"m": month})
    op.execute("SELECT hub_audit_ensure_partitions()")
    # The events keep their seq, time, keys and hash (as bytes); prev_hash is the previous
    # event's hash; who, what and why move to their contexts.
    op.execute(
        "INSERT INTO audit_contexts (ident, action, subject, agency, client_id, dataset, "
        "purpose, fields) "
        "SELECT DISTINCT hub_audit_context_ident(action, subject, agency, client_id, dataset, "
        "purpose, fields), action, subject, agency, client_id, dataset, purpose, fields "
        "FROM audit_events"
    )
    op.execute(
        "INSERT INTO audit_log (seq, at, chain_pos, context, hash, request_id, detail, lists, "
        "keys) "
        "SELECT e.seq, e.at, e.chain_pos, c.id, decode(e.hash, 'hex'), e.request_id, e.detail, "
        "NULL, e.keys FROM audit_events e JOIN audit_contexts c ON c.ident = "
        "hub_audit_context_ident(e.action, e.subject, e.agency, e.client_id, e.dataset, "
        "e.purpose, e.fields) ORDER BY e.chain_pos"
    )
    op.execute(
        "SELECT setval('audit_log_seq', coalesce((SELECT max(seq) FROM audit_log), 0) + 1, false)"
    )
    op.execute("DROP TABLE audit_events")
    op.execute("DROP FUNCTION hub_audit_chain_event()")
    op.execute("DROP FUNCTION hub_audit_chain_head()")
    for statement in _CHAIN_FUNCTIONS:
        op.execute(statement)
    # The head: hash as bytes; its time (events are never timed before it); where v3 hashing
    # starts; the base the database's chain starts after (moved only by an archive).
    op.execute("DROP TRIGGER audit_chain_forward_only ON audit_chain")
    op.execute(
        "ALTER TABLE audit_chain ALTER COLUMN hash TYPE bytea USING decode(hash, 'hex'), "
        "ADD COLUMN at timestamptz NOT NULL DEFAULT '-infinity', "
        "ADD COLUMN v3_from bigint, "
        "ADD COLUMN base_pos bigint NOT NULL DEFAULT 0, "
        "ADD COLUMN base_hash bytea NOT NULL DEFAULT '\\x" + "00" * 32 + "'::bytea"
    )
    op.execute(
        "UPDATE audit_chain SET v3_from = pos + 1, "
        "at = coalesce((SELECT max(at) FROM audit_log), '-infinity')"
    )
    op.execute("ALTER TABLE audit_chain ALTER COLUMN v3_from SET NOT NULL")
    op.execute("DROP FUNCTION hub_audit_chain_forward()")
    op.execute(_FORWARD)
    op.execute(
        "CREATE TRIGGER audit_chain_forward_only BEFORE UPDATE OR DELETE ON audit_chain "
        "FOR EACH ROW EXECUTE FUNCTION hub_audit_chain_forward()"
    )
    op.execute(_VIEW)
    op.execute(
        "CREATE TRIGGER audit_events_chain INSTEAD OF INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION hub_audit_chain_event()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_chain_head AFTER INSERT ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION hub_audit_chain_head()"
    )
    op.create_table(
        "audit_archives",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("partitions", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("first_pos", sa.BigInteger(), nullable=False),
        sa.Column("last_pos", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("kid", sa.Text(), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()")),
    )
    op.execute(
        "CREATE TRIGGER audit_archives_append_only BEFORE UPDATE OR DELETE ON audit_archives "
        "FOR EACH ROW EXECUTE FUNCTION hub_refuse_edit()"
    )
    op.execute(
        "CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON audit_archives "
        "FOR EACH STATEMENT EXECUTE FUNCTION hub_refuse_edit()"
    )
    op.execute(_DROP_GUARD)
    op.execute(
        "DO $$ BEGIN "
        "IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN "
        "EXECUTE 'CREATE EVENT TRIGGER hub_audit_drop_guard ON sql_drop "
        "EXECUTE FUNCTION hub_audit_drop_guard()'; "
        "END IF; END $$"
    )


_FUNCTIONS = (
    # v3: sha256 over the position, seq and time in binary; the context's ident (itself a
    # sha256 of who, what and why, checked against its values once per context); request
    # id, detail (jsonb's normalised text), packed keys and legacy keys, each length-prefixed
    # (-1 for NULL); the previous hash's 32 bytes. Binary parts, no JSON building per event.
    """
CREATE FUNCTION hub_audit_digest3(
  pos bigint, seq bigint, at timestamptz, ident bytea, request_id text, detail jsonb,
  lists bytea, keys text[], prev bytea) RETURNS bytea LANGUAGE sql STABLE
  PARALLEL SAFE AS $$
  SELECT sha256(
    int8send(pos) || int8send(seq) || timestamptz_send(at) || ident
    || coalesce(int4send(octet_length(request_id)) || convert_to(request_id, 'UTF8'),
                '\\xffffffff'::bytea)
    || coalesce(int4send(octet_length(detail::text)) || convert_to(detail::text, 'UTF8'),
                '\\xffffffff'::bytea)
    || coalesce(int4send(length(lists)) || lists, '\\xffffffff'::bytea)
    || coalesce(array_send(keys), '\\xffffffff'::bytea)
    || prev)
$$""",
    # A context's identity: its values as a JSON array (self-delimiting), hashed.
    """
CREATE FUNCTION hub_audit_context_ident(
  action text, subject text, agency text, client_id text, dataset text, purpose text,
  fields text[]) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT sha256(convert_to(json_build_array(action, subject, agency, client_id, dataset,
                                            purpose, fields)::text, 'UTF8'))
$$""",
    # The partition of a month (Vietnam time, UTC+7 all year), with what the parent cannot
    # give it: a unique chain position (a unique index on the parent would have to include
    # the time) and a TRUNCATE guard (statement triggers are not cloned).
    """
CREATE FUNCTION hub_audit_ensure_partition(month date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  first date := date_trunc('month', month)::date;
  name text := 'audit_log_p' || to_char(first, 'YYYYMM');
BEGIN
  IF to_regclass(name) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                 name, first::text || ' 00:00:00+07',
                 (first + interval '1 month')::date::text || ' 00:00:00+07');
  EXECUTE format('CREATE UNIQUE INDEX %I ON %I (chain_pos)', name || '_chain_pos', name);
  EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                 'EXECUTE FUNCTION hub_refuse_edit()', name || '_no_truncate', name);
  RETURN true;
END $$""",
    # This month's and next month's partitions: called ahead (migration, checkpoint task,
    # archive), so the default partition stays empty and new months never wait for DDL.
    """
CREATE FUNCTION hub_audit_ensure_partitions() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  this_month date := date_trunc('month', now() AT TIME ZONE '+07')::date;
  made integer := 0;
BEGIN
  IF hub_audit_ensure_partition(this_month) THEN made := made + 1; END IF;
  IF hub_audit_ensure_partition((this_month + interval '1 month')::date) THEN
    made := made + 1;
  END IF;
  RETURN made;
END $$""",
    """
CREATE FUNCTION hub_audit_default_partition() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;
  CREATE UNIQUE INDEX audit_log_default_chain_pos ON audit_log_default (chain_pos);
  CREATE TRIGGER audit_log_default_no_truncate BEFORE TRUNCATE ON audit_log_default
    FOR EACH STATEMENT EXECUTE FUNCTION hub_refuse_edit();
END $$""",
)

_CHAIN_FUNCTIONS = (
    # The head is read and row-locked at the transaction's first event and then carried in
    # a transaction-local setting tagged with the transaction id (one lock and one head
    # update per transaction). The time is taken once the head is held and never before the
    # head's, so time order is chain order and each month is one stretch of the chain.
    """
CREATE FUNCTION hub_audit_chain_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  carried text := current_setting('hub.audit_head', true);
  tx text := txid_current()::text;
  head_pos bigint;
  head_hash bytea;
  head_at timestamptz;
  digest bytea;
  event_ident bytea;
  event_context integer;
BEGIN
  -- Binary text in the hash is in the client's encoding: one encoding for every writer.
  IF current_setting('client_encoding') <> 'UTF8' THEN
    RAISE EXCEPTION 'audit events are written with client_encoding UTF8'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF carried IS NOT NULL AND split_part(carried, '|', 1) = tx THEN
    head_pos := split_part(carried, '|', 2)::bigint;
    head_hash := decode(split_part(carried, '|', 3), 'hex');
    head_at := split_part(carried, '|', 4)::timestamptz;
  ELSE
    SELECT pos, hash, at INTO head_pos, head_hash, head_at
      FROM audit_chain WHERE id = 1 FOR UPDATE;
  END IF;
  NEW.chain_pos := head_pos + 1;
  NEW.seq := nextval('audit_log_seq');
  NEW.at := greatest(clock_timestamp(), head_at);
  event_ident := hub_audit_context_ident(NEW.action, NEW.subject, NEW.agency, NEW.client_id,
                                         NEW.dataset, NEW.purpose, NEW.fields);
  digest := hub_audit_digest3(NEW.chain_pos, NEW.seq, NEW.at, event_ident, NEW.request_id,
                              NEW.detail, NEW.lists, NEW.keys, head_hash);
  NEW.hash := encode(digest, 'hex');
  SELECT id INTO event_context FROM audit_contexts WHERE ident = event_ident;
  IF event_context IS NULL THEN
    -- Writers hold the chain head here, one at a time, and this statement sees what the
    -- one before committed; ON CONFLICT only in case a context came another way.
    INSERT INTO audit_contexts (ident, action, subject, agency, client_id, dataset, purpose,
                                fields)
    VALUES (event_ident, NEW.action, NEW.subject, NEW.agency, NEW.client_id, NEW.dataset,
            NEW.purpose, NEW.fields)
    ON CONFLICT (ident) DO NOTHING
    RETURNING id INTO event_context;
    IF event_context IS NULL THEN
      SELECT id INTO event_context FROM audit_contexts WHERE ident = event_ident;
    END IF;
  END IF;
  INSERT INTO audit_log (seq, at, chain_pos, context, hash, request_id, detail, lists, keys)
  VALUES (NEW.seq, NEW.at, NEW.chain_pos, event_context, digest, NEW.request_id, NEW.detail,
          NEW.lists, NEW.keys);
  PERFORM set_config('hub.audit_head',
    tx || '|' || NEW.chain_pos || '|' || NEW.hash || '|' || NEW.at::text, true);
  RETURN NEW;
END $$""",
    """
CREATE FUNCTION hub_audit_chain_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  carried text := current_setting('hub.audit_head', true);
BEGIN
  IF carried IS NOT NULL AND split_part(carried, '|', 1) = txid_current()::text THEN
    UPDATE audit_chain SET pos = split_part(carried, '|', 2)::bigint,
                           hash = decode(split_part(carried, '|', 3), 'hex'),
                           at = split_part(carried, '|', 4)::timestamptz
     WHERE id = 1 AND pos < split_part(carried, '|', 2)::bigint;
  END IF;
  RETURN NULL;
END $$""",
)

_FORWARD = """
CREATE FUNCTION hub_audit_chain_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The head only moves forward; the base (where the database's chain starts) only moves
  -- forward, never past the head, and changes its hash only with its position; where v2
  -- and v3 hashing start is fixed.
  IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.v2_from <> OLD.v2_from
     OR NEW.v3_from <> OLD.v3_from OR NEW.pos < OLD.pos OR NEW.base_pos < OLD.base_pos
     OR NEW.base_pos > NEW.pos
     OR (NEW.pos = OLD.pos AND NEW.base_pos = OLD.base_pos)
     OR (NEW.base_pos = OLD.base_pos AND NEW.base_hash <> OLD.base_hash) THEN
    RAISE EXCEPTION 'table % only moves forward', TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$"""

# What readers of the former table see: the same columns (keys of compact events packed in
# ``lists``), hash as hex.
_VIEW = """
CREATE VIEW audit_events AS
SELECT l.seq, l.at, c.subject, c.agency, c.client_id, c.action, c.dataset, l.keys, c.fields,
       l.lists, c.purpose, l.request_id, l.detail, l.chain_pos, encode(l.hash, 'hex') AS hash
FROM audit_log l JOIN audit_contexts c ON c.id = l.context"""

# A monthly partition leaves only with an archive that records it (``hub audit archive``
# inserts that record in the transaction that drops it); the log itself and its default
# partition never.
_DROP_GUARD = """
CREATE FUNCTION hub_audit_drop_guard() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
  gone record;
BEGIN
  FOR gone IN SELECT object_name FROM pg_event_trigger_dropped_objects()
              WHERE object_type = 'table' AND object_name LIKE 'audit\\_log%' LOOP
    IF gone.object_name IN ('audit_log', 'audit_log_default')
       OR NOT EXISTS (SELECT 1 FROM audit_archives
                      WHERE gone.object_name = ANY (partitions)) THEN
      RAISE EXCEPTION 'audit partition % is dropped only by hub audit archive',
        gone.object_name USING ERRCODE = 'insufficient_privilege';
    END IF;
  END LOOP;
END $$"""


def downgrade() -> None:
    # Compact events carry v3 hashes over their packed lists; the former table cannot hold
    # them without rewriting the chain (and voiding the checkpoints that signed it).
    raise RuntimeError("0005 cannot be downgraded: events after it carry v3 chain hashes")
