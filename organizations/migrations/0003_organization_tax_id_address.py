from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("organizations", "0002_organization_tax_rate")]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="tax_id",
            field=models.CharField(blank=True, help_text="Printed on invoices (VAT number, NPWP, ...).", max_length=64),
        ),
        migrations.AddField(
            model_name="organization",
            name="billing_address",
            field=models.CharField(blank=True, help_text="Postal address printed on invoices.", max_length=500),
        ),
    ]
