from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import resources, rest, v1, views

app_name = "apikeys"
urlpatterns = [
    path("settings/keys/", views.keys, name="keys"),
    path("settings/keys/<int:key_id>/revoke/", views.key_revoke, name="revoke"),
    path("metrics", views.prometheus, name="metrics"),
    path("api/jobs/", rest.JobListApi.as_view(), name="api-jobs"),
    path("api/jobs/<int:job_id>/", rest.JobDetailApi.as_view(), name="api-job"),
    path("api/jobs/<int:job_id>/cancel/", rest.JobCancelApi.as_view(), name="api-job-cancel"),
    path("api/collections/", resources.CollectionListApi.as_view(), name="api-collections"),
    path("api/collections/<int:collection_id>/", resources.CollectionDetailApi.as_view(), name="api-collection"),
    path(
        "api/collections/<int:collection_id>/documents/",
        resources.CollectionDocumentListApi.as_view(),
        name="api-collection-documents",
    ),
    path("api/documents/<int:document_id>/", resources.DocumentDetailApi.as_view(), name="api-document"),
    path("api/images/", resources.ImageListApi.as_view(), name="api-images"),
    path("api/images/<int:image_id>/", resources.ImageDetailApi.as_view(), name="api-image"),
    path("api/boards/", resources.BoardListApi.as_view(), name="api-boards"),
    path("api/boards/<int:board_id>/", resources.BoardDetailApi.as_view(), name="api-board"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="apikeys:schema"), name="docs"),
    path("v1/models", v1.models, name="v1-models"),
    path("v1/models/<path:model>", v1.model_detail, name="v1-model"),
    path("v1/chat/completions", v1.chat_completions, name="v1-chat-completions"),
    path("v1/images/generations", v1.images_generations, name="v1-images"),
    path("v1/embeddings", v1.embeddings, name="v1-embeddings"),
]
