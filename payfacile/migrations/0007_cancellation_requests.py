from tortoise import migrations
from tortoise.migrations import operations as ops
from payfacile.portal.models import CancellationAnswer, CancellationStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_outbox_attachments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CancellationRequest',
            fields=[
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscription', fields.ForeignKeyField('models.Subscription', source_field='subscription_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('reason', fields.TextField(default='', unique=False)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(default=CancellationStatus.PENDING, description='PENDING: pending\nCANCELED: canceled\nREPLIED: replied', enum_type=CancellationStatus, max_length=8)),
                ('pending', fields.BooleanField(null=True, default=True)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('answered_by', fields.ForeignKeyField('models.MerchantUser', source_field='answered_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('answer', fields.CharEnumField(null=True, description='PERIOD_END: period_end\nNOW: now', enum_type=CancellationAnswer, max_length=12)),
                ('reply', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'cancellation_request', 'app': 'models', 'unique_together': (('subscription', 'pending'),), 'indexes': [Index(fields=['store_id', 'status', 'requested_at'])], 'pk_attr': 'id', 'table_description': "A buyer's request that the store cancel a subscription, and the store's answer."},
            bases=['TenantOwned'],
        ),
    ]
