from tortoise import migrations
from tortoise.migrations import operations as ops
from payfacile.portal.models import InvoiceKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0015_customer_company_number')]

    initial = False

    operations = [
        ops.RemoveConstraint(
            model_name='Invoice',
            name=None,
            fields=['store', 'order'],
        ),
        ops.AlterModelOptions(
            name='Invoice',
            options={'table': 'invoice', 'app': 'models', 'unique_together': (('store', 'number'), ('store', 'order', 'kind')), 'indexes': [Index(fields=['store_id', 'order_id']), Index(fields=['store_id', 'issued_at', 'id']), Index(fields=['store_id', 'customer_id', 'issued_at', 'id'])], 'pk_attr': 'id', 'table_description': "An issued invoice or credit note, frozen at issue with the seller's branding."},
        ),
        ops.AddField(
            model_name='Invoice',
            name='credits',
            field=fields.ForeignKeyField('models.Invoice', source_field='credits_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='Invoice',
            name='kind',
            field=fields.CharEnumField(default=InvoiceKind.INVOICE, description='INVOICE: invoice\nCREDIT_NOTE: credit_note', enum_type=InvoiceKind, max_length=12),
        ),
        ops.AddIndex(
            model_name='Invoice',
            index=Index(fields=['store_id', 'customer_id', 'issued_at', 'id']),
        ),
        ops.AddConstraint(
            model_name='Invoice',
            constraint=UniqueConstraint(fields=('store', 'order', 'kind'), name=None),
        ),
    ]
