from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_cancellation_requests')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Store',
            name='legal_form',
            field=fields.CharField(default='', max_length=40),
        ),
        ops.AddField(
            model_name='Store',
            name='company_registration',
            field=fields.CharField(default='', max_length=40),
        ),
        ops.AddField(
            model_name='Store',
            name='registration_office',
            field=fields.CharField(default='', max_length=100),
        ),
        ops.AddField(
            model_name='Store',
            name='share_capital',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='Store',
            name='payment_terms',
            field=fields.CharField(default='', max_length=300),
        ),
        ops.AddField(
            model_name='Store',
            name='late_payment_terms',
            field=fields.CharField(default='', max_length=300),
        ),
        ops.AddField(
            model_name='Store',
            name='early_payment_terms',
            field=fields.CharField(default='', max_length=300),
        ),
    ]
