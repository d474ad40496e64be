from django.urls import path

from . import api, views

urlpatterns = [
    path("studio/refine/<int:image_id>/", views.refine_page, name="refine"),
    path("studio/refine/exports/<int:job_id>/<str:kind>/", views.export_file, name="refine-export-file"),
    path("studio/api/refine/images/<int:image_id>/refine/", api.RefineApi.as_view(), name="refine-api-refine"),
    path("studio/api/refine/images/<int:image_id>/describe/", api.DescribeApi.as_view(), name="refine-api-describe"),
    path("studio/api/refine/images/<int:image_id>/export/", api.ExportApi.as_view(), name="refine-api-export"),
    path(
        "studio/api/refine/images/<int:image_id>/print-preview/",
        api.PrintPreviewApi.as_view(),
        name="refine-api-preview",
    ),
    path("studio/api/refine/uploads/", api.UploadApi.as_view(), name="refine-api-upload"),
    path("studio/api/refine/jobs/<int:job_id>/", api.JobApi.as_view(), name="refine-api-job"),
    path("studio/api/refine/jobs/<int:job_id>/cancel/", api.JobCancelApi.as_view(), name="refine-api-job-cancel"),
]
