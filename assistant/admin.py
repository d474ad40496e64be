"""Admins manage profiles, templates and feedback. Users' chats stay private unless ADMIN_CAN_READ_CHATS is
set, and then every opening of a conversation is written to the chat access log (SECURITY.md line 22)."""

from django.conf import settings
from django.contrib import admin

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


class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "title", "updated_at")
    fields = ("owner", "title", "model", "profile", "transcript")
    readonly_fields = fields

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = Conversation.objects.filter(pk=object_id).select_related("owner").first()
        if conversation is not None:
            ChatAccessLog.objects.create(
                admin=request.user,
                conversation_id=conversation.pk,
                conversation_owner=conversation.owner.get_username(),
                path=request.path[:300],
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="transcript")
    def transcript(self, obj):
        from .exports import conversation_markdown

        return conversation_markdown(obj)


if settings.ADMIN_CAN_READ_CHATS:
    admin.site.register(Conversation, ConversationAdmin)
