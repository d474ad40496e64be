"use strict";
// The collection page: upload by button or drop (window.exaone.fileDropZone), live status over the socket
// (docs/protocol.md, "Knowledge events"), with the page reloading its rows when a document changes.
(function () {
  const root = document.getElementById("knowledge-collection");
  if (!root) return;
  const status = document.getElementById("upload-status");
  const input = document.getElementById("upload-input");
  const button = document.getElementById("upload-button");
  const zone = document.getElementById("upload-zone");

  async function upload(files) {
    if (!files.length) return;
    const form = new FormData();
    files.forEach(function (file) { form.append("files", file); });
    status.textContent = gettext("Uploading…");
    const response = await fetch(root.dataset.uploadUrl, {
      method: "POST", body: form, credentials: "same-origin",
      headers: { "X-CSRFToken": window.exaone.csrfToken() },
    });
    const data = await response.json().catch(function () { return null; });
    if (!response.ok || (data && data.errors && data.errors.length)) {
      status.textContent = (data && data.detail) || gettext("The upload failed. Try again.");
    } else {
      status.textContent = gettext("Uploaded. Reading the documents…");
    }
    window.location.reload();
  }

  if (zone && input && button) {
    button.addEventListener("click", function () { input.click(); });
    input.addEventListener("change", function () { upload(Array.from(input.files || [])); });
    window.exaone.fileDropZone(zone, { onFiles: upload });
  }

  function rowFor(id) { return root.querySelector('tr[data-document-id="' + id + '"]'); }

  const FINAL = ["ready", "failed", "cancelled"];

  // A document may finish between this page's render and the socket's subscription (or while the socket
  // was away): on every (re)connect the rows are compared with the server's state once.
  async function resync() {
    const pending = Array.from(root.querySelectorAll("tr[data-document-id]")).filter(function (row) {
      return !FINAL.includes(row.dataset.status);
    });
    if (!pending.length) return;
    const response = await fetch("/api/collections/" + root.dataset.collectionId + "/documents/?limit=500", {
      credentials: "same-origin", headers: { Accept: "application/json" },
    }).catch(function () { return null; });
    if (!response || !response.ok) return;
    const data = await response.json();
    const status = {};
    (data.results || data).forEach(function (doc) { status[doc.id] = doc.status; });
    if (pending.some(function (row) { return status[row.dataset.documentId] !== row.dataset.status; })) {
      window.location.reload();
    }
  }

  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  let retry = 1000;
  function connect() {
    const socket = new WebSocket(scheme + window.location.host + "/ws/knowledge/" + root.dataset.collectionId + "/");
    socket.addEventListener("open", function () { retry = 1000; resync(); });
    socket.addEventListener("close", function (ev) {
      if (ev.code === 4404 || ev.code === 4401) return;  // gone, not ours or signed out: nothing to wait for
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
    socket.addEventListener("message", onEvent);
  }

  function onEvent(ev) {
    const event = JSON.parse(ev.data);
    if (event.type === "document.progress") {
      const row = rowFor(event.document_id);
      if (row) {
        const cell = row.querySelector(".document-status");
        cell.textContent = interpolate(gettext("%s: %s of %s"), [
          event.stage === "embedding" ? gettext("Embedding") : gettext("Reading"), event.done, event.total,
        ]);
      }
    } else if (event.type === "document.updated" || event.type === "document.deleted") {
      const row = event.document ? rowFor(event.document.id) : rowFor(event.document_id);
      if (!row || event.type === "document.deleted" || FINAL.includes(event.document.status)) {
        window.exaone.announce(gettext("A document changed."));
        window.location.reload();
      }
    }
  }

  connect();
})();
