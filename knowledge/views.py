"""Pages and small JSON endpoints of the knowledge base. Every object is looked up through the selectors,
so another user's collection or document is a 404 on every verb."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from assistant import selectors as chat_selectors

from . import retrieval, selectors, services
from .publisher import document_payload

PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    """Views below are login_required: the user is signed in."""
    return cast(User, request.user)


@login_required
def collection_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            collection = services.collection_create(
                owner=_user(request), name=request.POST.get("name", ""), description=request.POST.get("description", "")
            )
        except services.KnowledgeError as exc:
            messages.error(request, exc.message)
            return redirect("knowledge:collections")
        return redirect("knowledge:collection", collection.pk)
    page = Paginator(selectors.collection_list(user=_user(request)), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "knowledge/collections.html", {"page": page})


@login_required
def collection_detail(request: HttpRequest, collection_id: int) -> HttpResponse:
    collection = selectors.collection_get(user=_user(request), collection_id=collection_id)
    documents = Paginator(selectors.document_list(collection=collection), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "knowledge/collection.html",
        {
            "collection": collection,
            "documents": documents,
            "is_owner": collection.owner_id == _user(request).pk,
            "max_mb": settings.KNOWLEDGE_MAX_UPLOAD_BYTES // (1024 * 1024),
            "accept": ",".join("." + ext for ext in services.ALLOWED_EXTENSIONS),
        },
    )


@login_required
@require_POST
def document_upload(request: HttpRequest, collection_id: int) -> HttpResponse:
    collection = selectors.collection_get_owned(user=_user(request), collection_id=collection_id)
    files = request.FILES.getlist("files")
    if not files:
        return JsonResponse({"detail": _("Choose at least one file to upload.")}, status=400)
    if len(files) > settings.KNOWLEDGE_MAX_FILES_PER_UPLOAD:
        return JsonResponse(
            {
                "detail": _("Upload at most %(limit)d files at once.")
                % {"limit": settings.KNOWLEDGE_MAX_FILES_PER_UPLOAD}
            },
            status=400,
        )
    created, errors = [], []
    for upload in files:
        try:
            created.append(
                document_payload(services.document_upload(user=_user(request), collection=collection, upload=upload))
            )
        except services.KnowledgeError as exc:
            errors.append(exc.message)
    status = 201 if created else 400
    return JsonResponse({"documents": created, "errors": errors, "detail": " ".join(errors)}, status=status)


@login_required
@require_GET
def document_status(request: HttpRequest, collection_id: int) -> HttpResponse:
    collection = selectors.collection_get(user=_user(request), collection_id=collection_id)
    documents = selectors.document_list(collection=collection)[:PAGE_SIZE]
    return JsonResponse({"documents": [document_payload(d) for d in documents]})


@login_required
@require_POST
def document_delete(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get(user=_user(request), document_id=document_id)
    if document.collection.owner_id != _user(request).pk:
        raise Http404
    collection_id = document.collection_id
    services.document_delete(document=document)
    return redirect("knowledge:collection", collection_id)


@login_required
@require_POST
def document_cancel(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get(user=_user(request), document_id=document_id)
    if document.collection.owner_id != _user(request).pk:
        raise Http404
    services.document_cancel(document=document)
    return redirect("knowledge:collection", document.collection_id)


@login_required
@require_POST
def collection_delete(request: HttpRequest, collection_id: int) -> HttpResponse:
    collection = selectors.collection_get_owned(user=_user(request), collection_id=collection_id)
    services.collection_delete(collection=collection)
    return redirect("knowledge:collections")


@login_required
@require_GET
def document_file(request: HttpRequest, document_id: int) -> FileResponse:
    """The stored file, to readers of its collection only; never rendered by the browser as HTML."""
    document = selectors.document_get(user=_user(request), document_id=document_id)
    try:
        handle = document.file.open("rb")
    except OSError:
        raise Http404 from None
    inline = document.mime == "application/pdf"
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=document.filename,
        content_type="application/pdf" if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@login_required
@require_GET
def collection_search(request: HttpRequest, collection_id: int) -> HttpResponse:
    """Search one readable collection (the page's search box and the API): passages with their pages."""
    collection = selectors.collection_get(user=_user(request), collection_id=collection_id)
    query = (request.GET.get("q") or "").strip()[:1000]
    if not query:
        return JsonResponse({"results": []})
    hits = retrieval.search([query], collection_ids=[collection.pk])
    return JsonResponse(
        {
            "results": [
                {
                    "document_id": hit.chunk.document_id,
                    "filename": hit.chunk.document.filename,
                    "page": hit.chunk.page,
                    "text": hit.chunk.text[: settings.KNOWLEDGE_PASSAGE_MAX_CHARS],
                    "score": round(hit.score, 5),
                }
                for hit in hits
                if hit.chunk is not None
            ]
        }
    )


@login_required
def conversation_collection(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """GET: the readable collections and this conversation's choice; POST {collection_id|null}: choose."""
    conversation = chat_selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
    if request.method == "POST":
        raw = request.POST.get("collection_id", "")
        try:
            services.conversation_collection_set(
                user=_user(request), conversation=conversation, collection_id=int(raw) if raw else None
            )
        except ValueError:
            return JsonResponse({"detail": _("collection_id must be a collection's number.")}, status=400)
    choice = getattr(conversation, "knowledge_choice", None) if hasattr(conversation, "knowledge_choice") else None
    readable = selectors.collection_readable(user=_user(request)).order_by("name", "id")[:PAGE_SIZE]
    return JsonResponse(
        {
            "collection_id": choice.collection_id if choice is not None else None,
            "collections": [{"id": c.pk, "name": c.name} for c in readable],
        }
    )
