"use strict";
// The chat page: renders messages, sends them over the websocket and applies streamed deltas.
// Every piece of text goes through textContent: nothing from users or models is parsed as HTML.
(function () {
  const app = document.getElementById("chat-app");
  if (!app) return;
  const gettext = window.gettext || function (s) { return s; };
  const interpolate = window.interpolate || function (fmt, obj) { return fmt.replace(/%\((\w+)\)s/g, function (_, k) { return obj[k]; }); };
  const messagesEl = document.getElementById("messages");
  const statusEl = document.getElementById("status-line");
  const input = document.getElementById("composer-input");
  const composer = document.getElementById("composer");
  const stopButton = document.getElementById("stop-button");
  const modelSelect = document.getElementById("model-select");
  const chatUrl = app.dataset.chatUrl;

  let conversationId = app.dataset.conversationId ? Number(app.dataset.conversationId) : null;
  let socket = null;
  let retries = 0;
  let pendingSend = null;
  const lastSeq = new Map();   // message id -> last applied sequence number
  const nodes = new Map();     // message id -> element
  const active = new Set();    // assistant messages still being written

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", !!isError);
  }

  function usageLine(message) {
    const parts = [];
    const u = message.usage || {};
    const tm = message.timings || {};
    if (u.completion_tokens != null) parts.push(interpolate(gettext("%(n)s tokens"), { n: u.completion_tokens }, true));
    if (tm.tokens_per_s != null) parts.push(interpolate(gettext("%(r)s tokens/s"), { r: tm.tokens_per_s.toFixed(1) }, true));
    if (tm.ttft_ms != null) parts.push(interpolate(gettext("first token %(ms)s ms"), { ms: Math.round(tm.ttft_ms) }, true));
    if (message.model) parts.push(message.model);
    return parts.join(" · ");
  }

  function statusLabel(status) {
    return {
      queued: gettext("Waiting for the model…"),
      streaming: gettext("Writing…"),
      stopped: gettext("Stopped"),
      failed: gettext("Failed"),
      done: "",
    }[status] || "";
  }

  function ensureNode(message) {
    let node = nodes.get(message.id);
    if (!node) {
      const empty = messagesEl.querySelector(".empty-state");
      if (empty) empty.remove();
      node = document.createElement("article");
      node.className = "message " + message.role;
      node.dataset.messageId = String(message.id);
      const body = document.createElement("div");
      body.className = "body";
      const meta = document.createElement("div");
      meta.className = "meta";
      node.append(body, meta);
      messagesEl.append(node);
      nodes.set(message.id, node);
    }
    return node;
  }

  function render(message) {
    const node = ensureNode(message);
    node.dataset.status = message.status;
    node.querySelector(".body").textContent = message.content;
    const meta = node.querySelector(".meta");
    const label = statusLabel(message.status);
    meta.textContent = [label, message.error, message.role === "assistant" && message.status !== "queued" ? usageLine(message) : ""]
      .filter(Boolean).join(" — ");
    if (message.status === "queued" || message.status === "streaming") active.add(message.id);
    else active.delete(message.id);
    stopButton.hidden = active.size === 0;
    scrollDown();
  }

  function appendDelta(event) {
    const seen = lastSeq.get(event.message_id) || 0;
    if (event.seq <= seen) return;            // already in the snapshot: never doubled
    lastSeq.set(event.message_id, event.seq);
    const node = nodes.get(event.message_id);
    if (!node) return;
    node.dataset.status = "streaming";
    node.querySelector(".body").textContent += event.text;
    node.querySelector(".meta").textContent = statusLabel("streaming");
    active.add(event.message_id);
    stopButton.hidden = false;
    scrollDown();
  }

  function scrollDown() {
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  function onEvent(event) {
    switch (event.type) {
      case "message.created":
        render(event.message);
        break;
      case "message.snapshot":
        lastSeq.set(event.message.id, event.seq);
        render(event.message);
        break;
      case "message.started":
        setStatus("");
        break;
      case "message.delta":
        appendDelta(event);
        break;
      case "message.done":
        lastSeq.set(event.message_id, event.seq);
        render(event.message);
        break;
      case "error":
        setStatus(event.message, true);
        break;
      case "pong":
        break;
      default:
        break;
    }
  }

  async function loadMessages() {
    const data = await window.exaone.api("GET", "/api/conversations/" + conversationId + "/messages/");
    data.results.forEach(render);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/chat/" + conversationId + "/");
    socket.addEventListener("open", function () {
      retries = 0;
      setStatus("");
      if (pendingSend !== null) {
        socket.send(JSON.stringify({ type: "message.send", content: pendingSend }));
        pendingSend = null;
      }
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

  async function createConversation() {
    const model = modelSelect && modelSelect.value ? modelSelect.value : "";
    const conversation = await window.exaone.api("POST", "/api/conversations/", { model: model });
    return conversation.id;
  }

  async function send() {
    const content = input.value;
    if (!content.trim()) {
      setStatus(gettext("Type a message first."), true);
      return;
    }
    input.value = "";
    setStatus("");
    if (conversationId === null) {
      try {
        conversationId = await createConversation();
      } catch (err) {
        input.value = content;
        setStatus(err.message, true);
        return;
      }
      history.pushState({}, "", chatUrl + conversationId + "/");
      pendingSend = content;
      connect();
      return;
    }
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "message.send", content: content }));
    } else {
      pendingSend = content;
    }
  }

  composer.addEventListener("submit", function (ev) {
    ev.preventDefault();
    send();
  });

  input.addEventListener("keydown", function (ev) {
    // Korean IME: Enter that confirms a composition must never send.
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      send();
    }
  });

  stopButton.addEventListener("click", function () {
    active.forEach(function (id) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "generation.stop", message_id: id }));
      }
    });
  });

  document.getElementById("new-chat-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    try {
      const id = await createConversation();
      location.assign(chatUrl + id + "/");
    } catch (err) {
      setStatus(err.message, true);
    }
  });

  if (conversationId !== null) {
    loadMessages().then(connect).catch(function (err) { setStatus(err.message, true); });
  }
})();
