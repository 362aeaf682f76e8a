from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_certificate_expiry_warning')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Payment',
            name='reference',
            field=fields.CharField(default='', max_length=64),
        ),
    ]
