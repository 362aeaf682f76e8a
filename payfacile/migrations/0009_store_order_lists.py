from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_store_legal_identity')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Order',
            index=Index(fields=['store_id', 'placed_at', 'id']),
        ),
        ops.AddIndex(
            model_name='Invoice',
            index=Index(fields=['store_id', 'issued_at', 'id']),
        ),
    ]
