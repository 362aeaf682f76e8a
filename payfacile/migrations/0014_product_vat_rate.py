from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0013_payment_reference')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Product',
            name='tax_rate_bp',
            field=fields.IntField(default=2000),
        ),
    ]
