"""The buyer's tax id and postal address, copied onto each invoice and credit note when it
is issued (as name, email and country are) and frozen with them on PostgreSQL."""

import importlib

from django.db import migrations, models

issued = importlib.import_module("invoices.migrations.0006_issued_documents_immutable")
NEW = ["billing_tax_id", "billing_address"]


def freeze_new_columns(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(issued.invoice_function_sql(issued.INVOICE_FROZEN + NEW))
        schema_editor.execute(issued.credit_note_function_sql(issued.CREDIT_NOTE_FROZEN + NEW))


def unfreeze_new_columns(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(issued.invoice_function_sql(issued.INVOICE_FROZEN))
        schema_editor.execute(issued.credit_note_function_sql(issued.CREDIT_NOTE_FROZEN))


class Migration(migrations.Migration):
    dependencies = [("invoices", "0006_issued_documents_immutable")]

    operations = [
        migrations.AddField(
            model_name="invoice", name="billing_tax_id", field=models.CharField(blank=True, max_length=64)
        ),
        migrations.AddField(
            model_name="invoice", name="billing_address", field=models.CharField(blank=True, max_length=500)
        ),
        migrations.AddField(
            model_name="creditnote", name="billing_tax_id", field=models.CharField(blank=True, max_length=64)
        ),
        migrations.AddField(
            model_name="creditnote", name="billing_address", field=models.CharField(blank=True, max_length=500)
        ),
        migrations.RunPython(freeze_new_columns, unfreeze_new_columns),
    ]
