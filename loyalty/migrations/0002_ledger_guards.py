"""PostgreSQL guards for the ledger (other databases rely on the model's save/delete refusals).

1. ``points_entry_append_only``: UPDATE or DELETE of a ledger row raises.
2. ``points_balance_matches_ledger``: a deferred constraint trigger checks at commit
   that every touched account's cached balance equals the sum of its entries.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION loyalty_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'loyalty_pointsentry is append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER points_entry_append_only
    BEFORE UPDATE OR DELETE ON loyalty_pointsentry
    FOR EACH ROW EXECUTE FUNCTION loyalty_entry_append_only();

CREATE OR REPLACE FUNCTION loyalty_balance_matches_ledger() RETURNS trigger AS $$
DECLARE
    acc bigint;
    cached integer;
    total bigint;
BEGIN
    IF TG_TABLE_NAME = 'loyalty_account' THEN
        acc := NEW.id;
    ELSE
        acc := NEW.account_id;
    END IF;
    SELECT balance INTO cached FROM loyalty_account WHERE id = acc;
    SELECT COALESCE(SUM(points), 0) INTO total FROM loyalty_pointsentry WHERE account_id = acc;
    IF cached IS DISTINCT FROM total THEN
        RAISE EXCEPTION 'account % cached balance % differs from its ledger sum %', acc, cached, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER points_entry_balance_matches
    AFTER INSERT ON loyalty_pointsentry DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION loyalty_balance_matches_ledger();

CREATE CONSTRAINT TRIGGER account_balance_matches
    AFTER UPDATE OF balance ON loyalty_account DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION loyalty_balance_matches_ledger();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS account_balance_matches ON loyalty_account;
DROP TRIGGER IF EXISTS points_entry_balance_matches ON loyalty_pointsentry;
DROP FUNCTION IF EXISTS loyalty_balance_matches_ledger();
DROP TRIGGER IF EXISTS points_entry_append_only ON loyalty_pointsentry;
DROP FUNCTION IF EXISTS loyalty_entry_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
