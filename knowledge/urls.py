from django.urls import path

from . import views

app_name = "knowledge"

urlpatterns = [
    path("", views.collection_list, name="collections"),
    path("<int:collection_id>/", views.collection_detail, name="collection"),
    path("<int:collection_id>/upload", views.document_upload, name="upload"),
    path("<int:collection_id>/documents.json", views.document_status, name="document-status"),
    path("<int:collection_id>/search", views.collection_search, name="search"),
    path("<int:collection_id>/delete", views.collection_delete, name="collection-delete"),
    path("documents/<int:document_id>/file", views.document_file, name="document-file"),
    path("documents/<int:document_id>/delete", views.document_delete, name="document-delete"),
    path("documents/<int:document_id>/cancel", views.document_cancel, name="document-cancel"),
    path(
        "conversations/<int:conversation_id>/collection", views.conversation_collection, name="conversation-collection"
    ),
]
