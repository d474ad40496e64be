from django.urls import path

from . import api, signed, views

app_name = "studio"
urlpatterns = [
    path("studio/", views.studio, name="studio"),
    path("studio/gallery/", views.gallery, name="gallery"),
    path("studio/images/<int:image_id>/file/", views.image_file, name="image-file"),
    path("studio/images/signed/<str:token>/", signed.image_signed, name="image-signed"),
    path("studio/api/generations/", api.GenerationListApi.as_view(), name="api-generations"),
    path("studio/api/generations/<int:generation_id>/", api.GenerationDetailApi.as_view(), name="api-generation"),
    path(
        "studio/api/generations/<int:generation_id>/cancel/",
        api.GenerationCancelApi.as_view(),
        name="api-generation-cancel",
    ),
    path("studio/api/rewrites/", api.RewriteApi.as_view(), name="api-rewrites"),
    path("studio/api/rewrites/<int:job_id>/", api.RewriteDetailApi.as_view(), name="api-rewrite"),
    path("studio/api/recall/", api.RecallUploadApi.as_view(), name="api-recall"),
    path("studio/api/images/", api.ImageListApi.as_view(), name="api-images"),
    path("studio/api/images/<int:image_id>/", api.ImageDetailApi.as_view(), name="api-image"),
    path("studio/api/boards/", api.BoardListApi.as_view(), name="api-boards"),
    path("studio/api/boards/<int:board_id>/", api.BoardDetailApi.as_view(), name="api-board"),
    path(
        "studio/api/boards/<int:board_id>/images/<int:image_id>/", api.BoardImageApi.as_view(), name="api-board-image"
    ),
]

# Refine and deliver (issue 11): variations, inpainting, upscaling, image to text, print export.
from .refine import urls as refine_urls  # noqa: E402

urlpatterns += refine_urls.urlpatterns
