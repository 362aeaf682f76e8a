from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_store_time_zone')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboxEmail',
            name='sealed',
            field=fields.TextField(default=''),
        ),
    ]
