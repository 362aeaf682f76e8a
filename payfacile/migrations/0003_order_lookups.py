from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_due_work')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Invoice',
            index=Index(fields=['store_id', 'order_id']),
        ),
        ops.AddIndex(
            model_name='OrderLine',
            index=Index(fields=['store_id', 'order_id']),
        ),
        ops.AddIndex(
            model_name='Payment',
            index=Index(fields=['store_id', 'order_id']),
        ),
    ]
