from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0003_order_lookups')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='Invoice',
            options={'table': 'invoice', 'app': 'models', 'unique_together': (('store', 'number'), ('store', 'order')), 'indexes': [Index(fields=['store_id', 'order_id'])], 'pk_attr': 'id', 'table_description': "An issued invoice, frozen at issue with the seller's branding."},
        ),
        ops.AddField(
            model_name='Invoice',
            name='attempts',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Invoice',
            name='brand_logo',
            field=fields.BinaryField(null=True),
        ),
        ops.AddField(
            model_name='Invoice',
            name='claim_token',
            field=fields.CharField(default='', max_length=32),
        ),
        ops.AddField(
            model_name='Invoice',
            name='claimed_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Invoice',
            name='done_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Invoice',
            name='last_error',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Invoice',
            name='next_attempt_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddConstraint(
            model_name='Invoice',
            constraint=UniqueConstraint(fields=('store', 'order'), name=None),
        ),
        ops.AddField(
            model_name='Store',
            name='time_zone',
            field=fields.CharField(default='', max_length=64),
        ),
    ]
