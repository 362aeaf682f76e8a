from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.RenameField(
            model_name='OutboxEmail',
            old_name='sent_at',
            new_name='done_at',
        ),
        ops.AddField(
            model_name='OutboxEmail',
            name='claim_token',
            field=fields.CharField(default='', max_length=32),
        ),
        ops.AddField(
            model_name='OutboxEmail',
            name='message_id',
            field=fields.CharField(default='', max_length=255),
        ),
        ops.RenameField(
            model_name='WebhookDelivery',
            old_name='delivered_at',
            new_name='done_at',
        ),
        ops.AddField(
            model_name='WebhookDelivery',
            name='claim_token',
            field=fields.CharField(default='', max_length=32),
        ),
    ]
