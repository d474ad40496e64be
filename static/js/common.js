"use strict";
// Small helpers shared by every page. No inline scripts: the CSP forbids them.
//
// For any page or app (the studio too), on window.exaone:
//   csrfToken()                        the CSRF cookie's value, for the X-CSRFToken header
//   api(method, url, body)             JSON fetch with the CSRF header; throws Error(detail) when not ok
//   announce(text)                     say `text` once to screen readers through the page's polite status
//                                      region (#announcer in base.html); for state changes ("Writing…",
//                                      "Done", an error), never for streamed text
//   focusable(container)               the visible, enabled elements in `container` that Tab can reach
//   trapFocus(container)               keep Tab and Shift+Tab inside `container`; returns a function that
//                                      releases it
//   fileDropZone(zone, options)        make `zone` accept files dropped on it and pasted into it:
//       options.onFiles(files)         called with an array of File objects (the same code path as a file
//                                      input's change event should call)
//       options.pasteTarget            where pasted files are taken (default: `zone`)
//       options.label                  text shown over the zone while a file is dragged over it (or the
//                                      zone's data-drop-label attribute); style: .drop-zone.is-dragging
//       options.textWins               default true: a paste that carries text as well as files (an office
//                                      app's cells come with a picture of them) stays a text paste
//     Returns { destroy() }. Keep a visible button (a <button> that clicks a hidden file input) next to
//     it: dragging is not a keyboard alternative.
// Page furniture set up here: the theme menu (js/theme.js keeps the choice), the small-screen menu drawer
// (#menu-button opens the <dialog id="app-drawer">, into which the page's [data-drawer-content] elements
// and the top bar's #site-controls move while it is open), selects that submit their form on change
// ([data-autosubmit]), and dropping a file outside any drop zone no longer replaces the page with it.
(function () {
  const FOCUSABLE = [
    "a[href]", "area[href]", "button:not([disabled])", "input:not([disabled]):not([type=hidden])",
    "select:not([disabled])", "textarea:not([disabled])", "summary", "[tabindex]:not([tabindex='-1'])",
  ].join(",");

  function focusable(container) {
    return Array.from(container.querySelectorAll(FOCUSABLE)).filter(function (node) {
      return node.getClientRects().length > 0 && !node.closest("[inert]");
    });
  }

  function trapFocus(container) {
    function onKeydown(ev) {
      if (ev.key !== "Tab") return;
      const items = focusable(container);
      if (!items.length) { ev.preventDefault(); return; }
      const first = items[0];
      const last = items[items.length - 1];
      const inside = container.contains(document.activeElement);
      if (ev.shiftKey && (!inside || document.activeElement === first)) {
        ev.preventDefault();
        last.focus();
      } else if (!ev.shiftKey && (!inside || document.activeElement === last)) {
        ev.preventDefault();
        first.focus();
      }
    }
    document.addEventListener("keydown", onKeydown, true);
    return function release() { document.removeEventListener("keydown", onKeydown, true); };
  }

  let announceTimer = null;
  function announce(text) {
    const region = document.getElementById("announcer");
    if (!region) return;
    // Emptied first, so the same words said twice in a row are read twice.
    region.textContent = "";
    clearTimeout(announceTimer);
    announceTimer = setTimeout(function () { region.textContent = text || ""; }, 60);
  }

  function hasFiles(dataTransfer) {
    return !!dataTransfer && Array.from(dataTransfer.types || []).indexOf("Files") >= 0;
  }

  function fileDropZone(zone, options) {
    const onFiles = options.onFiles;
    const pasteTarget = options.pasteTarget || zone;
    const textWins = options.textWins !== false;
    let depth = 0;   // dragenter/dragleave fire for every child the pointer crosses
    zone.classList.add("drop-zone");
    if (options.label) zone.dataset.dropLabel = options.label;

    function clear() { depth = 0; zone.classList.remove("is-dragging"); }
    function onEnter(ev) {
      if (!hasFiles(ev.dataTransfer)) return;
      ev.preventDefault();
      depth += 1;
      zone.classList.add("is-dragging");
    }
    function onOver(ev) {
      if (!hasFiles(ev.dataTransfer)) return;
      ev.preventDefault();
      ev.dataTransfer.dropEffect = "copy";
    }
    function onLeave(ev) {
      if (!hasFiles(ev.dataTransfer)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) zone.classList.remove("is-dragging");
    }
    function onDrop(ev) {
      if (!hasFiles(ev.dataTransfer)) return;
      ev.preventDefault();
      clear();
      const files = Array.from(ev.dataTransfer.files || []);
      if (files.length) onFiles(files);
    }
    function onPaste(ev) {
      const data = ev.clipboardData;
      const files = data ? Array.from(data.files || []) : [];
      if (!files.length) return;
      if (textWins && Array.from(data.types || []).indexOf("text/plain") >= 0) return;
      ev.preventDefault();
      onFiles(files);
    }
    zone.addEventListener("dragenter", onEnter);
    zone.addEventListener("dragover", onOver);
    zone.addEventListener("dragleave", onLeave);
    zone.addEventListener("drop", onDrop);
    pasteTarget.addEventListener("paste", onPaste);
    return {
      destroy: function () {
        zone.removeEventListener("dragenter", onEnter);
        zone.removeEventListener("dragover", onOver);
        zone.removeEventListener("dragleave", onLeave);
        zone.removeEventListener("drop", onDrop);
        pasteTarget.removeEventListener("paste", onPaste);
        clear();
        zone.classList.remove("drop-zone");
      },
    };
  }

  // A file dropped where no zone takes it would replace the page (and lose what was typed); file inputs
  // keep their own drop.
  ["dragover", "drop"].forEach(function (type) {
    window.addEventListener(type, function (ev) {
      if (ev.defaultPrevented || !hasFiles(ev.dataTransfer)) return;
      if (ev.target instanceof HTMLInputElement && ev.target.type === "file") return;
      ev.preventDefault();
      if (type === "dragover") ev.dataTransfer.dropEffect = "none";
    });
  });

  // ---- selects that submit their form -----------------------------------------------------------
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // ---- the theme menu (js/theme.js applies and keeps the choice) ----------------------------------
  (function () {
    const box = document.querySelector("[data-theme-switch]");
    const select = document.getElementById("theme-select");
    if (!box || !select || !window.exaoneTheme) return;
    select.value = window.exaoneTheme.current();
    box.hidden = false;
    select.addEventListener("change", function () { window.exaoneTheme.set(select.value); });
    window.addEventListener("storage", function (ev) {   // changed in another tab, or in the admin
      if (ev.key === "theme") select.value = window.exaoneTheme.current();
    });
  })();

  // ---- the menu drawer on small screens -----------------------------------------------------------
  (function () {
    const button = document.getElementById("menu-button");
    const dialog = document.getElementById("app-drawer");
    if (!button || !dialog || typeof dialog.showModal !== "function") return;
    const slot = dialog.querySelector("[data-drawer-slot]");
    const wide = window.matchMedia("(min-width: 761px)");
    let moved = [];
    let release = null;

    function open() {
      // The page's own part (the chat's conversations) first, then the top bar's links and settings.
      const parts = Array.from(document.querySelectorAll("[data-drawer-content]"));
      const site = document.getElementById("site-controls");
      if (site) parts.push(site);
      parts.forEach(function (node) {
        const mark = document.createComment("drawer");
        node.before(mark);
        moved.push([node, mark]);
        slot.append(node);
      });
      dialog.showModal();
      button.setAttribute("aria-expanded", "true");
      release = trapFocus(dialog);
      const current = slot.querySelector("[aria-current=page]");
      const first = current && focusable(slot).indexOf(current) >= 0 ? current : focusable(slot)[0];
      (first || dialog.querySelector("[data-drawer-close]")).focus();
    }

    dialog.addEventListener("close", function () {
      moved.forEach(function (pair) { pair[1].replaceWith(pair[0]); });
      moved = [];
      if (release) release();
      release = null;
      button.setAttribute("aria-expanded", "false");
      button.focus();
    });
    button.addEventListener("click", open);
    dialog.querySelector("[data-drawer-close]").addEventListener("click", function () { dialog.close(); });
    // A click on the backdrop lands on the <dialog> itself; the panel's content covers the rest of it.
    dialog.addEventListener("click", function (ev) { if (ev.target === dialog) dialog.close(); });
    wide.addEventListener("change", function () { if (wide.matches && dialog.open) dialog.close(); });
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
    announce: announce,
    focusable: focusable,
    trapFocus: trapFocus,
    fileDropZone: fileDropZone,
  };
})();
