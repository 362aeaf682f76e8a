from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0010_custom_domains')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='AcmeAccount',
            options={'table': 'acme_account', 'app': 'models', 'pk_attr': 'id', 'table_description': "The one ACME account of the platform at a CA (Let's Encrypt recommends one)."},
        ),
        ops.AlterModelOptions(
            name='AcmeOrder',
            options={'table': 'acme_order', 'app': 'models', 'unique_together': (('domain',),), 'pk_attr': 'id', 'table_description': "A custom domain's certificate work: one row per domain, made once it is verified."},
        ),
        ops.AlterField(
            model_name='AcmeOrder',
            name='deadline',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='AcmeOrder',
            name='claim_token',
            field=fields.CharField(default='', max_length=32),
        ),
        ops.AddField(
            model_name='AcmeOrder',
            name='done_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='AcmeOrder',
            name='failures',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='AcmeOrder',
            name='last_error',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='AcmeOrder',
            name='problem',
            field=fields.CharField(default='', max_length=32),
        ),
        ops.AddField(
            model_name='AcmeOrder',
            name='updated_at',
            field=fields.DatetimeField(auto_now=True, auto_now_add=False),
        ),
        ops.AddConstraint(
            model_name='AcmeOrder',
            constraint=UniqueConstraint(fields=('domain',), name=None),
        ),
        ops.AlterModelOptions(
            name='Certificate',
            options={'table': 'certificate', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A certificate of one custom domain, its key sealed; the newest one is served.'},
        ),
        ops.AddField(
            model_name='Certificate',
            name='renew_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
