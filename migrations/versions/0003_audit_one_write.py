"""audit in one write: events chained by the insert that records them

Chains any events still pending (with the hash definition they were written under, v1),
then records the chain head in the one-row ``audit_chain`` table and switches to chaining on
insert: a BEFORE INSERT trigger takes the head's row lock (held to commit, so writers
serialise per transaction, not per event), gives each event its position, previous hash and
hash (v2, computed in SQL by ``hub_audit_digest``), and a statement trigger stores the new
head. Nothing updates an event afterwards, so the chainer's exemption from the append-only
guard goes. Events from position ``audit_chain.v2_from`` on carry v2 hashes; the ones before
keep their v1 hashes, which verification still recomputes, so signed checkpoints of the old
chain stay valid.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:20:00.000000
"""

from alembic import op  # noqa: I001
import sqlalchemy as sa

from catalog.audit import GENESIS, legacy_event_hash

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    bind = op.get_bind()
    _chain_pending_v1(bind)
    op.execute(
        "CREATE TABLE audit_chain ("
        " id smallint PRIMARY KEY CHECK (id = 1),"
        " pos bigint NOT NULL,"
        " hash text NOT NULL,"
        " v2_from bigint NOT NULL)"
    )
    op.execute(
        sa.text(
            "INSERT INTO audit_chain (id, pos, hash, v2_from) "
            "SELECT 1, coalesce(h.chain_pos, 0), coalesce(h.hash, :genesis), "
            "coalesce(h.chain_pos, 0) + 1 "
            "FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT chain_pos, hash FROM audit_events "
            "  WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1) h ON true"
        ).bindparams(genesis=GENESIS)
    )
    for statement in _FUNCTIONS:
        op.execute(statement)
    # The guard keeps its name (operators and tests address it) but loses the exemption.
    op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION hub_refuse_edit()"
    )
    op.execute("DROP FUNCTION hub_audit_chain_only()")
    op.execute(
        "CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION hub_audit_chain_event()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_chain_head AFTER INSERT ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION hub_audit_chain_head()"
    )
    op.execute(
        "CREATE TRIGGER audit_chain_forward_only BEFORE UPDATE OR DELETE ON audit_chain "
        "FOR EACH ROW EXECUTE FUNCTION hub_audit_chain_forward()"
    )
    op.execute(
        "CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain "
        "FOR EACH STATEMENT EXECUTE FUNCTION hub_refuse_edit()"
    )
    # Every event is chained from now on: the partial index of unchained ones has no use.
    op.execute("DROP INDEX IF EXISTS ix_audit_unchained")
    op.alter_column("audit_events", "chain_pos", nullable=False)
    op.alter_column("audit_events", "hash", nullable=False)


def _chain_pending_v1(bind: sa.Connection) -> None:
    """What the chainer used to do, once for everything still pending (v1 hashes)."""
    last = bind.execute(
        sa.text(
            "SELECT chain_pos, hash FROM audit_events WHERE chain_pos IS NOT NULL "
            "ORDER BY chain_pos DESC LIMIT 1"
        )
    ).first()
    pos, prev = (int(last.chain_pos), str(last.hash)) if last else (0, GENESIS)
    while True:
        pending = bind.execute(
            sa.text("SELECT * FROM audit_events WHERE chain_pos IS NULL ORDER BY seq LIMIT :n"),
            {"n": _BATCH},
        ).all()
        if not pending:
            return
        updates = []
        for event in pending:
            pos += 1
            digest = legacy_event_hash(event, pos, prev)
            updates.append({"s": event.seq, "p": pos, "ph": prev, "h": digest})
            prev = digest
        bind.execute(
            sa.text(
                "UPDATE audit_events SET chain_pos = :p, prev_hash = :ph, hash = :h WHERE seq = :s"
            ),
            updates,
        )


