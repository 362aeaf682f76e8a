from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0016_credit_notes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PaymentMethod',
            name='mandate_reference',
            field=fields.CharField(null=True, max_length=35),
        ),
        ops.AddField(
            model_name='PaymentMethod',
            name='mandate_signed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddConstraint(
            model_name='PaymentMethod',
            constraint=UniqueConstraint(fields=('store', 'mandate_reference'), name=None),
        ),
    ]
