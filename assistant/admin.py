"""Admins manage profiles, templates and feedback. Users' chats stay private unless ADMIN_CAN_READ_CHATS is
set, and then every admin page that shows a conversation is written to the chat access log (SECURITY.md
line 22). Chat objects are named without their content (``__str__``), so pages that list related objects
cannot leak it either."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from . import profiles
from .models import ChatAccessLog, Conversation, ExpertProfile, ExpertProfileVersion, MessageFeedback, PromptTemplate


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ExpertProfileVersionInline(admin.TabularInline):
    model = ExpertProfileVersion
    fields = ("version", "created_at", "snapshot")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ExpertProfile)
class ExpertProfileAdmin(admin.ModelAdmin):
    list_display = ("name_en", "name_ko", "domain", "model", "reply_language", "version", "enabled")
    list_filter = ("domain", "enabled", "reply_language")
    search_fields = ("name_en", "name_ko", "slug")
    prepopulated_fields = {"slug": ("name_en",)}
    filter_horizontal = ("groups",)
    readonly_fields = ("version",)
    inlines = [ExpertProfileVersionInline]

    def save_model(self, request, obj, form, change):
        profiles.profile_save(profile=obj)


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ("title", "domain", "shared_with_everyone", "created_by", "updated_at")
    list_filter = ("domain", "shared_with_everyone")
    search_fields = ("title", "body")
    filter_horizontal = ("groups",)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(MessageFeedback)
class MessageFeedbackAdmin(ReadOnlyAdmin):
    """Ratings per profile and model; the comment is what the user chose to tell, not the chat."""

    list_display = ("created_at", "rating", "profile_name", "profile_version", "model_name", "comment")
    list_filter = ("rating", "profile_name", "model_name")
    fields = ("rating", "comment", "profile_name", "profile_version", "model_name", "created_at")
    readonly_fields = fields


@admin.register(ChatAccessLog)
class ChatAccessLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "admin", "conversation_owner", "conversation_id", "path")
    list_filter = ("admin",)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    """Users' conversations, read-only. Every page answers 404 unless ADMIN_CAN_READ_CHATS is on (read per
    request, so the setting never depends on import order), and every page that shows a conversation writes
    one access log entry per conversation shown."""

    list_display = ("id", "owner", "title", "updated_at")
    fields = ("owner", "title", "model", "profile", "transcript")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner")

    def has_module_permission(self, request):
        return settings.ADMIN_CAN_READ_CHATS and super().has_module_permission(request)

    def changelist_view(self, request, extra_context=None):
        _require_chat_reading()
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        if "cl" in context:
            _log_chat_access(request, context["cl"].result_list)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        _require_chat_reading()
        _log_chat_access(request, self._shown(request, object_id))
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        _require_chat_reading()
        _log_chat_access(request, self._shown(request, object_id))
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        _require_chat_reading()
        return super().history_view(request, object_id, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        _require_chat_reading()
        return super().add_view(request, form_url, extra_context)

    def _shown(self, request, object_id) -> list[Conversation]:
        conversation = self.get_object(request, unquote(object_id))  # None for ids that do not exist
        return [conversation] if conversation is not None else []

    @admin.display(description=_("transcript"))
    def transcript(self, obj):
        from .exports import conversation_markdown

        return conversation_markdown(obj)


def _require_chat_reading() -> None:
    if not settings.ADMIN_CAN_READ_CHATS:
        raise Http404("Reading users' chats in the admin is switched off (ADMIN_CAN_READ_CHATS).")


def _log_chat_access(request, conversations) -> None:
    ChatAccessLog.objects.bulk_create(
        ChatAccessLog(
            admin=request.user,
            conversation_id=conversation.pk,
            conversation_owner=conversation.owner.get_username(),
            path=request.path[:300],
        )
        for conversation in conversations
    )
    from apikeys import audit  # the site-wide audit log keeps it too, next to sign-ins and admin changes

    for conversation in conversations:
        audit.record(action="chat_access", actor=request.user, target=conversation, request=request)
