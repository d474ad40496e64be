"use strict";
// The chat composer's document picker: which collection this conversation searches besides its profile's
// (knowledge/views.py conversation_collection). Hidden until the list has loaded.
(function () {
  const select = document.getElementById("knowledge-select");
  if (!select) return;
  const url = select.dataset.url;

  function fill(data) {
    select.querySelectorAll("option[data-id]").forEach(function (o) { o.remove(); });
    data.collections.forEach(function (c) {
      const option = document.createElement("option");
      option.value = String(c.id);
      option.dataset.id = String(c.id);
      option.textContent = c.name;
      select.append(option);
    });
    select.value = data.collection_id ? String(data.collection_id) : "";
    select.hidden = data.collections.length === 0;
  }

  fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
    if (data) fill(data);
  });

  select.addEventListener("change", async function () {
    const body = new URLSearchParams({ collection_id: select.value });
    const response = await fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": window.exaone.csrfToken() },
    });
    if (response.ok) {
      fill(await response.json());
      window.exaone.announce(select.value ? gettext("Answers will search the chosen documents.") : gettext("Answers will not search documents."));
    } else {
      window.exaone.announce(gettext("The documents could not be chosen. Reload the page and try again."));
    }
  });
})();
