from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_outbox_sealed')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboxEmail',
            name='attachments',
            field=fields.TextField(default=''),
        ),
    ]
