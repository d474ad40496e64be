"use strict";
// Small helpers shared by every page. No inline scripts: the CSP forbids them.
(function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();

window.exaone = {
  csrfToken: function () {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  },
  api: async function (method, url, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": window.exaone.csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json().catch(function () { return null; });
    if (!response.ok) {
      const detail = (data && (data.detail || data.message)) || response.statusText;
      throw new Error(detail);
    }
    return data;
  },
};
