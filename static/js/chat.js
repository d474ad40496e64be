"use strict";
// The chat page: the message tree, streaming over the websocket, branches, edits, attachments.
// Text from users and models is set with textContent; only server-rendered, sanitised HTML
// (content_html) is put into the page as HTML.
(function () {
  const app = document.getElementById("chat-app");
  if (!app) return;
  const gettext = window.gettext || function (s) { return s; };
  const interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (_, k) { return obj[k]; });
  };
  const $ = function (id) { return document.getElementById(id); };
  const messagesEl = $("messages");
  const statusEl = $("status-line");
  const input = $("composer-input");
  const stopButton = $("stop-button");
  const chatUrl = app.dataset.chatUrl;

  let conversationId = app.dataset.conversationId ? Number(app.dataset.conversationId) : null;
  let socket = null;
  let retries = 0;
  let pending = null;                 // a frame waiting for the socket to open
  let currentLeaf = null;
  let attachments = [];               // uploaded tables waiting to be sent
  let templates = [];
  let hasMore = false;                // older messages of the branch exist on the server
  let nextBefore = null;              // cursor for them
  let reloading = null;               // a reload in flight; socket events wait for it
  let buffered = [];                  // events that arrived during the reload
  let lastSent = null;                // the last frame sent, put back in the composer if refused
  const messages = new Map();         // id -> message payload
  const versions = new Map();         // parent id + role -> sorted sibling ids (the ‹ n / m › switch)
  const lastSeq = new Map();          // id -> last applied sequence number
  const active = new Set();           // replies still being written

  function api(method, path, body) { return window.exaone.api(method, path, body); }
  function conversationPath(suffix) { return "/api/conversations/" + conversationId + "/" + (suffix || ""); }

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", !!isError);
  }

  // ---- the tree -------------------------------------------------------------------------------
  function versionKey(message) { return String(message.parent_id) + ":" + message.role; }

  function noteVersions(message) {
    const key = versionKey(message);
    const ids = new Set(versions.get(key) || []);
    (message.siblings || [message.id]).forEach(function (id) { ids.add(id); });
    ids.add(message.id);
    versions.set(key, Array.from(ids).sort(function (a, b) { return a - b; }));
  }

  function activePath() {
    let leaf = currentLeaf !== null && messages.has(currentLeaf) ? messages.get(currentLeaf) : null;
    if (!leaf) {
      messages.forEach(function (m) { if (!leaf || m.id > leaf.id) leaf = m; });
    }
    const path = [];
    while (leaf) {
      path.unshift(leaf);
      leaf = leaf.parent_id !== null ? messages.get(leaf.parent_id) : null;
    }
    return path;
  }

  // ---- rendering ------------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(label, className, onClick, title) {
    const b = el("button", className || "link-button", label);
    b.type = "button";
    if (title) { b.title = title; b.setAttribute("aria-label", title); }
    b.addEventListener("click", onClick);
    return b;
  }

  function usageLine(message) {
    const parts = [];
    const u = message.usage || {};
    const tm = message.timings || {};
    if (u.completion_tokens != null) parts.push(interpolate(gettext("%(n)s tokens"), { n: u.completion_tokens }, true));
    if (tm.tokens_per_s != null) parts.push(interpolate(gettext("%(r)s tokens/s"), { r: tm.tokens_per_s.toFixed(1) }, true));
    if (tm.ttft_ms != null) parts.push(interpolate(gettext("first token %(ms)s ms"), { ms: Math.round(tm.ttft_ms) }, true));
    if (message.model) parts.push(message.model);
    if (message.profile) parts.push((document.documentElement.lang === "ko" ? message.profile.name_ko : message.profile.name_en) + " v" + message.profile.version);
    return parts.join(" · ");
  }

  function statusLabel(status) {
    return {
      queued: gettext("Waiting for the model…"),
      streaming: gettext("Writing…"),
      stopped: gettext("Stopped"),
      failed: gettext("Failed"),
    }[status] || "";
  }

  function renderTable(table) {
    const wrap = el("div", "table-wrap");
    const t = el("table", "data-table");
    const head = el("tr");
    (table.columns || []).forEach(function (c) { head.append(el("th", "", c)); });
    const thead = el("thead");
    thead.append(head);
    t.append(thead);
    const body = el("tbody");
    (table.rows || []).slice(0, 20).forEach(function (row) {
      const tr = el("tr");
      row.forEach(function (cell) { tr.append(el("td", "", cell)); });
      body.append(tr);
    });
    t.append(body);
    wrap.append(t);
    if ((table.total_rows || 0) > 20) {
      wrap.append(el("p", "muted small", interpolate(gettext("Showing 20 of %(n)s rows"), { n: table.total_rows }, true)));
    }
    return wrap;
  }

  function siblingNav(message) {
    const siblings = versions.get(versionKey(message)) || [message.id];
    if (siblings.length < 2) return null;
    const index = siblings.indexOf(message.id);
    const nav = el("span", "siblings");
    const prev = button("‹", "link-button", function () { selectBranch(siblings[index - 1]); }, gettext("Previous version"));
    const next = button("›", "link-button", function () { selectBranch(siblings[index + 1]); }, gettext("Next version"));
    prev.disabled = index === 0;
    next.disabled = index === siblings.length - 1;
    nav.append(prev, el("span", "count", (index + 1) + " / " + siblings.length), next);
    return nav;
  }

  // The passages a grounded answer was given, numbered as its citations [1], [2] (knowledge base).
  function renderEvidence(sources) {
    const details = el("details", "evidence");
    details.append(el("summary", "", interpolate(gettext("Sources (%(n)s)"), { n: sources.length }, true)));
    const list = el("ol", "evidence-list");
    sources.forEach(function (source) {
      const item = el("li", "evidence-item");
      item.value = source.n;
      const link = el("a", "", interpolate(gettext("%(name)s, page %(page)s"), { name: source.filename, page: source.page }, true));
      link.href = source.url;
      link.target = "_blank";
      link.rel = "noopener";
      item.append(el("span", "evidence-number", "[" + source.n + "] "), link);
      item.append(el("blockquote", "evidence-text", source.text));
      list.append(item);
    });
    details.append(list);
    return details;
  }

  function renderMessage(message) {
    const node = el("article", "message " + message.role);
    node.dataset.messageId = String(message.id);
    node.dataset.status = message.status;
    (message.attachments || []).forEach(function (a) {
      const box = el("div", "attachment");
      box.append(el("div", "attachment-name", a.name));
      box.append(renderTable(a.table));
      node.append(box);
    });
    if (message.reasoning) {
      const details = el("details", "reasoning");
      details.append(el("summary", "", gettext("Reasoning")));
      details.append(el("div", "reasoning-body", message.reasoning));
      node.append(details);
    }
    const body = el("div", "body");
    if (message.content_html) {
      body.classList.add("rendered");
      body.innerHTML = message.content_html;   // sanitised on the server (assistant/rendering.py)
      // Stored HTML carries the reply's language; the page's own labels are in the page's language.
      body.querySelectorAll("[data-copy]").forEach(function (b) { b.textContent = gettext("Copy"); });
      body.querySelectorAll(".link-host").forEach(function (h) {
        h.title = gettext("This link leads outside this app, to the site shown.");
      });
    } else {
      body.textContent = message.content;
    }
    node.append(body);
    if (message.evidence && message.evidence.length) node.append(renderEvidence(message.evidence));
    const meta = el("div", "meta");
    let label = statusLabel(message.status);
    if (message.status === "queued" && message.queue_position > 0) {
      label = interpolate(gettext("Waiting for the model… %(n)s ahead"), { n: message.queue_position }, true);
    }
    const info = [label, message.error, message.role === "assistant" && message.status !== "queued" ? usageLine(message) : ""]
      .filter(Boolean).join(" — ");
    meta.append(el("span", "info", info));
    const nav = siblingNav(message);
    const actions = el("span", "actions");
    if (nav) actions.append(nav);
    const busy = message.status === "queued" || message.status === "streaming";
    if (busy) node.setAttribute("aria-busy", "true");   // being written: assistive tech reads it once done
    if (message.role === "user" && !busy) {
      actions.append(button(gettext("Edit"), "link-button", function () { startEdit(node, message); }));
    }
    if (message.role === "assistant" && !busy) {
      actions.append(button(gettext("Copy"), "link-button", function () { copyText(message.content); }));
      const again = message.status === "failed" ? gettext("Retry") : gettext("Regenerate");
      actions.append(button(again, "link-button", function () { sendFrame({ type: "message.regenerate", message_id: message.id }); }));
      if (message.status === "stopped" && message.content) {
        actions.append(button(gettext("Continue"), "link-button", function () { sendFrame({ type: "message.continue", message_id: message.id }); }));
      }
      const rating = message.feedback ? message.feedback.rating : 0;
      const up = button(gettext("Helpful"), "link-button feedback" + (rating === 1 ? " chosen" : ""), function () { rate(message, 1); });
      const down = button(gettext("Not helpful"), "link-button feedback" + (rating === -1 ? " chosen" : ""), function () { rate(message, -1); });
      up.setAttribute("aria-pressed", String(rating === 1));
      down.setAttribute("aria-pressed", String(rating === -1));
      actions.append(up, down);
    }
    meta.append(actions);
    node.append(meta);
    return node;
  }

  function renderAll() {
    const keepScroll = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 40;
    const focused = rememberFocus();
    messagesEl.replaceChildren();
    if (hasMore) {
      messagesEl.append(button(gettext("Show earlier messages"), "secondary small load-earlier", loadEarlier));
    }
    activePath().forEach(function (m) { messagesEl.append(renderMessage(m)); });
    active.clear();
    messages.forEach(function (m) { if (m.status === "queued" || m.status === "streaming") active.add(m.id); });
    stopButton.hidden = active.size === 0;
    if (keepScroll) scrollDown();
    restoreFocus(focused);
  }

  // The list is rebuilt on every change: a keyboard user's focus goes back to the same control (the
  // same label in the same message, or in the version of it now shown), else to the list itself.
  function rememberFocus() {
    const node = document.activeElement;
    if (!node || node === messagesEl || !messagesEl.contains(node)) return null;
    const article = node.closest("article.message");
    const message = article ? messages.get(Number(article.dataset.messageId)) : null;
    return {
      key: message ? versionKey(message) : null,
      label: node.getAttribute("aria-label") || node.textContent,
    };
  }

  function restoreFocus(focused) {
    if (!focused || messagesEl.contains(document.activeElement)) return;
    const article = focused.key === null ? null : Array.from(messagesEl.querySelectorAll("article.message")).find(
      function (a) { const m = messages.get(Number(a.dataset.messageId)); return m && versionKey(m) === focused.key; });
    const controls = article ? Array.from(article.querySelectorAll("button:not([disabled])")) : [];
    const same = controls.find(function (b) { return (b.getAttribute("aria-label") || b.textContent) === focused.label; });
    (same || controls[0] || messagesEl).focus();
  }

  function scrollDown() { messagesEl.scrollTop = messagesEl.scrollHeight; }

  function put(message) {
    noteVersions(message);
    messages.set(message.id, message);
    if (message.status === "queued" || message.status === "streaming") active.add(message.id);
    else active.delete(message.id);
  }

  function appendDelta(event) {
    const seen = lastSeq.get(event.message_id) || 0;
    if (event.seq <= seen) return;            // already in the snapshot: never doubled
    const message = messages.get(event.message_id);
    if (!message || (message.status !== "queued" && message.status !== "streaming")) return;  // ended already
    lastSeq.set(event.message_id, event.seq);
    message.content += event.text;
    message.reasoning = (message.reasoning || "") + (event.reasoning || "");
    message.status = "streaming";
    const node = messagesEl.querySelector('article[data-message-id="' + event.message_id + '"]');
    if (!node || (event.reasoning && !node.querySelector(".reasoning"))) { renderAll(); return; }
    node.dataset.status = "streaming";
    node.querySelector(".body").textContent = message.content;
    if (event.reasoning) node.querySelector(".reasoning-body").textContent = message.reasoning;
    node.querySelector(".meta .info").textContent = statusLabel("streaming");
    stopButton.hidden = false;
    scrollDown();
  }

  // ---- events from the server -----------------------------------------------------------------
  function onEvent(event) {
    if (reloading) { buffered.push(event); return; }
    switch (event.type) {
      case "message.created":
        if (event.message.role === "user") lastSent = null;
        put(event.message);
        lastSeq.set(event.message.id, 0);
        if (event.message.role === "assistant") currentLeaf = event.message.id;
        renderAll();
        scrollDown();
        break;
      case "message.snapshot":
        lastSeq.set(event.message.id, event.seq);
        put(event.message);
        renderAll();
        break;
      case "message.started":
        lastSeq.set(event.message_id, 0);
        setStatus("");
        window.exaone.announce(gettext("Writing…"));
        break;
      case "message.delta":
        appendDelta(event);
        break;
      case "message.done":
        lastSeq.set(event.message_id, event.seq);
        put(event.message);
        renderAll();
        announceEnd(event.message);
        break;
      case "conversation.updated":
        updateTitle(event.conversation.title);
        break;
      case "resync":
        // The server lost events during an outage: reload, then apply what arrives meanwhile.
        reload();
        break;
      case "error":
        setStatus(event.message, true);
        if (lastSent && lastSent.type === "message.send" && !lastSent.edit_of && !input.value) {
          input.value = lastSent.content;   // nothing typed is lost
        }
        lastSent = null;
        break;
      default:
        break;
    }
  }

  // Screen readers hear how a reply ended, not its tokens (#messages is not a live region).
  function announceEnd(message) {
    if (message.role !== "assistant") return;
    if (message.status === "done") window.exaone.announce(gettext("Reply finished."));
    else if (message.status === "stopped") window.exaone.announce(gettext("Reply stopped."));
    else if (message.status === "failed") {
      window.exaone.announce(interpolate(gettext("Reply failed: %(error)s"), { error: message.error || "" }, true));
    }
  }

  function updateTitle(title) {
    const heading = $("conversation-title");
    if (heading) heading.textContent = title;
    const link = document.querySelector('#conversation-list a[data-id="' + conversationId + '"]');
    if (link) link.textContent = title;
    document.title = title + " · EXAONE Web";
  }

  // ---- loading and the socket -----------------------------------------------------------------
  async function loadMessages() {
    const data = await api("GET", conversationPath("messages/"));
    messages.clear();
    versions.clear();
    data.results.forEach(put);
    currentLeaf = data.current_leaf_id;
    hasMore = data.has_more;
    nextBefore = data.next_before;
    renderAll();
    scrollDown();
  }

  async function loadEarlier() {
    if (!nextBefore) return;
    try {
      const data = await api("GET", conversationPath("messages/?before=" + nextBefore));
      data.results.forEach(put);
      hasMore = data.has_more;
      nextBefore = data.next_before;
      const height = messagesEl.scrollHeight;
      renderAll();
      messagesEl.scrollTop = messagesEl.scrollHeight - height;   // keep the reader where they were
    } catch (err) { setStatus(err.message, true); }
  }

  function reload() {
    if (reloading) return reloading;
    reloading = loadMessages().catch(function (err) { setStatus(err.message, true); }).then(function () {
      reloading = null;
      const waiting = buffered;
      buffered = [];
      waiting.forEach(onEvent);
    });
    return reloading;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/chat/" + conversationId + "/");
    socket.addEventListener("open", function () {
      retries = 0;
      setStatus("");
      if (pending !== null) { socket.send(JSON.stringify(pending)); pending = null; }
    });
    socket.addEventListener("message", function (msg) {
      try { onEvent(JSON.parse(msg.data)); } catch (err) { console.error(err); }
    });
    socket.addEventListener("close", function (ev) {
      if (ev.code === 4401 || ev.code === 4404 || ev.code === 1000) {
        if (ev.code === 4404) setStatus(gettext("This conversation does not exist."), true);
        return;
      }
      // Generation goes on on the server; reconnect and pick up the text so far.
      const delay = Math.min(10000, 500 * Math.pow(2, retries++));
      setStatus(gettext("Connection lost. Reconnecting…"), true);
      setTimeout(function () { loadMessages().then(connect).catch(function () { setTimeout(connect, delay); }); }, delay);
    });
  }

  function sendFrame(frame) {
    setStatus("");
    lastSent = frame;
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    else pending = frame;
  }

  // ---- actions --------------------------------------------------------------------------------
  async function createConversation() {
    const conversation = await api("POST", "/api/conversations/", {
      model: $("model-select").value || "",
      profile: $("profile-select").value || "",
    });
    return conversation.id;
  }

  async function send() {
    const content = input.value;
    if (!content.trim()) { setStatus(gettext("Type a message first."), true); return; }
    const frame = { type: "message.send", content: content, attachments: attachments.map(function (a) { return a.id; }) };
    input.value = "";
    attachments = [];
    renderChips();
    if (conversationId === null) {
      try { conversationId = await createConversation(); } catch (err) { input.value = content; setStatus(err.message, true); return; }
      // The first message travels to the new conversation's page in this tab's session storage.
      sessionStorage.setItem("exaone.pending." + conversationId, JSON.stringify(frame));
      location.assign(chatUrl + conversationId + "/");
      return;
    }
    sendFrame(frame);
  }

  function startEdit(node, message) {
    const body = node.querySelector(".body");
    const editor = el("textarea", "edit-box");
    editor.value = message.content;
    editor.rows = Math.min(10, message.content.split("\n").length + 1);
    const save = button(gettext("Save and send"), "primary small", function () {
      if (!editor.value.trim()) { setStatus(gettext("Type a message first."), true); return; }
      sendFrame({ type: "message.send", content: editor.value, edit_of: message.id });
    });
    const cancel = button(gettext("Cancel"), "secondary small", renderAll);
    const box = el("div", "edit-actions");
    box.append(save, cancel);
    body.replaceWith(editor);
    editor.after(box);
    editor.focus();
  }

  async function selectBranch(messageId) {
    try {
      await api("POST", conversationPath("branch/"), { message_id: messageId });
      await reload();   // the other branch's messages may not be loaded yet
    } catch (err) { setStatus(err.message, true); }
  }

  async function rate(message, rating) {
    let comment = "";
    if (rating === -1) comment = window.prompt(gettext("What was wrong? (optional)")) || "";
    try {
      const data = await api("PUT", conversationPath("messages/" + message.id + "/feedback/"), { rating: rating, comment: comment });
      message.feedback = data;
      renderAll();
      setStatus(gettext("Thank you for the feedback."));
    } catch (err) { setStatus(err.message, true); }
  }

  function copyText(text) {
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(function () { setStatus(gettext("Copied.")); });
  }

  // Copy buttons inside rendered code blocks.
  messagesEl.addEventListener("click", function (ev) {
    const target = ev.target.closest("[data-copy]");
    if (!target) return;
    const code = target.closest(".code-block").querySelector("code");
    if (code) copyText(code.textContent);
  });

  // ---- attachments ----------------------------------------------------------------------------
  function renderChips() {
    const chips = $("attachment-chips");
    chips.replaceChildren();
    attachments.forEach(function (a, i) {
      const chip = el("span", "chip", a.name + " ");
      const label = interpolate(gettext("Remove %(name)s"), { name: a.name }, true);
      chip.append(button("×", "link-button", function () { attachments.splice(i, 1); renderChips(); input.focus(); }, label));
      chips.append(chip);
    });
  }

  // One path for the Attach button, a dropped file and a pasted file: the server reads the file and says
  // what is wrong with it, in the user's language. Files go one at a time; the first refusal stops the rest.
  async function attachFiles(files) {
    if (conversationId === null) {
      try { conversationId = await createConversation(); history.replaceState({}, "", chatUrl + conversationId + "/"); connect(); }
      catch (err) { setStatus(err.message, true); return; }
    }
    for (const file of files) {
      const form = new FormData();
      form.append("file", file);
      setStatus(gettext("Uploading…"));
      const response = await fetch(conversationPath("attachments/"), {
        method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRFToken": window.exaone.csrfToken() },
      }).catch(function () { return null; });
      if (!response) { setStatus(gettext("The upload failed. Check the connection and try again."), true); return; }
      const data = await response.json().catch(function () { return {}; });
      if (!response.ok) { setStatus(data.detail || response.statusText, true); return; }
      attachments.push(data);
      renderChips();
      window.exaone.announce(interpolate(gettext("Attached %(name)s."), { name: data.name }, true));
    }
    setStatus("");
  }

  $("attach-button").addEventListener("click", function () { $("attach-input").click(); });
  $("attach-input").addEventListener("change", function (ev) {
    const files = Array.from(ev.target.files || []);
    ev.target.value = "";
    if (files.length) attachFiles(files);
  });
  window.exaone.fileDropZone(document.querySelector(".chat-pane"), { onFiles: attachFiles, pasteTarget: $("composer") });

  // ---- prompt templates -----------------------------------------------------------------------
  async function loadTemplates() {
    try { templates = (await api("GET", "/api/templates/")).results; } catch (err) { return; }
    const select = $("template-select");
    templates.forEach(function (tpl) {
      const option = el("option", "", tpl.title);
      option.value = String(tpl.id);
      select.append(option);
    });
  }

  $("template-select").addEventListener("change", function (ev) {
    const tpl = templates.find(function (x) { return String(x.id) === ev.target.value; });
    ev.target.value = "";
    const form = $("template-form");
    form.replaceChildren();
    if (!tpl) { form.hidden = true; return; }
    if (!tpl.variables.length) { input.value = tpl.body; input.focus(); form.hidden = true; return; }
    const fields = {};
    tpl.variables.forEach(function (name) {
      const label = el("label", "", name);
      const field = el("input");
      field.type = "text";
      field.name = name;
      label.append(field);
      fields[name] = field;
      form.append(label);
    });
    form.append(button(gettext("Insert"), "primary small", function () {
      const missing = tpl.variables.filter(function (n) { return !fields[n].value.trim(); });
      if (missing.length) { setStatus(interpolate(gettext("Fill in: %(names)s"), { names: missing.join(", ") }, true), true); return; }
      input.value = tpl.body.replace(/\{\{\s*([^}\s]+)\s*\}\}/g, function (_, n) { return fields[n] ? fields[n].value : ""; });
      form.hidden = true;
      input.focus();
    }));
    form.hidden = false;
    form.querySelector("input").focus();   // keyboard users land on the first blank to fill
  });

  // ---- conversation tools ---------------------------------------------------------------------
  function on(id, event, handler) { const node = $(id); if (node) node.addEventListener(event, handler); }

  on("thinking-toggle", "change", function (ev) {
    api("PATCH", conversationPath(), { enable_thinking: ev.target.checked }).catch(function (err) { setStatus(err.message, true); });
  });
  on("rename-button", "click", async function () {
    const title = window.prompt(gettext("New title"), $("conversation-title").textContent);
    if (!title || !title.trim()) return;
    try { updateTitle((await api("PATCH", conversationPath(), { title: title })).title); } catch (err) { setStatus(err.message, true); }
  });
  on("pin-button", "click", async function (ev) {
    const pinned = ev.target.getAttribute("aria-pressed") !== "true";
    try {
      await api("PATCH", conversationPath(), { pinned: pinned });
      ev.target.setAttribute("aria-pressed", String(pinned));
      ev.target.textContent = pinned ? gettext("Unpin") : gettext("Pin");
    } catch (err) { setStatus(err.message, true); }
  });
  on("delete-button", "click", async function () {
    if (!window.confirm(gettext("Delete this conversation? This cannot be undone."))) return;
    try { await api("DELETE", conversationPath()); location.assign(chatUrl); } catch (err) { setStatus(err.message, true); }
  });

  // The sidebar: pages of conversations ("Show more"), and search.
  let searchTimer = null;
  let listQuery = "";
  let listNext = app.dataset.conversationsNext || "";

  function conversationLink(c) {
    const link = el("a", "", (c.pinned ? "★ " : "") + (c.title || gettext("Untitled")));
    link.href = chatUrl + c.id + "/";
    link.dataset.id = String(c.id);
    if (c.id === conversationId) link.setAttribute("aria-current", "page");
    return link;
  }

  function showMoreButton() {
    const old = $("conversations-more");
    if (old) old.remove();
    if (!listNext) return;
    const more = button(gettext("Show more"), "secondary small", loadMoreConversations);
    more.id = "conversations-more";
    $("conversation-list").append(more);
  }

  async function loadMoreConversations() {
    const params = new URLSearchParams({ q: listQuery, cursor: listNext });
    try {
      const data = await api("GET", "/api/conversations/?" + params.toString());
      const list = $("conversation-list");
      data.results.forEach(function (c) { list.append(conversationLink(c)); });
      listNext = data.next || "";
      showMoreButton();
    } catch (err) { setStatus(err.message, true); }
  }

  on("conversation-search", "input", function (ev) {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async function () {
      listQuery = ev.target.value;
      const data = await api("GET", "/api/conversations/?q=" + encodeURIComponent(listQuery));
      const list = $("conversation-list");
      list.replaceChildren();
      if (!data.results.length) list.append(el("p", "muted", gettext("Nothing found.")));
      data.results.forEach(function (c) { list.append(conversationLink(c)); });
      listNext = data.next || "";
      showMoreButton();
    }, 250);
  });
  showMoreButton();

  // ---- composer -------------------------------------------------------------------------------
  $("composer").addEventListener("submit", function (ev) { ev.preventDefault(); send(); });
  input.addEventListener("keydown", function (ev) {
    // Korean IME: Enter that confirms a composition must never send.
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      send();
    }
  });
  stopButton.addEventListener("click", function () {
    active.forEach(function (id) { sendFrame({ type: "generation.stop", message_id: id }); });
  });
  $("new-chat-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    try { location.assign(chatUrl + (await createConversation()) + "/"); } catch (err) { setStatus(err.message, true); }
  });

  loadTemplates();
  if (conversationId !== null) {
    const carried = sessionStorage.getItem("exaone.pending." + conversationId);
    if (carried) {
      sessionStorage.removeItem("exaone.pending." + conversationId);
      pending = JSON.parse(carried);
    }
    loadMessages().then(connect).catch(function (err) { setStatus(err.message, true); });
  }
})();