_FUNCTIONS = (
    # v2: sha256 over, in this order: the JSON text (json_build_array: fixed format, no
    # session setting shapes it; detail as jsonb's normalised text) of position, seq, subject,
    # agency, client, action, dataset, purpose, request id and detail; the time in binary
    # (8 bytes, microseconds since 2000-01-01 UTC); keys and fields in PostgreSQL's binary
    # array format (length-prefixed elements; ndim -1 = 0xffffffff for NULL; text as UTF-8,
    # which the trigger below requires of every writer); the previous event's hash. As
    # lowercase hex. Every part is self-delimiting, so no two events share a canonical form.
    # Arrays stay out of the JSON: converting every key to JSON costs more than the rest.
    """
CREATE FUNCTION hub_audit_digest(
  pos bigint, seq bigint, at timestamptz, subject text, agency text, client_id text,
  action text, dataset text, keys text[], fields text[], purpose text, request_id text,
  detail jsonb, prev text) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT encode(sha256(
    convert_to(json_build_array(pos, seq, subject, agency, client_id, action, dataset,
                                purpose, request_id, detail)::text, 'UTF8')
    || timestamptz_send(at)
    || coalesce(array_send(keys), '\\xffffffff'::bytea)
    || coalesce(array_send(fields), '\\xffffffff'::bytea)
    || convert_to(prev, 'UTF8')), 'hex')
$$""",
    # The head is read and row-locked at the transaction's first event and then carried in
    # transaction-local settings tagged with the transaction id, so a batch of N events costs
    # one lock and one head update, not N updates of the head row.
    """
CREATE FUNCTION hub_audit_chain_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  carried text := current_setting('hub.audit_head', true);
  tx text := txid_current()::text;
  head_pos bigint;
  head_hash text;
BEGIN
  -- Binary text in the hash is in the client's encoding: one encoding for every writer.
  IF current_setting('client_encoding') <> 'UTF8' THEN
    RAISE EXCEPTION 'audit events are written with client_encoding UTF8'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF carried IS NOT NULL AND split_part(carried, ':', 1) = tx THEN
    head_pos := split_part(carried, ':', 2)::bigint;
    head_hash := split_part(carried, ':', 3);
  ELSE
    SELECT pos, hash INTO head_pos, head_hash FROM audit_chain WHERE id = 1 FOR UPDATE;
  END IF;
  NEW.chain_pos := head_pos + 1;
  NEW.prev_hash := head_hash;
  NEW.hash := hub_audit_digest(NEW.chain_pos, NEW.seq, NEW.at, NEW.subject, NEW.agency,
    NEW.client_id, NEW.action, NEW.dataset, NEW.keys, NEW.fields, NEW.purpose,
    NEW.request_id, NEW.detail, head_hash);
  PERFORM set_config('hub.audit_head', tx || ':' || NEW.chain_pos || ':' || NEW.hash, true);
  RETURN NEW;
END $$""",
    """
CREATE FUNCTION hub_audit_chain_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  carried text := current_setting('hub.audit_head', true);
BEGIN
  IF carried IS NOT NULL AND split_part(carried, ':', 1) = txid_current()::text THEN
    UPDATE audit_chain SET pos = split_part(carried, ':', 2)::bigint,
                           hash = split_part(carried, ':', 3)
     WHERE id = 1 AND pos < split_part(carried, ':', 2)::bigint;
  END IF;
  RETURN NULL;
END $$""",
    """
CREATE FUNCTION hub_audit_chain_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The head only moves forward, and where v2 hashing starts is fixed.
  IF TG_OP = 'DELETE' OR NEW.pos <= OLD.pos OR NEW.v2_from <> OLD.v2_from
     OR NEW.id <> OLD.id THEN
    RAISE EXCEPTION 'table % only moves forward', TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$""",
)


def downgrade() -> None:
    # v2 events cannot be given v1 hashes without rewriting the chain (and voiding the
    # checkpoints that signed it): there is no way back that keeps the audit verifiable.
    raise RuntimeError("0003 cannot be downgraded: events after it carry v2 chain hashes")
