from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_store_order_lists')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='Domain',
            options={'table': 'domain', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A custom hostname a store connected (docs/architecture.md, "Custom domain lifecycle").'},
        ),
        ops.RenameField(
            model_name='Domain',
            old_name='next_check_at',
            new_name='next_attempt_at',
        ),
        ops.AddField(
            model_name='Domain',
            name='attempts',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Domain',
            name='claim_token',
            field=fields.CharField(default='', max_length=32),
        ),
        ops.AddField(
            model_name='Domain',
            name='claimed_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Domain',
            name='done_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Domain',
            name='last_error',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Domain',
            name='moved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Domain',
            name='pending_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Domain',
            name='report',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Domain',
            name='verified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Store',
            name='domain_token',
            field=fields.CharField(default='', max_length=64),
        ),
    ]
