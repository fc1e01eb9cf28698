"""Database helpers for bulk work on the billing cycle's hot loops."""

from __future__ import annotations

from django.db import connection


def bulk_update_rows(objs: list, fields: list[str]) -> None:
    """Save `fields` of many model instances with one prepared UPDATE run for every row
    (psycopg pipelines `executemany`). Django's `bulk_update` builds a CASE expression per
    row and field, which costs more than the whole billing work for thousands of rows."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in columns)
    pk = meta.pk
    sql = f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {assignments} WHERE {connection.ops.quote_name(pk.column)} = %s"  # noqa: E501,S608 - names from model metadata
    rows = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns]
        + [pk.get_db_prep_save(obj.pk, connection)]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
