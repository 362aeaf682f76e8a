from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0014_product_vat_rate')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Customer',
            name='company_number',
            field=fields.CharField(default='', max_length=32),
        ),
    ]
