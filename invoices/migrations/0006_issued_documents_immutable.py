"""On PostgreSQL, an issued invoice and its lines are immutable, as the credit ledger is:
a trigger refuses changes to what an issued invoice says (its number, parties, period,
lines, amounts, tax and dates), while its settlement (status, what was paid or credited,
collection attempts, the stored PDF) moves on. Issued credit notes likewise. Corrections
are credit notes. (TRUNCATE, which test flushes use, fires no row trigger.)"""

from django.db import migrations

INVOICE_FROZEN = [
    "number",
    "organization_id",
    "subscription_id",
    "plan_id",
    "reason",
    "currency",
    "period_start",
    "period_end",
    "subtotal_cents",
    "credit_applied_cents",
    "tax_rate",
    "tax_cents",
    "total_cents",
    "due_date",
    "finalized_at",
    "billing_name",
    "billing_email",
    "billing_country",
    "corrects_id",
]
CREDIT_NOTE_FROZEN = [
    "number",
    "organization_id",
    "invoice_id",
    "reason",
    "currency",
    "tax_rate",
    "subtotal_cents",
    "tax_cents",
    "total_cents",
    "off_invoice_cents",
    "returned_credit_cents",
    "issued_at",
    "billing_name",
    "billing_email",
    "billing_country",
]


def _changed(columns):
    return " OR ".join(f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in columns)


def invoice_function_sql(frozen: list[str]) -> str:
    """The invoice trigger's function; later migrations that freeze more columns replace it."""
    return f"""
        CREATE OR REPLACE FUNCTION invoices_issued_immutable() RETURNS trigger AS $$
        BEGIN
            IF OLD.status = 'draft' THEN
                RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
            END IF;
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'invoice %% is issued and cannot be deleted; void it or issue a credit note',
                    OLD.number USING ERRCODE = 'restrict_violation';
            END IF;
            IF NEW.status = 'draft' OR {_changed(frozen)} THEN
                RAISE EXCEPTION 'invoice %% is issued and cannot be changed; issue a credit note',
                    OLD.number USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql
        """


def credit_note_function_sql(frozen: list[str]) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION invoices_credit_notes_immutable() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR {_changed(frozen)} THEN
                RAISE EXCEPTION 'credit note %% is issued and cannot be changed', OLD.number
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql
        """


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    invoice = schema_editor.quote_name(apps.get_model("invoices", "Invoice")._meta.db_table)
    line = schema_editor.quote_name(apps.get_model("invoices", "InvoiceLine")._meta.db_table)
    note = schema_editor.quote_name(apps.get_model("invoices", "CreditNote")._meta.db_table)
    note_line = schema_editor.quote_name(apps.get_model("invoices", "CreditNoteLine")._meta.db_table)
    schema_editor.execute(invoice_function_sql(INVOICE_FROZEN))
    schema_editor.execute(
        f"CREATE TRIGGER invoices_issued_immutable BEFORE UPDATE OR DELETE ON {invoice} "
        "FOR EACH ROW EXECUTE FUNCTION invoices_issued_immutable()"
    )
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION invoices_issued_lines_immutable() RETURNS trigger AS $$
        DECLARE
            invoice_status text;
        BEGIN
            SELECT status INTO invoice_status FROM {invoice}
            WHERE id = CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
            IF invoice_status IS NOT NULL AND invoice_status <> 'draft' THEN
                RAISE EXCEPTION 'the lines of an issued invoice cannot be changed; issue a credit note'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF TG_OP = 'UPDATE' AND NEW.invoice_id IS DISTINCT FROM OLD.invoice_id THEN
                SELECT status INTO invoice_status FROM {invoice} WHERE id = NEW.invoice_id;
                IF invoice_status IS NOT NULL AND invoice_status <> 'draft' THEN
                    RAISE EXCEPTION 'the lines of an issued invoice cannot be changed; issue a credit note'
                        USING ERRCODE = 'restrict_violation';
                END IF;
            END IF;
            RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    schema_editor.execute(
        f"CREATE TRIGGER invoices_issued_lines_immutable BEFORE INSERT OR UPDATE OR DELETE ON {line} "
        "FOR EACH ROW EXECUTE FUNCTION invoices_issued_lines_immutable()"
    )
    schema_editor.execute(credit_note_function_sql(CREDIT_NOTE_FROZEN))
    schema_editor.execute(
        f"CREATE TRIGGER invoices_credit_notes_immutable BEFORE UPDATE OR DELETE ON {note} "
        "FOR EACH ROW EXECUTE FUNCTION invoices_credit_notes_immutable()"
    )
    schema_editor.execute(
        """
        CREATE OR REPLACE FUNCTION invoices_credit_note_lines_immutable() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'the lines of an issued credit note cannot be changed'
                USING ERRCODE = 'restrict_violation';
        END;
        $$ LANGUAGE plpgsql
        """
    )
    schema_editor.execute(
        f"CREATE TRIGGER invoices_credit_note_lines_immutable BEFORE UPDATE OR DELETE ON {note_line} "
        "FOR EACH ROW EXECUTE FUNCTION invoices_credit_note_lines_immutable()"
    )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    tables = {
        "invoices_issued_immutable": "Invoice",
        "invoices_issued_lines_immutable": "InvoiceLine",
        "invoices_credit_notes_immutable": "CreditNote",
        "invoices_credit_note_lines_immutable": "CreditNoteLine",
    }
    for name, model in tables.items():
        table = schema_editor.quote_name(apps.get_model("invoices", model)._meta.db_table)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")


class Migration(migrations.Migration):
    dependencies = [("invoices", "0005_credit_notes")]

    operations = [migrations.RunPython(create_triggers, drop_triggers, elidable=False)]
