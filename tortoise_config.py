"""`TORTOISE_ORM` for Tortoise's own CLI (`tortoise makemigrations`). The package never imports
this file: it builds the same config from the settings itself."""

from payfacile.platform.config import Settings
from payfacile.platform.db import tortoise_config
from payfacile.schema import MODEL_MODULES

TORTOISE_ORM = tortoise_config(Settings(), MODEL_MODULES)
