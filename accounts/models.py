from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    class Role(models.TextChoices):
        EXPERT = "expert", _("Expert")
        DESIGNER = "designer", _("Designer")
        ADMIN = "admin", _("Administrator")

    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.EXPERT)
    language = models.CharField(
        _("interface language"), max_length=8, choices=settings.LANGUAGES, blank=True, default=""
    )
    daily_token_quota = models.PositiveIntegerField(
        _("daily token quota"),
        default=0,
        help_text=_("Tokens a day this user may generate; 0 means no limit."),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.get_username()
